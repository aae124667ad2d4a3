from django.urls import path

from . import oidc, views

app_name = "actors"
urlpatterns = [
    path("login/code/", views.request_code, name="request_code"),
    path("login/code/enter/", views.enter_code, name="enter_code"),
    # Staff after their password: the authenticator app's code (or setting it up).
    path("login/second-factor/", views.second_factor, name="second_factor"),
    # E-legitimation (actors.oidc). One callback name per kind: the OIDC library
    # reverses the callback without arguments to build the redirect URI.
    path("login/oidc/<str:kind>/", oidc.start, name="oidc_start"),
    path(
        "login/oidc/citizen/callback/",
        oidc.callback,
        {"kind": "citizen"},
        name="oidc_callback_citizen",
    ),
    path(
        "login/oidc/staff/callback/", oidc.callback, {"kind": "staff"}, name="oidc_callback_staff"
    ),
]
