"""Strict query parameters for the integrator APIs (REST and FHIR).

An integration that sends a parameter we do not support must not get an answer that
silently ignores it: `?identifier=…` that is not applied returns everyone, and an
integrator acting on that writes into the wrong patient's record. So an unknown
parameter is refused (400, naming it) unless the client opts in with
`Prefer: handling=lenient` (RFC 7240, as FHIR defines it); then it is ignored, the
answer carries `Preference-Applied: handling=lenient`, and the links in the answer show
only the parameters that were applied.

Text that cannot be stored or compared safely never reaches PostgreSQL: NUL (which a
text column cannot hold), other C0 control characters except tab, line feed and carriage
return, and lone UTF-16 surrogates (which cannot be encoded as UTF-8) are refused. Numbers
are ASCII digits only (`int()` also takes '١٢' and `isdigit()` takes '²') and must fit a
bigint.
"""

import re
from collections.abc import Iterable

from django.core.validators import RegexValidator
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions

MAX_ID = 2**63 - 1

# NUL, the other C0 controls except \t \n \r, DEL, and lone surrogates.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_ASCII_INT = re.compile(r"[0-9]{1,19}\Z", re.ASCII)

# The same rule as a regular expression that Python, JSON Schema (ECMA-262) and the
# usual validators read alike, for serializers to document in the OpenAPI schema. (Lone
# surrogates cannot be written in every dialect; `check_text` refuses them too.)
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"


def text_validator():
    """A validator for a serializer's text field: `check_text`'s rule, and the field's
    OpenAPI schema gets it as its `pattern`."""
    message = gettext_lazy("Remove control characters (such as NUL) from this value.")
    return RegexValidator(TEXT_PATTERN, message)


class UnknownParameters(exceptions.ValidationError):
    """400: the request names query parameters this endpoint does not support."""

    default_code = "unknown_parameter"

    def __init__(self, names: Iterable[str]):
        self.names = sorted(names)
        message = _("This parameter is not supported here.")
        super().__init__({name: [message] for name in self.names})


# --- Prefer: handling ------------------------------------------------------------------


def prefers_lenient(request) -> bool:
    """Whether the client sent `Prefer: handling=lenient` (RFC 7240; the last one wins)."""
    handling = ""
    for header in _header_values(request, "Prefer"):
        for preference in header.split(","):
            name, _sep, value = preference.split(";")[0].partition("=")
            if name.strip().lower() == "handling":
                handling = value.strip().strip('"').lower()
    return handling == "lenient"


def _header_values(request, name):
    headers = getattr(request, "headers", None)
    value = headers.get(name, "") if headers is not None else ""
    return [value] if value else []


def mark_lenient(response) -> None:
    """Tell the client its `handling=lenient` preference was applied (RFC 7240)."""
    response["Preference-Applied"] = "handling=lenient"


# --- query parameters --------------------------------------------------------------------


def applied_params(query: QueryDict, supported: Iterable[str], *, lenient: bool) -> QueryDict:
    """The query parameters to apply: every one of them must be in `supported`, or the
    request is refused with UnknownParameters naming the others (unless `lenient`, then
    they are dropped). Each applied value is checked with `check_text`."""
    supported = set(supported)
    unknown = [name for name in query if name not in supported]
    if unknown and not lenient:
        raise UnknownParameters(unknown)
    applied = QueryDict(mutable=True)
    for name, values in query.lists():
        if name in supported:
            for value in values:
                check_text(value, name)
            applied.setlist(name, values)
    return applied


def check_text(value: str, name: str) -> str:
    """`value`, or 400 naming `name` if it holds a character that must not be stored."""
    if isinstance(value, str) and _REFUSED.search(value):
        raise exceptions.ValidationError(
            {name: [_("Remove control characters (such as NUL) from this value.")]}
        )
    return value


def check_tree(data, name: str = "") -> None:
    """`check_text` on every key and string in parsed JSON, without recursion."""
    stack = [(name, data)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            check_text(item, path or "non_field_errors")
        elif isinstance(item, dict):
            for key, value in item.items():
                check_text(key, path or "non_field_errors")
                stack.append((f"{path}.{key}" if path else str(key), value))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(item))


def parse_id(text: str, name: str) -> int:
    """A row id from a query parameter: ASCII digits, 1 to 2**63-1; else 400 naming it."""
    if not isinstance(text, str) or not _ASCII_INT.match(text) or not 0 < int(text) <= MAX_ID:
        raise exceptions.ValidationError({name: [_("Enter a whole number (an id).")]})
    return int(text)


def fits_id(value) -> bool:
    """Whether a path id (already digits) can be a row id at all; a larger one is a 404."""
    return isinstance(value, int) and 0 < value <= MAX_ID
