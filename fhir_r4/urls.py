"""/fhir/R4/: FHIR R4 read and search for integrators."""

from django.urls import path, re_path

from . import views as fhir
from .queries import RESOURCE_TYPES

TYPES = "|".join(RESOURCE_TYPES)

urlpatterns = [
    path("metadata", fhir.Metadata.as_view(), name="fhir-metadata"),
    re_path(rf"^(?P<resource_type>{TYPES})/?$", fhir.FhirSearch.as_view(), name="fhir-search"),
    re_path(
        rf"^(?P<resource_type>{TYPES})/(?P<resource_id>[A-Za-z0-9\-.]{{1,64}})/?$",
        fhir.FhirRead.as_view(),
        name="fhir-read",
    ),
    re_path(r"^.*$", fhir.FhirNotFound.as_view()),
]
