"""/fhir/R4/: FHIR R4 read and search for integrators."""

from django.urls import path, re_path

from push import fhir as push_fhir

from . import version_views as versions
from . import views as fhir
from .queries import RESOURCE_TYPES

TYPES = "|".join(RESOURCE_TYPES)
ID = r"[A-Za-z0-9\-.]{1,64}"

urlpatterns = [
    path("metadata", fhir.Metadata.as_view(), name="fhir-metadata"),
    # Push (push/): FHIR R4 Subscription, rest-hook.
    re_path(r"^Subscription/?$", push_fhir.SubscriptionType.as_view(), name="fhir-subscriptions"),
    re_path(
        r"^Subscription/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/?$",
        push_fhir.SubscriptionInstance.as_view(),
        name="fhir-subscription",
    ),
    re_path(
        rf"^(?P<resource_type>{TYPES})/?$", fhir.FhirSearchOrCreate.as_view(), name="fhir-search"
    ),
    # Versions and history (version_views.py).
    re_path(
        rf"^(?P<resource_type>{TYPES})/_history/?$",
        versions.FhirTypeHistory.as_view(),
        name="fhir-type-history",
    ),
    re_path(
        rf"^(?P<resource_type>{TYPES})/(?P<resource_id>{ID})/_history/?$",
        versions.FhirInstanceHistory.as_view(),
        name="fhir-history",
    ),
    re_path(
        rf"^(?P<resource_type>{TYPES})/(?P<resource_id>{ID})/_history/(?P<version_id>{ID})/?$",
        versions.FhirVRead.as_view(),
        name="fhir-vread",
    ),
    re_path(
        rf"^(?P<resource_type>{TYPES})/_search/?$",
        fhir.FhirSearchPost.as_view(),
        name="fhir-search-post",
    ),
    re_path(
        rf"^(?P<resource_type>{TYPES})/(?P<resource_id>[A-Za-z0-9\-.]{{1,64}})/?$",
        fhir.FhirRead.as_view(),
        name="fhir-read",
    ),
    re_path(r"^.*$", fhir.FhirNotFound.as_view()),
]
