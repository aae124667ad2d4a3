"""Keyset cursors for the integrator APIs: opaque, stable under inserts, one index probe."""

import base64
import binascii
import json
import operator
from datetime import UTC, datetime
from functools import reduce

from django.db.models import Q
from django.utils.translation import gettext as _
from rest_framework import exceptions

# --- keyset cursors ------------------------------------------------------------------


def encode_cursor(values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, kinds: tuple[str, ...], name: str = "cursor") -> list:
    """The key values in a cursor; `kinds` says each one's type ("int", "datetime", "int?")."""
    invalid = exceptions.ValidationError(
        {name: [_("This cursor is not valid. Start again without it.")]}
    )
    try:
        padded = text + "=" * (-len(text) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise invalid from exc
    if not isinstance(values, list) or len(values) != len(kinds):
        raise invalid
    out = []
    for value, kind in zip(values, kinds, strict=True):
        if kind.endswith("?") and value is None:
            out.append(None)
        elif kind.startswith("int") and type(value) is int and 0 <= value < 2**63:
            out.append(value)
        elif kind == "datetime" and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError as exc:
                raise invalid from exc
            if moment.tzinfo is None:
                raise invalid
            try:
                # Near the ends of the calendar a time cannot be moved to UTC for the query.
                moment.astimezone(UTC)
            except OverflowError as exc:
                raise invalid from exc
            out.append(moment)
        else:
            raise invalid
    return out


def after_keys(fields: tuple[str, ...], values) -> Q:
    """Rows strictly after `values` in the ascending order of `fields` (a row comparison)."""
    branches = []
    for i, name in enumerate(fields):
        equal = {fields[j]: values[j] for j in range(i)}
        branches.append(Q(**equal, **{f"{name}__gt": values[i]}))
    return reduce(operator.or_, branches)


class KeysetPage:
    """One page of a keyset-ordered queryset, with the cursor to continue from.

    Integrators keep `next_cursor` and ask again later: unlike offsets, a cursor never
    skips or repeats a row when rows are added in between."""

    def __init__(self, queryset, fields, kinds, cursor, size):
        queryset = queryset.order_by(*fields)
        if cursor:
            queryset = queryset.filter(after_keys(fields, decode_cursor(cursor, kinds)))
        rows = list(queryset[: size + 1])
        self.has_more = len(rows) > size
        self.rows = rows[:size]
        last = self.rows[-1] if self.rows else None
        self.next_cursor = (
            encode_cursor([_attr(last, f) for f in fields]) if last is not None else cursor
        )


def _attr(obj, dotted):
    for part in dotted.split("__"):
        obj = getattr(obj, part)
    return obj
