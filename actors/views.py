"""Logging in: a code by e-mail, or a password and, for staff, an authenticator code.

Every check of a secret (password, e-mailed code, authenticator code) is counted by
actors.limits before it is made; `login_limited` turns a wait into 429 and counters
out of reach into 503, both with Retry-After. Staff who type the right password are
not logged in yet: the session keeps who they are (PENDING_SECOND_FACTOR) until the
authenticator code is right, and only then does `login()` run.
"""

import logging
import time
from base64 import b32encode
from functools import wraps

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import limits
from .assurance import LOA1, LOA2, record_login
from .auth import (
    EMAIL_CODE,
    PASSWORD,
    check_login_code,
    is_staff_member,
    login_methods_for,
    normalise_email,
    offered_methods,
    request_login_code,
    send_enrolment_code,
)
from .forms import AuthenticatorCodeForm, CodeForm, EmailForm, EnrolmentForm

log = logging.getLogger(__name__)

LOGIN_TEMPLATE = "registration/login.html"
CODE_TEMPLATE = "actors/enter_code.html"
SECOND_FACTOR_TEMPLATE = "actors/second_factor.html"
ENROL_TEMPLATE = "actors/enrol_second_factor.html"
REFUSED_TEMPLATE = "actors/login_refused.html"
PENDING_EMAIL = "login_code_email"
PENDING_NEXT = "login_code_next"
PENDING_SECOND_FACTOR = "login_second_factor"
# A right password holds for this long, and for this many authenticator codes.
SECOND_FACTOR_SECONDS = 300
SECOND_FACTOR_TRIES = 3
STORE_DOWN_RETRY_AFTER = 60
# Stored on the device; the admin shows it.
DEVICE_NAME = "Authenticator app"


class ClearingLogoutView(LogoutView):
    """Log out, and have the browser forget what it kept of the session: health data in
    its cache and storage, and the cookies (a shared computer at home or on a ward)."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
        return response


def login_limited(view):
    """Refuse, unchecked, a try that must wait (429), or that cannot be counted (503)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except limits.Throttled as exc:
            minutes = limits.minutes(exc.retry_after)
            message = ngettext(
                "Too many attempts. Wait %(minutes)d minute and try again.",
                "Too many attempts. Wait %(minutes)d minutes and try again.",
                minutes,
            ) % {"minutes": minutes}
            status, retry_after = 429, exc.retry_after
        except limits.LimitStoreDown:
            log.error("the login counters cannot be reached: login refused")
            message = _("Logging in is not possible just now. Try again in a few minutes.")
            status, retry_after = 503, STORE_DOWN_RETRY_AFTER
        response = render(request, REFUSED_TEMPLATE, {"message": message}, status=status)
        response["Retry-After"] = str(retry_after)
        return response

    return wrapper


def _safe_next(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _login_context(request, **extra) -> dict:
    methods = offered_methods()
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    # On the way to the admin the password is shown whatever the settings: a superuser
    # may always use password + authenticator code (actors.auth.login_methods_for).
    to_admin = next_url.startswith(reverse("admin:index"))
    return {
        "email_form": EmailForm(),
        "offers_code": EMAIL_CODE in methods,
        "offers_password": PASSWORD in methods or to_admin,
        "form": AuthenticationForm(request),
        "next": next_url,
        **extra,
    }


class PasswordLoginView(LoginView):
    """/login/: both methods on one page; the password form posts here. A staff member's
    right password leads to the authenticator step, not to a session."""

    template_name = LOGIN_TEMPLATE

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        return {**_login_context(self.request), **context}

    @method_decorator(login_limited)
    def post(self, request, *args, **kwargs):
        # Whether this person may use a password is the backend's to say (PasswordBackend).
        email = normalise_email(request.POST.get("username", ""))
        limits.count_failure(request, email)
        form = self.get_form()
        if not form.is_valid():
            return self.form_invalid(form)
        user = form.get_user()
        next_url = self.get_success_url()
        if is_staff_member(user):
            limits.not_a_failure_from_this_address(request)
            request.session[PENDING_SECOND_FACTOR] = {
                "user": user.pk,
                "email": email,
                "backend": user.backend,
                "next": next_url,
                "since": time.time(),
                "tries": 0,
            }
            return redirect("actors:second_factor")
        limits.succeeded(request, email)
        login(request, user)
        record_login(request, LOA1, "password")
        return redirect(next_url)


def _pending_second_factor(request):
    """The pending login and its user, or (None, None) when there is none (or it ran out)."""
    pending = request.session.get(PENDING_SECOND_FACTOR)
    if pending and time.time() - pending["since"] <= SECOND_FACTOR_SECONDS:
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
        if user is not None and PASSWORD in login_methods_for(user):
            return pending, user
    request.session.pop(PENDING_SECOND_FACTOR, None)
    return None, None


def _authenticator_code_is_right(request, pending, device, form) -> bool:
    """Counted like every other try (the account's wait is not asked here: the password
    just passed it). A wrong code puts an error on the form; after too many the pending
    login is dropped and the person starts again from the password."""
    limits.count_failure(request, pending["email"], gate_account=False)
    if _verify_once(device, form.cleaned_data["code"]):
        return True
    _wrong_try(request, pending, form, "code")
    return False


def _verify_once(device, code) -> bool:
    """Check an authenticator code with the device's row locked: django-otp refuses a code
    of a time step already used (`last_t`), but two requests sent at once would both
    read the old `last_t`; with the lock the second reads the first's."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk).first()
        return locked is not None and locked.verify_token(code)


def _wrong_try(request, pending, form, field):
    pending["tries"] += 1
    request.session[PENDING_SECOND_FACTOR] = pending
    if pending["tries"] >= SECOND_FACTOR_TRIES:
        request.session.pop(PENDING_SECOND_FACTOR, None)
        messages.error(request, _("The code was wrong too many times. Log in again."))
    if field == "email_code":
        message = _("The code is wrong or no longer valid. Check the code in the e-mail.")
    else:
        message = _("The code is wrong. Check the code in your app and try again.")
    form.add_error(field, message)


def _complete_login(request, user, device, pending):
    limits.succeeded(request, pending["email"])
    request.session.pop(PENDING_SECOND_FACTOR, None)
    user.backend = pending["backend"]
    # login() gives the session a new key: a session id seen before is worth nothing.
    login(request, user)
    otp_login(request, device)
    record_login(request, LOA2, "password+totp")
    return redirect(_safe_next(request, pending["next"]) or settings.LOGIN_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
@csrf_protect
@never_cache
@sensitive_post_parameters("code")
@login_limited
def second_factor(request):
    """Staff, step 2: the code from the authenticator app (or setting the app up)."""
    pending, user = _pending_second_factor(request)
    if user is None:
        return redirect("login")
    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        return _enrol(request, user, pending)
    form = AuthenticatorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _authenticator_code_is_right(request, pending, device, form):
            return _complete_login(request, user, device, pending)
        if PENDING_SECOND_FACTOR not in request.session:
            return redirect("login")
    status = 400 if request.method == "POST" else 200
    return render(request, SECOND_FACTOR_TEMPLATE, {"form": form}, status=status)


def _enrol(request, user, pending):
    """First login with a password: set up an authenticator app, confirmed with its first
    code and with a code sent to the account's e-mail address. The password alone is not
    enough: whoever has it but not the mailbox cannot bind their own app to the account
    (trust on first use would give a stolen password of a not-yet-enrolled account the
    second factor too). The e-mail is sent once per pending login (counted like a code
    request); asking again sends another, earlier codes staying valid.

    Each pending login has a key of its own; a new one replaces the user's unconfirmed
    keys, and once one is confirmed the others cannot be."""
    device = TOTPDevice.objects.filter(
        pk=pending.get("device") or 0, user=user, confirmed=False
    ).first()
    if device is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        pending["device"] = device.pk
        request.session[PENDING_SECOND_FACTOR] = pending
    if not pending.get("mailed") or (request.method == "POST" and "resend" in request.POST):
        limits.count_request(request, "send_code", pending["email"])
        sent = send_enrolment_code(user)
        if pending.get("mailed"):
            messages.info(
                request,
                _("We sent a new code to your e-mail address.")
                if sent
                else _("The codes we sent earlier still work: check your e-mail."),
            )
        pending["mailed"] = True
        request.session[PENDING_SECOND_FACTOR] = pending
        if request.method == "POST":
            return redirect("actors:second_factor")
    form = EnrolmentForm(request.POST or None, email_proved=pending.get("email_proved", False))
    if request.method == "POST" and form.is_valid():
        if _enrolment_proved(request, user, pending, device, form):
            with transaction.atomic():
                get_user_model().objects.select_for_update().filter(pk=user.pk).first()
                if TOTPDevice.objects.devices_for_user(user, confirmed=True).exists():
                    return redirect("actors:second_factor")
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            return _complete_login(request, user, device, pending)
        if PENDING_SECOND_FACTOR not in request.session:
            return redirect("login")
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        # segno writes the QR code's SVG (a library's output, escaped by it); the
        # template wraps it in a labelled image.
        "qr_svg": mark_safe(  # noqa: S308
            segno.make(device.config_url, error="m").svg_inline(
                scale=5, svgclass="qr-code", omitsize=False
            )
        ),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "account": user.email,
        # A right e-mailed code is not asked again in this login (the template leaves
        # the field out).
        "email_proved": pending.get("email_proved", False),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, ENROL_TEMPLATE, context, status=status)


def _enrolment_proved(request, user, pending, device, form) -> bool:
    """Both proofs, the e-mailed code first (once right, kept for this pending login) and
    then the app's code; one counted try, whichever is wrong."""
    if "email_code" in form.fields:
        limits.count_failure(request, pending["email"], gate_account=False)
        if not check_login_code(user, form.cleaned_data["email_code"]):
            _wrong_try(request, pending, form, "email_code")
            return False
        pending["email_proved"] = True
        request.session[PENDING_SECOND_FACTOR] = pending
        if _verify_once(device, form.cleaned_data["code"]):
            return True
        _wrong_try(request, pending, form, "code")
        return False
    return _authenticator_code_is_right(request, pending, device, form)


@require_POST
@csrf_protect
@never_cache
@sensitive_post_parameters("email")
@login_limited
def request_code(request):
    """Step 1: ask for a code. The reply, and the web request's work, are the same
    whether the address has an account or not: a task looks it up and sends the mail."""
    if EMAIL_CODE not in offered_methods():
        return redirect("login")
    form = EmailForm(request.POST)
    if not form.is_valid():
        context = _login_context(request, email_form=form)
        return render(request, LOGIN_TEMPLATE, context, status=400)
    email = normalise_email(form.cleaned_data["email"])
    limits.count_request(request, "send_code", email)
    request_login_code(email)
    request.session[PENDING_EMAIL] = email
    request.session[PENDING_NEXT] = _safe_next(request, request.POST.get("next", ""))
    return redirect("actors:enter_code")


@require_http_methods(["GET", "POST"])
@csrf_protect
@never_cache
@sensitive_post_parameters("code")
@login_limited
def enter_code(request):
    """Step 2: the code from the e-mail logs the person in."""
    email = request.session.get(PENDING_EMAIL)
    if not email:
        return redirect("login")
    form = CodeForm(request.POST or None)
    context = {"form": form, "email": email}
    if request.method == "POST" and form.is_valid():
        limits.count_failure(request, email)
        user = authenticate(request, email=email, code=form.cleaned_data["code"])
        if user is not None:
            limits.succeeded(request, email)
            next_url = request.session.get(PENDING_NEXT, "")
            # login() gives the session a new key, so a session id seen before
            # logging in is worth nothing after.
            login(request, user)
            record_login(request, LOA1, "email_code")
            request.session.pop(PENDING_EMAIL, None)
            request.session.pop(PENDING_NEXT, None)
            return redirect(_safe_next(request, next_url) or settings.LOGIN_REDIRECT_URL)
        form.add_error(
            "code",
            _("The code is wrong or no longer valid. Check it, or ask for a new code."),
        )
    status = 400 if request.method == "POST" else 200
    return render(request, CODE_TEMPLATE, context, status=status)
