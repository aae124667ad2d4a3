"""Shared plumbing for the integrator APIs (REST under /api/v1/, FHIR under /fhir/R4/).

Authentication (OAuth2 client credentials resolved to an ApiClient), scopes, per-client
rate limits, a size-limited JSON parser, RFC 9457 problem details, keyset cursors and
the contract ETag. The views themselves live in `contracts/api.py` and `contracts/fhir.py`.
"""

import base64
import binascii
import hashlib
import io
import json
import logging
import operator
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property, reduce

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import Q
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider import views as oauth_views
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model, get_application_model
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView, set_rollback

from actors.models import ApiClient, Organisation
from naravard.dbutil import PreparedStatement

log = logging.getLogger(__name__)

# A plan with every part filled in is a few kilobytes; anything this big is a mistake.
MAX_BODY_BYTES = 64 * 1024


# --- who is calling ---------------------------------------------------------------


class Integrator:
    """The caller behind a client-credentials token: one ApiClient of one organisation.

    Stands in for `request.user`, which has no person behind it here."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = None

    def __init__(self, client: ApiClient):
        self.client = client

    def __str__(self):
        return self.client.name

    @property
    def organisation(self):
        return self.client.organisation

    @cached_property
    def actor(self):
        # Imported here: contracts imports this module's neighbours, not the other way.
        from contracts.history import Actor

        return Actor.integration(self.client.organisation, label=self.client.name)


@dataclass(frozen=True)
class _Share:
    """One model's columns in the token lookup's row, and how the ORM converts each."""

    model: type
    attnames: list
    converters: list  # per column: (converters, column expression)

    @classmethod
    def of(cls, model):
        fields = model._meta.concrete_fields
        converters = []
        for model_field in fields:
            column = model_field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((found, column))
        return cls(model, [f.attname for f in fields], converters)

    def instance(self, values):
        """A model instance from its columns, converted as the ORM converts them (JSON,
        and on SQLite dates and times)."""
        converted = []
        for value, (found, column) in zip(values, self.converters, strict=True):
            for convert in found:
                value = convert(value, column, connection)
            converted.append(value)
        return self.model.from_db("default", self.attnames, converted)


@cache
def _token_lookup() -> tuple[PreparedStatement, list[_Share]]:
    """The statement that loads a bearer token with its application, ApiClient and
    organisation, and each model's share of the row (built once, from the models)."""
    token_model, application_model = get_access_token_model(), get_application_model()
    joined = [(token_model, "t"), (application_model, "a"), (ApiClient, "c"), (Organisation, "o")]
    shares = [_Share.of(model) for model, _alias in joined]
    columns = ", ".join(
        f'{alias}."{f.column}"' for model, alias in joined for f in model._meta.concrete_fields
    )
    # Table and column names come from the models; the checksum is a parameter.
    sql = (
        f"SELECT {columns} FROM {token_model._meta.db_table} t "  # noqa: S608
        f"LEFT JOIN {application_model._meta.db_table} a ON a.id = t.application_id "
        f"LEFT JOIN {ApiClient._meta.db_table} c ON c.application_id = a.id "
        f"LEFT JOIN {Organisation._meta.db_table} o ON o.id = c.organisation_id "
        "WHERE t.token_checksum = %(checksum)s"
    )
    return PreparedStatement(sql), shares


def load_token(token: str):
    """(access token, application, ApiClient, organisation) for a bearer token, or None.

    As django-oauth-toolkit looks tokens up (by the SHA-256 checksum it stores: tokens are
    hashed at rest), but in one statement with the rows every API request needs; built
    with `Model.from_db`, not the ORM's query machinery, which cost five times the query."""
    statement, shares = _token_lookup()
    row = statement.fetchone({"checksum": hashlib.sha256(token.encode("utf-8")).hexdigest()})
    if row is None:
        return None
    objects, start = [], 0
    for share in shares:
        values = row[start : start + len(share.attnames)]
        start += len(share.attnames)
        objects.append(None if values[0] is None else share.instance(values))
    return tuple(objects)


def bearer_token(request) -> str | None:
    """The token of an `Authorization: Bearer` header. A token anywhere else (the URL, a
    form field) is not looked at: URLs end up in logs (OAuth 2.0 Security BCP, RFC 9700)."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class ClientCredentialsAuthentication(OAuth2Authentication):
    """A bearer token from the client-credentials grant, resolved to an active ApiClient.

    Checks what django-oauth-toolkit's resource server checks (the token exists, has not
    expired, is meant for this resource, its application is usable), then that it belongs
    to an active integration. Scopes are checked per method by HasClientScope."""

    def authenticate(self, request):
        token = bearer_token(request)
        loaded = load_token(token) if token else None
        if loaded is None or loaded[0].is_expired():
            request.oauth2_error = {}
            return None
        access_token, application, client, organisation = loaded
        if access_token.resource and not access_token.allows_audience(
            request.build_absolute_uri(request.path)
        ):
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": _("The access token is not valid for this resource."),
            }
            return None
        if application is None or not application.is_usable(request):
            request.oauth2_error = {"error": "invalid_token"}
            return None
        if client is None or not client.active:
            raise exceptions.AuthenticationFailed(
                _("This access token does not belong to an active integration.")
            )
        # Wire the rows together as select_related would (no further queries).
        access_token.application = application
        client.application, client.organisation = application, organisation
        return Integrator(client), access_token


class HasClientScope(BasePermission):
    """Reads need the `read` scope, writes the `write` scope."""

    message = gettext_lazy("This access token does not have the scope for this request.")

    def has_permission(self, request, view):
        if not isinstance(request.user, Integrator):
            return False
        scope = "read" if request.method in SAFE_METHODS else "write"
        return request.auth.allow_scopes([scope])


class ClientRateThrottle(SimpleRateThrottle):
    """Rate limit per API client (reads and writes counted apart): a counter per fixed
    window, kept in the cache.

    DRF's default keeps every request's time in one cached list, read and written back
    whole on each request (up to 1 200 entries at the read limit); a counter is one small
    increment. The price: a client can spend up to twice its rate across the edge of two
    windows, which a limit against runaway integrations can bear."""

    scope = "api_read"

    def get_rate(self):
        # Read on every request so that the settings (and tests) can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if not isinstance(request.user, Integrator):
            return None
        return f"throttle_{self.scope}_{request.user.client.pk}"

    def allow_request(self, request, view):
        self.scope = "api_read" if request.method in SAFE_METHODS else "api_write"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        key = self.get_cache_key(request, view)
        if self.rate is None or key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        try:
            count = self._count(f"{key}_{window}")
        except Exception:
            # With Redis down the API keeps working, unthrottled, rather than failing.
            log.warning("rate limit cache unavailable; request let through", exc_info=True)
            return True
        return count <= self.num_requests

    def _count(self, key) -> int:
        try:
            return self.cache.incr(key)
        except ValueError:  # the window's first request
            if self.cache.add(key, 1, self.duration + 1):
                return 1
            return self.cache.incr(key)

    def wait(self):
        """Seconds until the current window ends (Retry-After)."""
        return max(1.0, self.duration - self.now % self.duration)


# --- request bodies --------------------------------------------------------------


class BodyTooLarge(exceptions.ParseError):
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "body_too_large"


class LimitedJSONParser(JSONParser):
    """JSON only, at most MAX_BODY_BYTES, whatever Content-Length claims."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(data) > MAX_BODY_BYTES:
            raise BodyTooLarge(
                _("Send at most %(limit)d kilobytes.") % {"limit": MAX_BODY_BYTES // 1024}
            )
        return super().parse(io.BytesIO(data), media_type, parser_context)


def refuse_large_body(request) -> None:
    """Refuse before reading when the client says the body is too large."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise BodyTooLarge(
            _("Send at most %(limit)d kilobytes.") % {"limit": MAX_BODY_BYTES // 1024}
        )


# --- versions and ETags ------------------------------------------------------------


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = gettext_lazy(
        "Send an If-Match header with the ETag you last read, so that no change is lost."
    )
    default_code = "precondition_required"


_ETAG = re.compile(r'^\s*(?:W/)?"contract-([0-9]{1,18})-v([0-9]{1,9})"\s*$')


def contract_etag(contract) -> str:
    """The ETag of everything under one contract: its id and version."""
    return f'"contract-{contract.pk}-v{contract.version}"'


def expected_version(request, contract) -> int:
    """The contract version the If-Match header names, for the service's version check.

    Missing → 428. A tag for another contract or an older version → the service's
    StaleVersion, answered with 412 and the current ETag."""
    from contracts.services import StaleVersion

    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        # "*" would overwrite whatever is there now: exactly the lost update to prevent.
        raise PreconditionRequired()
    versions = set()
    for tag in header.split(","):
        match = _ETAG.match(tag)
        if match and int(match[1]) == contract.pk:
            versions.add(int(match[2]))
    if contract.version in versions:
        return contract.version
    raise StaleVersion(contract, min(versions) if versions else None)


# --- problem details (RFC 9457) ------------------------------------------------------


@dataclass
class Problem:
    status: int
    title: str
    detail: str = ""
    code: str = ""
    errors: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def as_json(self, instance: str = "") -> dict:
        body = {
            "type": f"/api/v1/problems/{self.code}" if self.code else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def _titles():
    return {
        400: _("The request is not valid"),
        401: _("Sign in with an access token"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("This method is not allowed here"),
        406: _("This format is not available"),
        409: _("The plan is not in a state that allows this"),
        412: _("The plan has changed since you read it"),
        415: _("Send the body as JSON"),
        428: _("Say which version you are changing"),
        429: _("Too many requests"),
    }


def _flatten(detail, prefix="") -> dict:
    """DRF's nested error detail as {"field" or "field.0.sub": [messages]}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix or "non_field_errors": [str(d) for d in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def to_problem(exc) -> Problem | None:
    """The problem to answer `exc` with, or None for an unexpected error (a 500)."""
    from contracts.services import StaleVersion

    titles = _titles()
    if isinstance(exc, StaleVersion):
        contract = exc.contract
        return Problem(
            412,
            titles[412],
            _("Read the plan again (it is at version %(version)d) and make your change to that.")
            % {"version": contract.version},
            code="stale-version",
            extra={"current_version": contract.version, "etag": contract_etag(contract)},
            headers={"ETag": contract_etag(contract)},
        )
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = {name: [str(m) for m in msgs] for name, msgs in exc.message_dict.items()}
            return Problem(
                400,
                titles[400],
                _("Correct the fields listed in errors."),
                code="validation",
                errors=errors,
            )
        # The services raise plain messages for the plan's state, not for the input.
        return Problem(409, titles[409], " ".join(str(m) for m in exc.messages), code="conflict")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    code = exc.status_code
    title = titles.get(code, str(exc.default_detail))
    if isinstance(exc, exceptions.ValidationError):
        return Problem(
            400,
            title,
            _("Correct the fields listed in errors."),
            code="validation",
            errors=_flatten(exc.detail),
            headers=headers,
        )
    detail = exc.detail
    if isinstance(detail, dict | list):
        detail = " ".join(" ".join(v) for v in _flatten(detail).values())
    slug = {428: "precondition-required", 429: "rate-limited"}.get(code, "")
    if isinstance(exc, BodyTooLarge):
        slug = "body-too-large"
    return Problem(code, title, str(detail), code=slug, headers=headers)


def problem_details_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error as application/problem+json."""
    problem = to_problem(exc)
    if problem is None:
        return None
    set_rollback()
    request = context.get("request")
    response = Response(
        problem.as_json(request.path if request is not None else ""),
        status=problem.status,
        headers=problem.headers,
        content_type="application/problem+json",
    )
    return response


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


# --- the base view -----------------------------------------------------------------------


class IntegratorView(APIView):
    """Base for every integrator endpoint: OAuth2 client credentials, scopes, limits, JSON."""

    authentication_classes = [ClientCredentialsAuthentication]
    permission_classes = [HasClientScope]
    throttle_classes = [ClientRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            refuse_large_body(request)

    @property
    def integrator(self) -> Integrator:
        return self.request.user


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the authentication: OAuth2 client credentials."""

    target_class = "naravard.api.ClientCredentialsAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token/",
                    "scopes": {"read": "Read plans", "write": "Change plans"},
                }
            },
        }

    def get_security_requirement(self, auto_schema):
        scope = "read" if auto_schema.method in SAFE_METHODS else "write"
        return {self.name: [scope]}


def only_api_paths(endpoints):
    """drf-spectacular preprocessing hook: the OpenAPI schema covers /api/v1/ only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


# --- the OAuth2 endpoints integrators use ----------------------------------------------------

# Only the token endpoint (client credentials) and introspection: there is no
# authorisation-code flow, so no consent pages.
oauth_urls = (
    [
        path("token/", oauth_views.TokenView.as_view(), name="token"),
        path("introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
    ],
    "oauth2_provider",
)
