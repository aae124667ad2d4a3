"""Logging in with e-legitimation through OpenID Connect (inloggning med e-legitimation).

Two kinds of provider, each configured from the environment (naravard/settings.py fills
`settings.NARAVARD_OIDC_PROVIDERS`; docs/operations.md):

- "citizen": patients and relatives, BankID or Freja through the region's provider; the
  ID token's `personnummer` claim finds the patient (Patient.identity_number) or the
  relative (User.personal_identity_number);
- "staff": SITHS/e-tjänstekort; the `hsa_id` claim finds a user with an active
  membership (User.hsa_id).

Nobody is ever created here: an identity we do not know is refused with a message.

mozilla-django-oidc does the protocol's hard parts: the code exchange, the ID token's
RS256 signature against the provider's JWKS, and the nonce. We add what it leaves to us:
settings per kind (two providers beside each other), endpoints from the provider's
discovery document, the token's issuer and audience, and the mapping to our people.
The start and callback views are our own, not the library's, because its views keep
every provider's state in one session entry; ours keep one entry per kind, so a state
issued for one kind is worthless at the other's callback.

The assurance level comes from the ID token's `acr` (actors.assurance.ACR_LEVELS). A
token without an `acr` we know gets the lowest level, 1: the person is who the provider
says, but we cannot tell how sure it was, so nothing that needs level 3 opens.
"""

import logging
import secrets
import threading
import time

import jwt
import requests
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import generate_code_challenge

from patients import identity
from patients.access import relatives_with_access
from patients.models import Patient

from . import assurance
from .auth import is_staff_member
from .models import Membership
from .views import LOGIN_TEMPLATE, _login_context, _safe_next

log = logging.getLogger(__name__)

CITIZEN = "citizen"
STAFF = "staff"
KINDS = (CITIZEN, STAFF)
# The claim that says who the person is, per kind.
IDENTITY_CLAIM = {CITIZEN: "personnummer", STAFF: "hsa_id"}
# Seconds to wait for the provider (discovery, token, keys): every wait is bounded.
TIMEOUT = 10
# Logins started and not finished that one session keeps, per kind (other tabs).
MAX_PENDING = 5
# A started login must come back within this many seconds.
PENDING_SECONDS = 600


class UnknownIdentity(Exception):
    """The provider vouched for a person we have no login for (or no active role)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class StaffLoginNeeded(UnknownIdentity):
    """A citizen's e-legitimation (BankID) of a person whose login is a staff login: it
    would open their staff rights, which come only from the staff provider (SITHS) or,
    without one, a password and an authenticator app (actors.auth.login_methods_for)."""


# --- the providers ----------------------------------------------------------------

_discovered: dict[str, dict] = {}
_discovery_lock = threading.Lock()


def provider(kind: str) -> dict:
    """The configuration of `kind`'s provider with its endpoints filled in: explicit
    overrides first, then the provider's discovery document, fetched at first use and
    kept for the life of the process. Raises Http404 for a kind not configured."""
    config = settings.NARAVARD_OIDC_PROVIDERS.get(kind) if kind in KINDS else None
    if not config:
        raise Http404
    names = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")
    if all(config.get(name) for name in names[:3]):
        return config
    return {**_discovery(config["issuer"]), **{k: v for k, v in config.items() if v}}


def _discovery(issuer: str) -> dict:
    with _discovery_lock:
        if issuer not in _discovered:
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = requests.get(url, timeout=TIMEOUT)
            response.raise_for_status()
            document = response.json()
            # OpenID Connect Discovery 1.0, 4.3: the document must name the same issuer.
            if document.get("issuer") != issuer:
                raise ImproperlyConfigured(
                    f"The discovery document at {url} names the issuer "
                    f"{document.get('issuer')!r}, not {issuer!r}."
                )
            _discovered[issuer] = document
        return _discovered[issuer]


def _callback_name(kind: str) -> str:
    return f"actors:oidc_callback_{kind}"


# --- the backend --------------------------------------------------------------------


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the settings of one kind's provider.

    `authenticate(request, oidc_kind=..., nonce=..., code_verifier=...)`; any other call
    (a password, an e-mailed code) is not for this backend. Never creates a user."""

    def __init__(self, *args, **kwargs):
        # The library reads its settings here; ours depend on the kind, known only at
        # login, and get_user (every request) must not need the provider to answer.
        self.UserModel = get_user_model()
        self.kind = None

    def get_settings(self, attr, *args):
        config = self.config
        values = {
            "OIDC_OP_TOKEN_ENDPOINT": config["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": config.get("userinfo_endpoint"),
            "OIDC_OP_JWKS_ENDPOINT": config["jwks_uri"],
            "OIDC_RP_CLIENT_ID": config["client_id"],
            "OIDC_RP_CLIENT_SECRET": config["client_secret"],
            "OIDC_RP_SIGN_ALGO": "RS256",
            "OIDC_RP_SCOPES": config.get("scopes") or "openid profile",
            "OIDC_AUTHENTICATION_CALLBACK_URL": _callback_name(self.kind),
            "OIDC_TIMEOUT": TIMEOUT,
            "OIDC_USE_NONCE": True,
            "OIDC_CREATE_USER": False,
            "OIDC_STORE_ACCESS_TOKEN": False,
            "OIDC_STORE_ID_TOKEN": False,
            "OIDC_ALLOW_UNSECURED_JWT": False,
        }
        if attr in values:
            return values[attr]
        return super().get_settings(attr, *args)

    def authenticate(self, request, oidc_kind=None, nonce=None, code_verifier=None, **kwargs):
        if oidc_kind not in KINDS or request is None or not nonce:
            return None
        self.kind = oidc_kind
        self.config = provider(oidc_kind)
        self.OIDC_OP_TOKEN_ENDPOINT = self.get_settings("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = self.get_settings("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = self.get_settings("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        self.OIDC_RP_CLIENT_SECRET = self.get_settings("OIDC_RP_CLIENT_SECRET")
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None  # always the provider's published keys
        return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)

    def verify_token(self, token, **kwargs):
        """The library checks the signature and the nonce; it leaves the issuer and the
        audience (OpenID Connect Core 3.1.3.7) to us."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else list(audience or [])
        if payload.get("iss") != self.config["issuer"]:
            raise SuspiciousOperation("The ID token is from another issuer.")
        if self.OIDC_RP_CLIENT_ID not in audience:
            raise SuspiciousOperation("The ID token is for another client.")
        if len(audience) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("The ID token was issued to another party.")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """Who it is, from the signed ID token; from the userinfo endpoint only when the
        provider leaves the identity out of the token, and then for the same subject."""
        claims = dict(payload)
        if not claims.get(IDENTITY_CLAIM[self.kind]) and self.OIDC_OP_USER_ENDPOINT:
            info = super().get_userinfo(access_token, id_token, payload)
            if info.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("The userinfo is about another subject.")
            claims = {**info, **payload}
        return claims

    def verify_claims(self, claims):
        return bool(claims.get(IDENTITY_CLAIM[self.kind]))

    def filter_users_by_claims(self, claims):
        users = self.UserModel.objects.filter(is_active=True)
        if self.kind == CITIZEN:
            try:
                number = identity.normalise(str(claims["personnummer"]))
            except Exception:  # noqa: BLE001 (a malformed claim is simply nobody)
                return users.none()
            # The patient's own login, or a relative's (patients.Relative) by their number;
            # a relative the patient gave no access (any more) has nothing to log in to.
            as_patient = Patient.objects.filter(identity_number=number, user=OuterRef("pk"))
            as_relative = relatives_with_access().filter(user=OuterRef("pk"))
            is_citizen = Exists(as_relative) | Q(patient__isnull=False)
            return users.filter(
                Exists(as_patient) | (Q(personal_identity_number=number) & is_citizen)
            )
        active_role = Membership.objects.active().filter(user=OuterRef("pk"))
        return users.filter(Exists(active_role), hsa_id=str(claims["hsa_id"]))

    def get_or_create_user(self, access_token, id_token, payload):
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is None:
            raise UnknownIdentity(self.kind)
        if self.kind == CITIZEN and is_staff_member(user):
            raise StaffLoginNeeded(self.kind)
        user.oidc_assurance_level = assurance.ACR_LEVELS.get(payload.get("acr"), assurance.LOA1)
        return user

    def get_user(self, user_id):
        return self.UserModel.objects.filter(pk=user_id, is_active=True).first()


# --- the views ------------------------------------------------------------------------


def _pending_key(kind: str) -> str:
    return f"oidc_pending_{kind}"


@require_GET
@never_cache
def start(request, kind):
    """Send the browser to the provider, with a fresh state, nonce and PKCE verifier kept
    in this session under the kind. `?next=` is where to go after logging in."""
    try:
        config = provider(kind)
    except (requests.RequestException, ValueError, ImproperlyConfigured):
        log.exception("The %s identity provider's discovery document failed", kind)
        message = _("The e-legitimation service does not answer. Try again in a while.")
        return _refused(request, message, status=503)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    pending = {
        key: value
        for key, value in request.session.get(_pending_key(kind), {}).items()
        if value["at"] > time.time() - PENDING_SECONDS
    }
    for old in sorted(pending, key=lambda key: pending[key]["at"])[: -MAX_PENDING + 1]:
        del pending[old]
    pending[state] = {
        "nonce": nonce,
        "verifier": verifier,
        "next": _safe_next(request, request.GET.get("next", "")),
        "at": time.time(),
    }
    request.session[_pending_key(kind)] = pending
    params = {
        "response_type": "code",
        "client_id": config["client_id"],
        "scope": config.get("scopes") or "openid profile",
        "redirect_uri": request.build_absolute_uri(reverse(_callback_name(kind))),
        "state": state,
        "nonce": nonce,
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if config.get("acr_values"):
        params["acr_values"] = config["acr_values"]
    return HttpResponseRedirect(f"{config['authorization_endpoint']}?{urlencode(params)}")


@require_GET
@never_cache
def callback(request, kind):
    """The provider sends the browser back here with a code and our state; the state is
    used once, whatever happens next."""
    provider_configured = kind in settings.NARAVARD_OIDC_PROVIDERS
    if not provider_configured:
        raise Http404
    pending = request.session.get(_pending_key(kind), {})
    entry = pending.pop(request.GET.get("state", ""), None)
    request.session[_pending_key(kind)] = pending
    failed = _("The login with e-legitimation did not succeed. Try again.")
    if entry is None or entry["at"] < time.time() - PENDING_SECONDS:
        log.warning("OIDC %s callback with an unknown or expired state", kind)
        return _refused(request, failed)
    next_url = entry["next"]
    if request.GET.get("error") or not request.GET.get("code"):
        return _refused(request, _("The login with e-legitimation was cancelled."), next_url)
    try:
        user = authenticate(
            request, oidc_kind=kind, nonce=entry["nonce"], code_verifier=entry["verifier"]
        )
    except StaffLoginNeeded:
        log.info("OIDC %s login refused: a staff login", kind)
        message = _(
            "You have a staff login in Naravard. Log in as staff, with your "
            "e-tjänstekort or your password and authenticator app."
        )
        return _refused(request, message, next_url)
    except UnknownIdentity:
        log.info("OIDC %s login refused: no login for the identity", kind)
        return _refused(request, _unknown_message(kind), next_url)
    except (
        SuspiciousOperation,
        requests.RequestException,
        jwt.PyJWTError,
        ValueError,
        KeyError,
    ) as exc:
        # The reason, not the claims: they are personal data.
        log.warning("OIDC %s login failed: %s: %s", kind, type(exc).__name__, exc)
        return _refused(request, failed, next_url)
    if user is None or not user.is_active:
        return _refused(request, failed, next_url)
    # login() gives the session a new key; the level is recorded on the new one.
    login(request, user)
    assurance.record_login(request, user.oidc_assurance_level, f"oidc:{kind}")
    return redirect(_safe_next(request, next_url) or settings.LOGIN_REDIRECT_URL)


def _unknown_message(kind: str) -> str:
    if kind == STAFF:
        return _(
            "Your e-tjänstekort worked, but your HSA-id has no active role in Naravard. "
            "Ask your organisation's administrator to add you."
        )
    return _(
        "Your e-legitimation worked, but we have no patient or relative with your "
        "personal identity number in Naravard. Contact your care unit."
    )


def _refused(request, message: str, next_url: str = "", status: int = 403):
    """The login page again, with what went wrong; nothing was changed."""
    context = _login_context(request, oidc_error=message)
    if next_url:
        context["next"] = _safe_next(request, next_url)
    return render(request, LOGIN_TEMPLATE, context, status=status)
