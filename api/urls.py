"""/api/v1/: the REST API for integrators, its OpenAPI schema and its docs."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from push import api as push_api

from . import views as api

urlpatterns = [
    path("patients/", api.PatientList.as_view(), name="api-patients"),
    path("patients/<int:pk>/", api.PatientDetail.as_view(), name="api-patient"),
    path("patients/<int:pk>/care-team/", api.CareTeam.as_view(), name="api-care-team"),
    path("contracts/", api.ContractList.as_view(), name="api-contracts"),
    path("contracts/<int:pk>/", api.ContractDetail.as_view(), name="api-contract"),
    path("contracts/<int:pk>/what-matters/", api.WhatMatters.as_view(), name="api-what-matters"),
    path(
        "contracts/<int:pk>/commitments/",
        api.ContractCommitments.as_view(),
        name="api-contract-commitments",
    ),
    path(
        "contracts/<int:pk>/next-steps/",
        api.ContractNextSteps.as_view(),
        name="api-contract-next-steps",
    ),
    path(
        "contracts/<int:pk>/care-contact/",
        api.ContractCareContact.as_view(),
        name="api-care-contact",
    ),
    path("contracts/<int:pk>/events/", api.ContractEvents.as_view(), name="api-contract-events"),
    path("commitments/<int:pk>/", api.CommitmentDetail.as_view(), name="api-commitment"),
    path("next-steps/<int:pk>/", api.NextStepDetail.as_view(), name="api-next-step"),
    path(
        "next-steps/<int:pk>/outcome/", api.NextStepOutcome.as_view(), name="api-next-step-outcome"
    ),
    path("changes/", api.Changes.as_view(), name="api-changes"),
    # Push (push/): webhooks for the change feed's events.
    path("webhooks/", push_api.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", push_api.WebhookDetail.as_view(), name="api-webhook"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api.ApiDocs.as_view(url_name="api-schema"), name="api-docs"),
    # Any other path, also one with a line break in it (which "." does not match).
    re_path(r"^[\s\S]*\Z", api.ApiNotFound.as_view()),
]
