"""URLs of the access pages: the patient's log, consent and relatives; emergency access."""

from django.urls import path

from . import access_views as views

app_name = "access"
urlpatterns = [
    path("my-plan/access-log/", views.access_log, name="log"),
    path("my-plan/consent/", views.consent, name="consent"),
    path(
        "my-plan/consent/<int:organisation_id>/<str:change>/",
        views.consent_change,
        name="consent_change",
    ),
    path("my-plan/relatives/", views.relatives, name="relatives"),
    path("my-plan/relatives/<int:relative_id>/", views.relative_access, name="relative_access"),
    path("patients/<int:patient_id>/emergency/", views.emergency, name="emergency"),
    path("access/emergency/", views.emergency_reads, name="emergency_reads"),
    path("access/emergency/<int:entry_id>/", views.emergency_review, name="emergency_review"),
]
