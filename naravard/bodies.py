"""Request bodies for the integrator APIs (REST and FHIR): JSON read safely.

- At most MAX_BODY_BYTES, whatever Content-Length claims; larger is 413 (BodyTooLarge).
- A body sent with `Transfer-Encoding: chunked` (no Content-Length) is read, not taken as
  empty: Django reads `wsgi.input` only up to CONTENT_LENGTH, so `read_chunked_bodies`
  (wrapped around the WSGI application in naravard/wsgi.py) reads such a body, when the
  server says the stream ends (`wsgi.input_terminated`, as gunicorn does), and passes it
  on with its length.
- Nesting deeper than MAX_DEPTH, or deep enough to exhaust the parser's recursion, is 400.
- NUL, other control characters and lone surrogates in any key or string are 400 naming
  the field (naravard.strict.check_text): they never reach PostgreSQL.
- NaN and Infinity are not JSON: 400.
"""

import io
import json

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from naravard.strict import check_tree

# A plan with every part filled in is a few kilobytes; anything this big is a mistake.
MAX_BODY_BYTES = 64 * 1024
# No body the APIs take is nested more than a few levels.
MAX_DEPTH = 32


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "body_too_large"


def too_large() -> BodyTooLarge:
    return BodyTooLarge(_("Send at most %(limit)d kilobytes.") % {"limit": MAX_BODY_BYTES // 1024})


def _not_finite(constant):
    raise ValueError(f"{constant} is not JSON")


def _depth_exceeds(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            values = item.values() if isinstance(item, dict) else item
            stack.extend((value, depth + 1) for value in values)
    return False


def parse_json(raw: bytes, encoding: str = "utf-8"):
    """Parsed JSON of a request body, or ParseError / ValidationError (400)."""
    try:
        data = json.loads(raw.decode(encoding), parse_constant=_not_finite)
    except RecursionError as exc:
        raise exceptions.ParseError(_("The JSON is nested too deeply.")) from exc
    except (ValueError, UnicodeError, LookupError) as exc:
        raise exceptions.ParseError(_("The body is not valid JSON.")) from exc
    if _depth_exceeds(data, MAX_DEPTH):
        raise exceptions.ParseError(_("The JSON is nested too deeply."))
    check_tree(data)
    return data


class JSONBodyParser(JSONParser):
    """JSON only, at most MAX_BODY_BYTES (413 above), safe against deep nesting and
    characters PostgreSQL cannot store."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise too_large()
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        return parse_json(raw, encoding)


def refuse_large_body(request) -> None:
    """Refuse (413) before reading when the client says the body is too large."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise too_large()


# --- chunked bodies at the WSGI door ------------------------------------------------------


def read_chunked_bodies(app, limit: int | None = None):
    """The WSGI `app`, with a chunked request body (no Content-Length) read up front and
    passed on with its length, so that Django and DRF see it. At most `limit` bytes (by
    default DATA_UPLOAD_MAX_MEMORY_SIZE) plus one are read: a longer body arrives
    with a length above every limit and is refused there (413 in the APIs)."""

    def wrapped(environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            most = limit if limit is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
            most = max(most, MAX_BODY_BYTES)
            body = environ["wsgi.input"].read(most + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return wrapped
