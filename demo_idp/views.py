"""The demo provider's pages: "sign" as a fictional person, and authorize."""

import re
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import get_user_model, login, logout
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView

from . import people

# The authorize request a signature was made for: one signature, one login, as with BankID.
SIGNED_FOR = "demo_idp_signed_for"
PERSONNUMMER_RE = re.compile(r"^[0-9]{12}$", re.ASCII)
HSA_ID_RE = re.compile(r"^SE[0-9]{10}-[0-9A-Za-z]{1,20}$", re.ASCII)


def _kind_for(next_url: str) -> str:
    """citizen or staff: the name of the client application the login is for."""
    client_id = parse_qs(urlsplit(next_url).query).get("client_id", [""])[0]
    app = get_application_model().objects.filter(client_id=client_id).first()
    return people.STAFF if app is not None and app.name == people.STAFF else people.CITIZEN


def _clean(kind: str, value: str) -> str | None:
    value = (value or "").strip()
    if kind == people.CITIZEN:
        value = value.replace("-", "")
        return value if PERSONNUMMER_RE.match(value) else None
    return value if HSA_ID_RE.match(value) else None


@never_cache
@require_http_methods(["GET", "POST"])
def sign(request):
    next_url = request.POST.get("next") or request.GET.get("next", "")
    if not next_url.startswith("/o/authorize/"):
        next_url = ""
    kind = _kind_for(next_url)
    error = ""
    if request.method == "POST":
        number = _clean(kind, request.POST.get("number", ""))
        if number is None:
            error = (
                _("Enter a personal identity number as YYYYMMDD-XXXX.")
                if kind == people.CITIZEN
                else _("An HSA-id looks like SE2321000032-abc123.")
            )
        elif not next_url:
            error = _("Start the login from Naravard.")
        else:
            person = people.find(kind, number)
            user, _created = get_user_model().objects.update_or_create(
                username=f"{kind}:{number}",
                defaults={
                    "first_name": person.given_name if person else "Test",
                    "last_name": person.family_name if person else "Testsson",
                },
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SIGNED_FOR] = next_url
            return redirect(next_url)
    context = {
        "kind": kind,
        "people": [p for p in people.PEOPLE if p.kind == kind],
        "next": next_url,
        "error": error,
        "number": request.POST.get("number", ""),
    }
    return render(request, "demo_idp/sign.html", context, status=400 if error else 200)


class AuthorizeView(AuthorizationView):
    """The toolkit's authorize endpoint; a login counts for the one request it was signed
    for, so every login from Naravard asks for a signature again."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and (
            request.session.get(SIGNED_FOR) != request.get_full_path()
        ):
            logout(request)
        response = super().dispatch(request, *args, **kwargs)
        if request.user.is_authenticated:
            logout(request)
        return response
