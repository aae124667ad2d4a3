"""Logging in: a one-time code by e-mail, a password, which methods each role may use,
and the pluggable backends.

Which methods are offered is set per role (`login_methods_for`): staff and citizens
each have a list in settings, and staff lose the e-mailed code and the password when
the region's identity provider for staff is configured. Each method is an
authentication backend in `AUTHENTICATION_BACKENDS`. The limits on tries are in
actors.limits; the second factor for staff passwords is in actors.views (django-otp),
and setting it up needs an e-mailed code as well as the password (send_enrolment_code).

The login-code use cases live here rather than in an `actors/services.py`: they write
only `LoginCode` rows, which are about logging in, not about a patient's plan.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Case, F, When
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from .assurance import idp_configured
from .models import LoginCode, Membership

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_VALID_FOR = timedelta(minutes=10)
# After this many wrong tries a code is burned and the person asks for a new one.
MAX_WRONG_TRIES = 5
# Codes that may be live at once for one person. Asking again does not cancel a code
# already sent (else anyone who knows the address could cancel it before it is used);
# past this many, no new code is made until one is used or expires.
MAX_LIVE_CODES = 3

EMAIL_CODE = "email_code"
PASSWORD = "password"


def is_staff_member(user) -> bool:
    """Staff: an active membership in an organisation, or the admin's is_staff/superuser."""
    return (
        user.is_staff
        or user.is_superuser
        or Membership.objects.active().filter(user_id=user.pk).exists()
    )


def login_methods_for(user) -> set[str]:
    """The e-mail-code and password methods this person may use."""
    if not is_staff_member(user):
        return set(settings.NARAVARD_LOGIN_METHODS_CITIZEN)
    # The operator must always be able to reach the admin (password + authenticator
    # code), also when the identity provider is down or does not know them.
    always = {PASSWORD} if user.is_superuser else set()
    if idp_configured("staff"):
        # Staff log in with their e-legitimation (SITHS) through the region's provider.
        return always
    return set(settings.NARAVARD_LOGIN_METHODS_STAFF) | always


def offered_methods() -> set[str]:
    """The methods the login page shows. Who may use them is checked at the check step
    (the backends), so the page does not tell staff addresses from others."""
    methods = set(settings.NARAVARD_LOGIN_METHODS_CITIZEN)
    if not idp_configured("staff"):
        methods |= set(settings.NARAVARD_LOGIN_METHODS_STAFF)
    return methods


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
def issue_login_code(user) -> str | None:
    """Make a new code for the user and return it; None when MAX_LIVE_CODES are live.

    Earlier live codes stay valid: asking again must not cancel a code on its way."""
    now = timezone.now()
    # The user's row is locked so that two requests at once cannot both add a code.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    live = LoginCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now)
    if live.count() >= MAX_LIVE_CODES:
        return None
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    LoginCode.objects.create(
        user=user, code_hash=_hash_code(user.pk, code), expires_at=now + CODE_VALID_FOR
    )
    return code


def send_login_code(email: str) -> None:
    """Send a code if there is an active account that may log in with one; do nothing
    visible otherwise. Run by a Celery task (actors.tasks), so that the web request
    does the same work whether the address has an account or not."""
    user = find_login_user(email)
    if user is None or EMAIL_CODE not in login_methods_for(user):
        return
    code = issue_login_code(user)
    if code is None:
        return  # the codes already sent still work
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


def send_enrolment_code(user) -> bool:
    """Mail a one-time code to a staff member who typed the right password but has no
    authenticator app yet: setting one up needs this code too (actors.views._enrol), so
    that a password alone, guessed or stolen, cannot bind an attacker's app to the
    account. The same codes as for logging in by e-mail (issue_login_code), whatever
    methods the person's role may log in with; the mail says what to do if it was not
    them. Sent from the web request: the password was right, so the timing tells nothing."""
    code = issue_login_code(user)
    if code is None:
        return False  # the codes already sent still work
    minutes = int(CODE_VALID_FOR.total_seconds() // 60)
    send_mail(
        subject=_("Your code for setting up an authenticator app"),
        message=_(
            "Someone logged in to Naravard with your password and is setting up an "
            "authenticator app for your account.\n\n"
            "If it is you, type this code on the page: %(code)s. It is valid for "
            "%(minutes)d minutes.\n\n"
            "If it is not you, do not give the code to anyone, and tell your "
            "administrator at once: someone knows your password."
        )
        % {"code": code, "minutes": minutes},
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def request_login_code(email: str) -> None:
    """The web request's part of asking for a code, the same for every address: once
    the request's transaction commits, a task looks the address up and sends the mail.

    With the broker down the code is sent from here instead (a login must still work
    when Redis is away); only then is a known address slower to answer."""
    transaction.on_commit(lambda: _enqueue_login_code(email))


def _enqueue_login_code(email: str) -> None:
    from reminders.wake import BROKER_ERRORS

    from .tasks import send_login_code as task

    try:
        task.delay(email)
    except BROKER_ERRORS as exc:
        log.warning("could not enqueue a login code (%s); sending it now", type(exc).__name__)
        send_login_code(email)


@transaction.atomic
def check_login_code(user, code: str) -> bool:
    """True, and the code is used up, when `code` is one of the user's live codes.

    A wrong code is a wrong try against every live code, since it was compared with each
    of them: each code still meets at most MAX_WRONG_TRIES guesses before it is burned,
    so three live codes do not give a guesser more than three codes' worth of tries.
    A right code retires the user's other live codes too."""
    now = timezone.now()
    live = list(
        LoginCode.objects.select_for_update()
        .filter(user=user, used_at__isnull=True, expires_at__gt=now)
        .order_by("created_at", "pk")
    )
    if not live:
        return False
    digest = _hash_code(user.pk, "".join(ch for ch in (code or "") if ch.isdigit()))
    matches = [c for c in live if constant_time_compare(c.code_hash, digest)]
    ids = [c.pk for c in live]
    if matches:
        LoginCode.objects.filter(pk__in=ids).update(used_at=now)
        return True
    LoginCode.objects.filter(pk__in=ids).update(
        attempts=F("attempts") + 1,
        used_at=Case(When(attempts__gte=MAX_WRONG_TRIES - 1, then=now), default=None),
    )
    return False


class EmailCodeBackend(BaseBackend):
    """Authenticates with `email` and `code` (the one-time code sent by e-mail)."""

    def authenticate(self, request, email=None, code=None, **kwargs):
        if not email or not code:
            return None
        user = find_login_user(email)
        if user is None or EMAIL_CODE not in login_methods_for(user):
            return None
        if not check_login_code(user, code):
            return None
        return user

    def get_user(self, user_id):
        User = get_user_model()
        user = User.objects.filter(pk=user_id, is_active=True).first()
        return user


class PasswordBackend(ModelBackend):
    """Django's password backend, refusing people whose role may not use a password
    (with the same answer as a wrong password). The tries are limited, and staff asked
    for a second factor, by the login views (actors.views), the only password form:
    the admin's login sends people there (actors.admin_site)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and PASSWORD not in login_methods_for(user):
            return None
        return user
