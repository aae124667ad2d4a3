from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from actors.views import PasswordLoginView

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("login/", PasswordLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("actors.urls")),
    path("", include("patients.urls")),
    path("", include("patients.access_urls")),
    path("", include("contracts.urls")),
    path("", include("coordination.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("contracts.api_urls")),
    path("fhir/R4/", include("contracts.fhir_urls")),
    path("oauth/", include(api.oauth_urls)),
]
