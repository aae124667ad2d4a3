from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    # The patient's own plan, and a relative's view of it.
    path("my-plan/", views.my_plan, name="my_plan"),
    path("my-plan/next-step.ics", views.next_step_ics, name="my_next_step_ics"),
    path("my-plan/<int:patient_id>/", views.relative_plan, name="relative_plan"),
    path("my-plan/<int:patient_id>/next-step.ics", views.next_step_ics, name="next_step_ics"),
    # The same plan as the care team sees it.
    path("patients/<int:patient_id>/plan/", views.staff_plan, name="staff_plan"),
    # Writes and sections, one URL per use case, for all three kinds of viewer.
    path("plan/<int:patient_id>/start/", views.start_plan, name="start_plan"),
    path("plan/<int:patient_id>/what-matters/", views.what_matters, name="what_matters"),
    path("plan/<int:patient_id>/warning-signs/", views.warning_signs, name="warning_signs"),
    path("plan/<int:patient_id>/contact-paths/", views.contact_paths, name="contact_paths"),
    path("plan/<int:patient_id>/agree/", views.agree, name="agree"),
    path("plan/<int:patient_id>/next-step/", views.agree_next_step, name="agree_next_step"),
    path("plan/<int:patient_id>/next-step/outcome/", views.record_outcome, name="record_outcome"),
    path("plan/<int:patient_id>/commitments/", views.add_commitment, name="add_commitment"),
    path(
        "plan/<int:patient_id>/commitments/<int:commitment_id>/",
        views.change_commitment,
        name="change_commitment",
    ),
    path(
        "plan/<int:patient_id>/commitments/<int:commitment_id>/done/",
        views.tick_commitment,
        name="tick_commitment",
    ),
    path("plan/<int:patient_id>/history/", views.history, name="history"),
]
