"""OAuth2 glue for the integrator APIs (REST under /api/v1/, FHIR under /fhir/R4/).

A bearer token from client credentials resolved to the integration (ApiClient) and its
organisation, scopes, per-client rate limits, the OpenAPI description of the scheme, and
the token, revocation and introspection endpoints (docs/oauth.md).

A deactivated integration (ApiClient.active false) is refused at every door: the token
and revocation endpoints do not know its application (ApiClientValidator, so
`invalid_client`, 401), and every bearer token is checked against `active` on each use
(ClientCredentialsAuthentication for REST and FHIR, the introspection endpoint), so its
tokens stop working the moment the row changes, whoever changed it.
"""

import calendar
import hashlib
import logging
from dataclasses import dataclass
from functools import cache, cached_property

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider import views as oauth_views
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from actors.models import ApiClient, Organisation
from naravard.dbutil import PreparedStatement

log = logging.getLogger(__name__)


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
        """A model instance from its columns, converted as the ORM converts them (JSON
        columns, for one)."""
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
        # `reads_only`: a POST that only reads (FHIR's POST [type]/_search).
        reads = request.method in SAFE_METHODS or getattr(view, "reads_only", False)
        return request.auth.allow_scopes(["read" if reads else "write"])


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
        reads = request.method in SAFE_METHODS or getattr(view, "reads_only", False)
        self.scope = "api_read" if reads else "api_write"
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


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the authentication: OAuth2 client credentials."""

    target_class = "naravard.oauth.ClientCredentialsAuthentication"
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


# --- which scopes a client may have ---------------------------------------------------------

INTROSPECTION = "introspection"


class ClientScopes(SettingsScopes):
    """The scopes a client may ask the token endpoint for (OAUTH2_PROVIDER's
    SCOPES_BACKEND_CLASS): `read` and `write` for every integration; `introspection`
    only for one an operator allowed it (ApiClient.may_introspect, set by
    `manage.py allow_introspection`). Asking for more is refused (invalid_scope)."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        scopes = [scope for scope in super().get_available_scopes() if scope != INTROSPECTION]
        client = getattr(application, "api_client", None) if application is not None else None
        if client is not None and client.active and client.may_introspect:
            scopes.append(INTROSPECTION)
        return scopes


# --- which clients may authenticate -----------------------------------------------------------


class ApiClientValidator(OAuth2Validator):
    """django-oauth-toolkit's validator (OAUTH2_PROVIDER's OAUTH2_VALIDATOR_CLASS), for
    the applications of active integrations only.

    Every endpoint that authenticates a client (token, revocation) loads its application
    here first: an application of a deactivated integration, or of none, is treated as
    unknown, so its id and secret get `invalid_client` (401) and no token."""

    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is None:
            return None
        if not ApiClient.objects.filter(application_id=application.pk, active=True).exists():
            request.client = None
            return None
        return application


# --- the OAuth2 endpoints integrators use ----------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectTokenView(View):
    """Token introspection (RFC 7662) for an integration an operator allowed it, about its
    own organisation's tokens only.

    The caller sends its own bearer token, which must carry the `introspection` scope
    and belong to an active client that still may introspect (checked again now: the
    permission can be taken back while a token lives). A token of another organisation
    answers as an unknown one, `{"active": false}`: whether it exists is not this
    caller's business. Only POST: a token in a URL ends up in logs (RFC 9700).

    django-oauth-toolkit's own view also lets any client in by its id and secret alone,
    with no scope, and answers about every token; that view is not routed."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        caller = _introspecting_client(request)
        if caller is None:
            return JsonResponse(
                {"error": "invalid_token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not caller.may_introspect:
            return JsonResponse({"error": "insufficient_scope"}, status=403)
        value = request.POST.get("token")
        if not value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."},
                status=400,
            )
        loaded = load_token(value)
        if loaded is None:
            return JsonResponse({"active": False})
        token, application, client, _organisation = loaded
        if client is None or client.organisation_id != caller.organisation_id:
            return JsonResponse({"active": False})
        if not token.is_valid() or not client.active:
            return JsonResponse({"active": False})
        data = {
            "active": True,
            "scope": token.scope,
            "exp": int(calendar.timegm(token.expires.timetuple())),
            "client_id": application.client_id,
        }
        if token.resource:
            data["aud"] = token.resource
        return JsonResponse(data)


def _introspecting_client(request) -> ApiClient | None:
    """The active client whose unexpired bearer token, with the introspection scope,
    came with the request."""
    value = bearer_token(request)
    loaded = load_token(value) if value else None
    if loaded is None:
        return None
    token, application, client, organisation = loaded
    if token.is_expired() or application is None or client is None or not client.active:
        return None
    if not token.allow_scopes([INTROSPECTION]):
        return None
    client.organisation = organisation
    return client


class JSONContentType:
    """RFC 6749 5.2: an error from the token endpoint is application/json. oauthlib's
    early refusals (query parameters in the URL, a missing grant type) come without
    headers, so Django's text/html would be sent with the JSON."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        content_type = response.get("Content-Type", "")
        if response.content.startswith(b"{") and not content_type.startswith("application/json"):
            response["Content-Type"] = "application/json"
        return response


class TokenView(JSONContentType, oauth_views.TokenView):
    pass


class RevokeTokenView(JSONContentType, oauth_views.RevokeTokenView):
    pass


# Only the token endpoint (client credentials), revocation (RFC 7009: a client revokes
# its own tokens; another client's token is answered 200 and left alone, as the RFC says,
# by the toolkit's revoke_token, which looks tokens up for the calling application only)
# and introspection: there is no authorisation-code flow, so no consent pages.
oauth_urls = (
    [
        path("token/", TokenView.as_view(), name="token"),
        path("revoke_token/", RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", IntrospectTokenView.as_view(), name="introspect"),
    ],
    "oauth2_provider",
)
