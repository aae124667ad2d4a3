"""The operator's view of discharges and survey answers: read-only.

Every step of a discharge writes an event and moves deadlines (coordination.services);
an edit here would do neither, so the admin shows these rows and changes nothing."""

from django.contrib import admin

from patients.admin import ReadOnlyAdminMixin

from .models import Admission, DischargeNotice, SipMeeting, SurveyAnswer


class NoticeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DischargeNotice
    extra = 0
    fields = ["kind", "to_organisation", "sent_at", "acknowledged_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("to_organisation")


@admin.register(Admission)
class AdmissionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "hospital_unit", "admitted_at", "ready_for_discharge_at", "discharged_at"]
    list_select_related = ["hospital_unit"]
    list_filter = ["hospital_unit"]
    date_hierarchy = "admitted_at"
    # Names and identity numbers stay on the plan pages, where reads are logged.
    exclude = ["patient"]
    inlines = [NoticeInline]


@admin.register(SipMeeting)
class SipMeetingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "admission", "called_at", "meeting_at", "held_at"]
    list_select_related = ["admission"]


@admin.register(SurveyAnswer)
class SurveyAnswerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "answer", "answered_at"]
    exclude = ["patient", "next_step"]
