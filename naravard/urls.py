from django.contrib import admin
from django.urls import include, path

from actors.views import ClearingLogoutView, PasswordLoginView

from . import views
from .oauth import oauth_urls

handler400 = "naravard.views.bad_request"
handler500 = "naravard.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("ready/", views.ready, name="ready"),
    path("login/", PasswordLoginView.as_view(), name="login"),
    path("logout/", ClearingLogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("actors.urls")),
    path("", include("patients.urls")),
    path("", include("patients.access_urls")),
    path("", include("contracts.urls")),
    path("", include("coordination.urls")),
    path("", include("push.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("fhir/R4/", include("fhir_r4.urls")),
    path("oauth/", include(oauth_urls)),
]
