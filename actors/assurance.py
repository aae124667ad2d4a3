"""How sure we are of who is logged in: the assurance level (tillitsnivå) of the login.

The levels follow the Swedish eID framework (DIGG's tillitsramverk för Svensk
e-legitimation, LoA 1-4): an e-mailed code proves only access to a mailbox (1), a
password with a second factor is level 2, and an e-legitimation (BankID, Freja+,
SITHS/e-tjänstekort) through the region's identity provider is level 3.

The level is kept on the session when a person logs in, read by the access rule for
emergency access (which needs level 3), and written in every access-log row.
"""

from django.conf import settings

LOA1 = 1
LOA2 = 2
LOA3 = 3

# The `acr` values of the Swedish eID framework, as an identity provider sends them.
ACR_LEVELS = {
    "http://id.elegnamnden.se/loa/1.0/loa1": LOA1,
    "http://id.elegnamnden.se/loa/1.0/loa2": LOA2,
    "http://id.elegnamnden.se/loa/1.0/loa3": LOA3,
    "http://id.elegnamnden.se/loa/1.0/loa4": 4,
    "http://id.swedenconnect.se/loa/1.0/uncertified-loa3": LOA3,
}

SESSION_KEY = "naravard_assurance"


def record_login(request, level: int, method: str) -> None:
    """Keep how this session logged in. Call right after `django.contrib.auth.login`
    (which gives the session a new key, so the level cannot outlive the login)."""
    request.session[SESSION_KEY] = {"level": int(level), "method": method}


def level_of(request) -> int | None:
    """The assurance level of the request's login, or None (not logged in, or an API
    client: integrations are vouched for by their organisation, not by a person's eID)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    value = session.get(SESSION_KEY)
    return int(value["level"]) if value else None


def method_of(request) -> str:
    session = getattr(request, "session", None)
    value = session.get(SESSION_KEY) if session is not None else None
    return value["method"] if value else ""


def idp_configured(kind: str) -> bool:
    """True when an OpenID Connect provider is configured for `kind`: "citizen"
    (patients and relatives, personnummer) or "staff" (HSA-id)."""
    return kind in settings.NARAVARD_OIDC_PROVIDERS
