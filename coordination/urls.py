from django.urls import path

from . import views

app_name = "coordination"

urlpatterns = [
    path("coordination/", views.overview, name="overview"),
    path("coordination/care-contacts/", views.care_contacts, name="care_contacts"),
    path(
        "coordination/care-contacts/<int:contract_id>/assign/",
        views.assign_care_contact,
        name="assign_care_contact",
    ),
    path("coordination/next-steps/", views.next_steps, name="next_steps"),
    path("coordination/outcomes/", views.outcomes, name="outcomes"),
    path("coordination/commitments/", views.commitments, name="commitments"),
    path("coordination/reviews/", views.reviews, name="reviews"),
    path("coordination/discharges/", views.discharges, name="discharges"),
    path(
        "coordination/discharges/notices/<int:notice_id>/acknowledge/",
        views.acknowledge_notice,
        name="acknowledge_notice",
    ),
    path(
        "coordination/discharges/<int:admission_id>/care-contact/",
        views.appoint_discharge_contact,
        name="appoint_discharge_contact",
    ),
    path(
        "coordination/discharges/<int:admission_id>/sip/",
        views.call_sip_meeting,
        name="call_sip_meeting",
    ),
    path(
        "coordination/discharges/<int:admission_id>/sip/held/",
        views.sip_meeting_held,
        name="sip_meeting_held",
    ),
    path("coordination/failed-reminders/", views.failed_reminders, name="failed_reminders"),
    path(
        "coordination/failed-reminders/<int:notification_id>/",
        views.failed_reminder,
        name="failed_reminder",
    ),
    path("coordination/figures/", views.figures_page, name="figures"),
    path("coordination/figures.csv", views.figures_csv, name="figures_csv"),
    # For the patient (and a proxy who may write), linked from the plan page.
    path("my-plan/survey/<int:next_step_id>/", views.survey, name="survey"),
]
