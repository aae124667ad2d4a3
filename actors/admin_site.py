"""The admin site, asking for the second factor: only a login with an authenticator code
(django-otp, `request.user.is_verified()`) or an e-legitimation of level 2 or more
opens it. Its own login form is not used: /admin/login/ sends people to /login/, so
the admin has the same limits and the same two steps as every other login."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "actors.admin_site.AdminSite"


def second_factor_done(request) -> bool:
    from .assurance import LOA2, level_of

    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified()) or (level_of(request) or 0) >= LOA2


class AdminSite(admin.AdminSite):
    def has_permission(self, request):
        return super().has_permission(request) and second_factor_done(request)

    def login(self, request, extra_context=None):
        from django.contrib.auth import REDIRECT_FIELD_NAME
        from django.contrib.auth.views import redirect_to_login
        from django.urls import reverse

        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse(
            "admin:index", current_app=self.name
        )
        return redirect_to_login(next_url, reverse("login"))
