"""Logging in: a code by e-mail (the main way) or a password (staff)."""

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from .auth import RateLimited, check_rate_limit, normalise_email, send_login_code
from .forms import CodeForm, EmailForm

LOGIN_TEMPLATE = "registration/login.html"


class ClearingLogoutView(LogoutView):
    """Log out, and have the browser forget what it kept of the session: health data in
    its cache and storage, and the cookies (a shared computer at home or on a ward)."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
        return response


CODE_TEMPLATE = "actors/enter_code.html"
PENDING_EMAIL = "login_code_email"
PENDING_NEXT = "login_code_next"


def too_many_attempts() -> str:
    minutes = max(settings.NARAVARD_LOGIN_RATE_LIMITS["window_seconds"] // 60, 1)
    return _("Too many attempts. Wait %(minutes)d minutes and try again.") % {"minutes": minutes}


def _safe_next(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _login_context(request, **extra) -> dict:
    methods = settings.NARAVARD_LOGIN_METHODS
    return {
        "email_form": EmailForm(),
        "offers_code": "email_code" in methods,
        "offers_password": "password" in methods,
        "form": AuthenticationForm(request),
        "next": _safe_next(request, request.POST.get("next") or request.GET.get("next", "")),
        **extra,
    }


class PasswordLoginView(LoginView):
    """Django's login view on /login/, limited per IP and e-mail, showing both methods."""

    template_name = LOGIN_TEMPLATE

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        return {**_login_context(self.request), **context}

    def post(self, request, *args, **kwargs):
        if "password" not in settings.NARAVARD_LOGIN_METHODS:
            return redirect("login")
        try:
            check_rate_limit(request, "password", request.POST.get("username", ""))
        except RateLimited:
            context = self.get_context_data(form=self.get_form(), rate_limited=too_many_attempts())
            return render(request, LOGIN_TEMPLATE, context, status=429)
        return super().post(request, *args, **kwargs)


@require_POST
@csrf_protect
@never_cache
@sensitive_post_parameters("email")
def request_code(request):
    """Step 1: send a code to the e-mail, if it has an account. The reply is the same
    either way, so nobody can find out which addresses have accounts."""
    if "email_code" not in settings.NARAVARD_LOGIN_METHODS:
        return redirect("login")
    form = EmailForm(request.POST)
    if not form.is_valid():
        context = _login_context(request, email_form=form)
        return render(request, LOGIN_TEMPLATE, context, status=400)
    email = normalise_email(form.cleaned_data["email"])
    try:
        check_rate_limit(request, "send_code", email)
    except RateLimited:
        context = _login_context(request, email_form=form, rate_limited=too_many_attempts())
        return render(request, LOGIN_TEMPLATE, context, status=429)
    send_login_code(email)
    request.session[PENDING_EMAIL] = email
    request.session[PENDING_NEXT] = _safe_next(request, request.POST.get("next", ""))
    return redirect("actors:enter_code")


@require_http_methods(["GET", "POST"])
@csrf_protect
@never_cache
@sensitive_post_parameters("code")
def enter_code(request):
    """Step 2: the code from the e-mail logs the person in."""
    email = request.session.get(PENDING_EMAIL)
    if not email:
        return redirect("login")
    form = CodeForm(request.POST or None)
    context = {"form": form, "email": email}
    if request.method == "POST" and form.is_valid():
        try:
            check_rate_limit(request, "check_code", email)
        except RateLimited:
            context["rate_limited"] = too_many_attempts()
            return render(request, CODE_TEMPLATE, context, status=429)
        user = authenticate(request, email=email, code=form.cleaned_data["code"])
        if user is not None:
            next_url = request.session.get(PENDING_NEXT, "")
            # login() gives the session a new key, so a session id seen before
            # logging in is worth nothing after.
            login(request, user)
            request.session.pop(PENDING_EMAIL, None)
            request.session.pop(PENDING_NEXT, None)
            return redirect(_safe_next(request, next_url) or settings.LOGIN_REDIRECT_URL)
        form.add_error(
            "code",
            _("The code is wrong or no longer valid. Check it, or ask for a new code."),
        )
    status = 400 if request.method == "POST" else 200
    return render(request, CODE_TEMPLATE, context, status=status)
