"""FHIR search parameters, strictly: each resource type declares the parameters it
supports (`SearchSpec`, in queries.SEARCHES), and a request is parsed against that
declaration before anything is loaded.

Strict by default (FHIR's `Prefer: handling=strict`; naravard.strict for both APIs): an
unknown parameter, a modifier (`name:exact`, `:missing`, …), a chained parameter
(`patient.identifier`) or a bad value is a 400 OperationOutcome naming the parameter,
because a filter that is silently dropped answers "everyone". `Prefer: handling=lenient`
ignores what is not supported (bad values of supported parameters are still refused) and
says so in an OperationOutcome entry.

The parsed search keeps, in order, the parameters it applied, normalised (`patient=7` →
`patient=Patient/7`): the Bundle's self and paging links are built from those, never from
the raw request. Identifier values are sensitive (a personnummer): see `SENSITIVE`.

The CapabilityStatement is generated from the same declarations (`capability`).
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions

from naravard.paging import decode_cursor, encode_cursor
from naravard.strict import check_text

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_VALUE_LENGTH = 256

# Parameters whose values are identity numbers (personnummer), by resource type: a POST
# _search keeps them out of every URL the Bundle links to (views.search_bundle).
SENSITIVE = {"Patient": frozenset({"identifier"})}

_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: "²".isdigit() is True, int("²") fails.


class SearchError(exceptions.ValidationError):
    """One or more search parameters refused: {parameter: [messages]}."""


def refuse(name, message):
    return SearchError({shown(name): [message]})


def shown(name: str) -> str:
    """A parameter name as we may echo it: control characters escaped, length bounded."""
    clean = "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cs") else c for c in name
    )
    return clean[:80]


# --- value parsers: raw text -> (value used by the search, normalised text for links) ------


def digits(name: str, raw: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise refuse(name, _("Give an id of digits only."))
    return int(raw)


def reference(kind: str):
    def parse(name, raw):
        if not _DIGITS.fullmatch(raw.removeprefix(f"{kind}/")):
            raise refuse(name, _("Give a %(kind)s id, as 123 or %(kind)s/123.") % {"kind": kind})
        pk = int(raw.removeprefix(f"{kind}/"))
        return pk, f"{kind}/{pk}"

    return parse


def ids(name, raw):
    """`_id=1,2`: one id or several (either of them)."""
    values = [digits(name, part) for part in raw.split(",")]
    return values, ",".join(str(v) for v in values)


def codes(allowed: tuple[str, ...], system: str):
    """A token from one code system, `code` or `system|code`, several joined by commas."""

    def parse(name, raw):
        wanted = []
        for part in raw.split(","):
            given_system, bar, code = part.rpartition("|")
            if (bar and given_system != system) or code not in allowed:
                raise refuse(
                    name, _("Use one or more of: %(codes)s.") % {"codes": ", ".join(allowed)}
                )
            wanted.append(code)
        return wanted, ",".join(wanted)

    return parse


_IDENTIFIER_VALUE = re.compile(r"[A-Za-z0-9\-.:/]{1,64}")


def identifier(name, raw):
    """`identifier=[system|]value`: (system or None when not given, value)."""
    system, bar, value = raw.rpartition("|")
    if not _IDENTIFIER_VALUE.fullmatch(value) or len(system) > 200:
        raise refuse(
            name, _("Give the identifier as system|value, the value in digits and letters.")
        )
    return (system if bar else None, value), raw


def _moment(value: str):
    """A FHIR date or dateTime as the [start, end) range its precision covers, or None."""
    if not value.isascii():
        return None
    try:
        if len(value) == 10:
            start = timezone.make_aware(
                datetime.combine(datetime.fromisoformat(value).date(), time.min)
            )
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return None
        return moment, moment + timedelta(seconds=1)
    except (ValueError, OverflowError):
        return None


def moment_range(name, raw):
    """A date with a prefix (eq, ge, gt, le, lt; eq when none)."""
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", raw)
    moment = _moment(value)
    if moment is None:
        raise refuse(name, _("Use a date (2025-03-01) or a time with a zone."))
    return (prefix, *moment), f"{prefix}{value}"


def date_condition(ranges, field_name) -> Q:
    """The parsed values of a date parameter (all must hold) as a condition on a field."""
    condition = Q()
    for prefix, start, end in ranges:
        condition &= {
            "ge": Q(**{f"{field_name}__gte": start}),
            "gt": Q(**{f"{field_name}__gte": end}),
            "le": Q(**{f"{field_name}__lt": end}),
            "lt": Q(**{f"{field_name}__lt": start}),
            "eq": Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end}),
        }[prefix]
    return condition


# --- the declaration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A supported search parameter: its FHIR type, how to read a value, whether it may be
    repeated (the repeats must all hold: FHIR's AND)."""

    name: str
    type: str
    parse: Callable
    documentation: str = ""
    repeats: bool = False


@dataclass(frozen=True)
class SearchSpec:
    """What one resource type's search supports; `run(organisation, query) -> Found`.
    `sorts` are the `_sort` values, the first being the default order."""

    run: Callable
    params: tuple[Param, ...]
    sorts: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    def param(self, name) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def capability(self) -> dict:
        """This search in the CapabilityStatement: exactly what `parse_search` accepts."""
        params = [
            {"name": p.name, "type": p.type, "documentation": str(p.documentation)}
            for p in self.params
        ]
        sort = (
            _("Sort with _sort=%(sorts)s.") % {"sorts": ",".join(self.sorts)} if self.sorts else ""
        )
        return {
            "searchParam": params,
            "searchInclude": list(self.includes),
            "documentation": " ".join(
                [
                    _(
                        "Pages of at most %(max)d with _count (default %(default)d); "
                        "_total=none leaves out the total."
                    )
                    % {"max": MAX_COUNT, "default": DEFAULT_COUNT},
                    sort,
                ]
            ).strip(),
        }


# Result parameters every search accepts, besides its own.
CONTROL = ("_count", "_sort", "_total", "_include", "_format", "_cursor", "_before")
# `_format`: FHIR clients send it; every answer is JSON, so only JSON may be asked for.
JSON_FORMATS = ("json", "application/json", "application/fhir+json")


@dataclass
class SearchQuery:
    """A parsed search: values by parameter name, and what was applied and ignored."""

    values: dict = field(default_factory=dict)
    applied: list = field(default_factory=list)  # [(name, normalised text)], in order
    ignored: list = field(default_factory=list)  # names, as shown
    count: int = DEFAULT_COUNT
    sort: str = ""
    total: bool = True
    includes: tuple = ()
    after: str | None = None
    before: str | None = None

    def get(self, name, default=None):
        return self.values.get(name, default)

    def __contains__(self, name):
        return name in self.values


def parse_search(spec: SearchSpec, items, *, lenient: bool = False) -> SearchQuery:
    """Parse `items` ([(name, value)], query string and form body together) against `spec`.
    Raises SearchError naming every parameter refused."""
    query = SearchQuery()
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()

    def fail(name, message, *, ignorable=False):
        if ignorable and lenient:
            if shown(name) not in query.ignored:
                query.ignored.append(shown(name))
        else:
            errors.setdefault(shown(name), []).append(message)

    for name, raw in items:
        try:
            check_text(name, "_")
            check_text(raw, shown(name))
        except exceptions.ValidationError:
            fail(name, _("Remove control characters (such as NUL) from this value."))
            continue
        if len(raw) > MAX_VALUE_LENGTH:
            fail(name, _("This value is too long."))
            continue
        base, colon, modifier = name.partition(":")
        param = spec.param(base)
        if "." in base and param is None and base not in CONTROL:
            fail(
                name,
                _(
                    "Chained parameters are not supported: "
                    "search the referenced resource, then by its id."
                ),
                ignorable=True,
            )
            continue
        if param is None and base not in CONTROL:
            fail(
                name,
                _("This search parameter is not supported. Supported: %(names)s.")
                % {"names": ", ".join([p.name for p in spec.params] + list(CONTROL))},
                ignorable=True,
            )
            continue
        if colon:
            fail(
                name,
                _("Modifiers (:%(modifier)s) are not supported on this parameter.")
                % {"modifier": shown(modifier)},
                ignorable=True,
            )
            continue
        if raw == "":
            fail(name, _("Give a value."), ignorable=True)
            continue
        repeats = param.repeats if param else base == "_include"
        if base in seen and not repeats:
            fail(
                name,
                _(
                    "Give this parameter once; to ask for either of several values, "
                    "separate them with commas."
                ),
            )
            continue
        seen.add(base)
        try:
            if param is not None:
                value, text = param.parse(base, raw)
                if param.repeats:
                    query.values.setdefault(base, []).append(value)
                else:
                    query.values[base] = value
                query.applied.append((base, text))
            else:
                _control(spec, query, base, raw, fail)
        except SearchError as exc:
            for key, messages in exc.detail.items():
                errors.setdefault(key, []).extend(str(m) for m in messages)
    for name in spec.required:
        if name not in query.values and name not in errors:
            errors[name] = [_("This search needs the parameter %(name)s.") % {"name": name}]
    if query.after and query.before:
        errors["_before"] = [_("Give _cursor or _before, not both.")]
    if errors:
        raise SearchError(errors)
    if query.sort and query.sort != spec.sorts[0]:
        query.applied.append(("_sort", query.sort))
    query.sort = query.sort or (spec.sorts[0] if spec.sorts else "")
    if query.includes:
        query.applied += [("_include", i) for i in query.includes]
    if not query.total:
        query.applied.append(("_total", "none"))
    query.applied.append(("_count", str(query.count)))
    return query


def _control(spec, query, name, raw, fail):
    if name == "_count":
        if not _DIGITS.fullmatch(raw) or not 0 <= int(raw) <= MAX_COUNT:
            raise refuse(
                name, _("Ask for between 0 and %(max)d results per page.") % {"max": MAX_COUNT}
            )
        query.count = int(raw)
    elif name == "_sort":
        if raw not in spec.sorts:
            if not spec.sorts:
                fail(name, _("These results cannot be sorted."), ignorable=True)
                return
            raise refuse(name, _("Sort by one of: %(sorts)s.") % {"sorts": ", ".join(spec.sorts)})
        query.sort = raw
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise refuse(name, _("Use none, estimate or accurate."))
        query.total = raw != "none"
    elif name == "_include":
        if raw not in spec.includes:
            fail(
                name,
                _("Include one of: %(includes)s.") % {"includes": ", ".join(spec.includes)}
                if spec.includes
                else _("Nothing can be included in this search."),
                ignorable=True,
            )
            return
        if raw not in query.includes:
            query.includes += (raw,)
    elif name == "_format":
        if raw not in JSON_FORMATS:
            raise refuse(name, _("Only JSON is served: use _format=json."))
    elif name == "_cursor":
        query.after = raw
    elif name == "_before":
        query.before = raw


# --- pages -----------------------------------------------------------------------------------


@dataclass
class Page:
    rows: list
    next_cursor: str | None = None
    previous_cursor: str | None = None


def _decode(text, kinds, name):
    try:
        return decode_cursor(text, kinds, name)
    except exceptions.ValidationError as exc:
        raise SearchError(exc.detail) from exc


def _beyond(fields, values, lookup) -> Q:
    """Rows past `values` in the order of `fields` (lookup "gt" or "lt"): a row comparison."""
    condition = Q(pk__in=[])
    for i, name in enumerate(fields):
        equal = {fields[j]: values[j] for j in range(i)}
        condition |= Q(**equal, **{f"{name}__{lookup}": values[i]})
    return condition


def keyset_page(queryset, fields, kinds, query: SearchQuery, descending=False) -> Page:
    """One page in the order of `fields` (all ascending, or all descending), after
    `query.after` or before `query.before`: cursors that never skip or repeat a row when
    rows are added between two requests."""
    forward, backward = ("lt", "gt") if descending else ("gt", "lt")
    order = [f"-{f}" if descending else f for f in fields]
    reverse = [f if descending else f"-{f}" for f in fields]
    size = query.count
    key = lambda row: [_attr(row, f) for f in fields]  # noqa: E731
    if query.before:
        values = _decode(query.before, kinds, "_before")
        rows = list(
            queryset.filter(_beyond(fields, values, backward)).order_by(*reverse)[: size + 1]
        )
        more_before = len(rows) > size
        rows = rows[:size][::-1]
        return Page(
            rows,
            next_cursor=encode_cursor(key(rows[-1])) if rows else None,
            previous_cursor=encode_cursor(key(rows[0])) if rows and more_before else None,
        )
    if query.after:
        queryset = queryset.filter(_beyond(fields, _decode(query.after, kinds, "_cursor"), forward))
    rows = list(queryset.order_by(*order)[: size + 1]) if size else []
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        next_cursor=encode_cursor(key(rows[-1])) if more else None,
        previous_cursor=encode_cursor(key(rows[0])) if rows and query.after else None,
    )


def list_page(items, key, query: SearchQuery) -> Page:
    """The same paging over a list already loaded (a patient's goals, tasks or teams),
    `key(item)` being a list of ints in the list's order."""
    items = sorted(items, key=key)
    size = query.count
    if query.before:
        values = _decode(query.before, ("int", "int"), "_before")
        earlier = [i for i in items if key(i) < values]
        rows = earlier[-size:] if size else []
        return Page(
            rows,
            next_cursor=encode_cursor(key(rows[-1])) if rows else None,
            previous_cursor=encode_cursor(key(rows[0])) if len(earlier) > size and rows else None,
        )
    if query.after:
        values = _decode(query.after, ("int", "int"), "_cursor")
        items = [i for i in items if key(i) > values]
    rows = items[:size]
    return Page(
        rows,
        next_cursor=encode_cursor(key(rows[-1])) if len(items) > size and rows else None,
        previous_cursor=encode_cursor(key(rows[0])) if rows and query.after else None,
    )


def _attr(obj, dotted):
    for part in dotted.split("__"):
        obj = getattr(obj, part)
    return obj
