from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="sign")),
    path("sign/", views.sign, name="sign"),
    # Ours first: the toolkit's authorize view, asking for a new signature every time.
    path("o/authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
