"""Logging in: a one-time code by e-mail, rate limits, and the pluggable backends.

Which login methods are offered is `settings.NARAVARD_LOGIN_METHODS`; each method is
an authentication backend in `AUTHENTICATION_BACKENDS`, so a BankID login through an
OIDC provider can be added later by settings alone (see naravard/settings.py).

The login-code use cases live here rather than in an `actors/services.py`: they write
only `LoginCode` rows, which are about logging in, not about a patient's plan.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from .models import LoginAttemptCount, LoginCode

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_VALID_FOR = timedelta(minutes=10)
# After this many wrong tries a code is burned and the person asks for a new one.
MAX_WRONG_TRIES = 5


def _hash_code(user_id: int, code: str) -> str:
    # An HMAC keyed by SECRET_KEY is enough for a short-lived code that allows five
    # tries, and unlike PBKDF2 it does not make the login page slow.
    return salted_hmac("naravard.login-code", f"{user_id}:{code}").hexdigest()


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_login_user(email: str):
    """The active user with this e-mail, or None."""
    User = get_user_model()
    return User.objects.filter(email__iexact=normalise_email(email), is_active=True).first()


@transaction.atomic
def issue_login_code(user) -> str:
    """Make a new code for the user, retire any earlier one, and return the code."""
    now = timezone.now()
    # Only the newest code works: a code sent earlier cannot be used any more.
    LoginCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    LoginCode.objects.create(
        user=user, code_hash=_hash_code(user.pk, code), expires_at=now + CODE_VALID_FOR
    )
    return code


def send_login_code(email: str) -> None:
    """Send a code if there is an active account; do nothing visible otherwise.

    The caller shows the same message either way, so the page does not tell
    whether an address has an account."""
    user = find_login_user(email)
    if user is None:
        return
    code = issue_login_code(user)
    minutes = int(CODE_VALID_FOR.total_seconds() // 60)
    send_mail(
        subject=_("Your login code for Naravard"),
        message=_(
            "Your login code is %(code)s. It is valid for %(minutes)d minutes.\n\n"
            "If you did not ask for a code, you can ignore this message."
        )
        % {"code": code, "minutes": minutes},
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


@transaction.atomic
def check_login_code(user, code: str) -> bool:
    """True, and the code is used up, when `code` is the user's newest live code.

    A wrong code counts against the live code and burns it after MAX_WRONG_TRIES."""
    now = timezone.now()
    login_code = (
        LoginCode.objects.select_for_update()
        .filter(user=user, used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at", "-pk")
        .first()
    )
    if login_code is None:
        return False
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if constant_time_compare(login_code.code_hash, _hash_code(user.pk, code)):
        login_code.used_at = now
        login_code.save(update_fields=["used_at"])
        return True
    login_code.attempts += 1
    if login_code.attempts >= MAX_WRONG_TRIES:
        login_code.used_at = now
    login_code.save(update_fields=["attempts", "used_at"])
    return False


class EmailCodeBackend(BaseBackend):
    """Authenticates with `email` and `code` (the one-time code sent by e-mail)."""

    def authenticate(self, request, email=None, code=None, **kwargs):
        if not email or not code:
            return None
        user = find_login_user(email)
        if user is None or not check_login_code(user, code):
            return None
        return user

    def get_user(self, user_id):
        User = get_user_model()
        user = User.objects.filter(pk=user_id, is_active=True).first()
        return user


# --- rate limits -------------------------------------------------------------------


class RateLimited(Exception):
    """Too many login attempts from one address or for one e-mail in the window."""


def client_ip(request) -> str:
    # REMOTE_ADDR is the proxy's address behind a load balancer; settings.BEHIND_PROXY
    # says when X-Forwarded-For (set by our own proxy, last hop) can be trusted.
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


# One statement counts an attempt: a new key, or a key whose window has ended, starts
# again at 1. Two requests at once both count (the row lock orders them).
_COUNT_ATTEMPT = """
INSERT INTO actors_loginattemptcount AS c (key, count, window_ends)
VALUES (%(key)s, 1, now() + make_interval(secs => %(window)s))
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.window_ends <= now() THEN 1 ELSE c.count + 1 END,
    window_ends = CASE WHEN c.window_ends <= now() THEN excluded.window_ends
                  ELSE c.window_ends END
RETURNING count
"""


def _hit(key: str, limit: int, window: int) -> bool:
    """Count one attempt; True while the count is within the limit (fixed window)."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_ATTEMPT, {"key": key, "window": window})
        (count,) = cursor.fetchone()
    return count <= limit


def forget_ended_windows() -> int:
    """Delete the counts of windows that have ended (a beat task): they count nothing."""
    deleted, _kinds = LoginAttemptCount.objects.filter(window_ends__lt=timezone.now()).delete()
    return deleted


def check_rate_limit(request, kind: str, email: str = "") -> None:
    """Raise RateLimited when this IP, or this e-mail, has tried too often.

    `kind` keeps sending codes, checking codes and passwords in separate counters."""
    limits = settings.NARAVARD_LOGIN_RATE_LIMITS
    window = limits["window_seconds"]
    ok = True
    if request is not None:
        ok = _hit(f"login:{kind}:ip:{client_ip(request)}", limits["per_ip"], window)
    if email:
        # Hash the address so that no e-mail addresses are stored in clear text here.
        digest = salted_hmac("naravard.login-limit", normalise_email(email)).hexdigest()
        ok = _hit(f"login:{kind}:email:{digest}", limits["per_email"], window) and ok
    if not ok:
        raise RateLimited


class RateLimitedModelBackend(ModelBackend):
    """Django's password backend with the login rate limit, so that every password form
    (the admin's login too, not only /login/) is limited the same way."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        try:
            check_rate_limit(request, "password_backend", username)
        except RateLimited:
            # PermissionDenied stops Django from trying the remaining backends.
            raise PermissionDenied from None
        return super().authenticate(request, username=username, password=password, **kwargs)
