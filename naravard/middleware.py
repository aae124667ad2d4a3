"""Project-wide middleware."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_htmx.http import HttpResponseClientRedirect

from actors.assurance import method_of


class NoStoreForLoggedInMiddleware:
    """`Cache-Control: no-store` on every response to a logged-in user.

    Pages behind the login show health data; no browser cache, shared computer or
    proxy may keep a copy (the back button after logging out must not show the plan).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


# --- session limits ----------------------------------------------------------------------

# When this session logged in, when it last made a request, and its idle limit in seconds
# (0: none), kept in the session itself (epoch seconds).
LOGIN_AT = "naravard_login_at"
SEEN_AT = "naravard_seen_at"
IDLE_LIMIT = "naravard_idle_limit"
# The last-seen time is written back at most this often: a session save is a database
# write, and a page's requests should not each cost one. The idle limit is kept to
# within this many seconds.
SEEN_RESOLUTION = 60


def idle_limit_for(user) -> int:
    """Staff (anyone with an active membership, and the admin's operators) are logged
    out after STAFF_IDLE_TIMEOUT without a request: a care unit's shared computer must not
    stay open on a patient's plan (PDL). Patients and relatives read their own plan,
    often on their own phone, and keep only the absolute limit (SESSION_COOKIE_AGE)."""
    from actors.auth import is_staff_member

    return int(settings.STAFF_IDLE_TIMEOUT) if is_staff_member(user) else 0


def start_session_clock(sender, request, user, **kwargs):
    """On login (the user_logged_in signal): start the session's clocks, so that the
    requests that follow need no query to know the limits."""
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now
    request.session[IDLE_LIMIT] = idle_limit_for(user)


class SessionLimitsMiddleware:
    """Log a session out after its idle limit without a request (staff: 30 minutes), and
    after SESSION_COOKIE_AGE since login whatever its activity: a session that is saved
    gets a new expiry date, so the cookie's age alone is not an absolute limit.

    Every request counts as activity, htmx ones too. The next request after a limit is
    sent to the login page with a message saying why (htmx: a full-page redirect)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            expired = self._expired(request, user)
            if expired:
                return self._logged_out(request, expired)
        return self.get_response(request)

    def _expired(self, request, user) -> str:
        session, now = request.session, int(time.time())
        if LOGIN_AT not in session:
            # Logged in before these limits existed (or without the signal): start now.
            start_session_clock(None, request, user)
            return ""
        if now - session[LOGIN_AT] > settings.SESSION_COOKIE_AGE:
            return "age"
        limit = session.get(IDLE_LIMIT) or 0
        seen = session.get(SEEN_AT, now)
        if limit and now - seen > limit:
            return "idle"
        if now - seen >= SEEN_RESOLUTION:
            session[SEEN_AT] = now
            # Who is staff can change during a session (a membership added or ended):
            # the limit follows, at the same pace as the last-seen time.
            session[IDLE_LIMIT] = idle_limit_for(user)
            if session[IDLE_LIMIT] and method_of(request) == "oidc:citizen":
                # A citizen's e-legitimation gives no staff rights (actors.oidc): a
                # person made staff since logging in with it logs in again as staff.
                return "role"
        return ""

    def _logged_out(self, request, why: str):
        limit = request.session.get(IDLE_LIMIT) or 0
        logout(request)
        if why == "role":
            text = _("You were logged out because your role in Naravard changed. Log in again.")
        elif why == "idle":
            minutes = max(1, round(limit / 60))
            text = ngettext(
                "You were logged out after %(minutes)d minute without activity.",
                "You were logged out after %(minutes)d minutes without activity.",
                minutes,
            ) % {"minutes": minutes}
        else:
            text = _("You were logged out because you had been logged in for a long time.")
        messages.info(request, text)
        login = resolve_url(settings.LOGIN_URL)
        if request.method == "GET":
            login = f"{login}?{urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(login)
        return HttpResponseRedirect(login)
