"""The operator's admin for patient contracts, their history and the notification outbox.

Edits through the admin bypass `contracts.services`: no event is written and the
version is not bumped, so the patient would not see the change in "what changed"
or as "changed since you agreed". The plan's content (what matters, the parts in
the inlines, the agreed version) is therefore shown read-only here; only the
operational fields of a contract (status, review date, closing time) can be fixed.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from patients.admin import AccessLoggedAdminMixin, ReadOnlyAdminMixin
from reminders import outbox

from .models import (
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    FollowUpTask,
    Goal,
    NextStep,
    Notification,
    NotificationAttempt,
    WarningSign,
)


class PlanPartInline(ReadOnlyAdminMixin, admin.TabularInline):
    """One part of the plan, shown read-only (see the module docstring)."""

    extra = 0
    select_related: tuple[str, ...] = ()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.select_related)


class GoalInline(PlanPartInline):
    model = Goal
    fields = ["text", "position", "achieved_at"]


class NextStepInline(PlanPartInline):
    model = NextStep
    fields = [
        "scheduled_at",
        "channel",
        "location",
        "organisation",
        "staff",
        "with_whom",
        "purpose",
        "status",
        "outcome",
        "outcome_recorded_at",
    ]
    select_related = ("organisation", "staff")


class CommitmentInline(PlanPartInline):
    model = Commitment
    fields = [
        "what",
        "owner_kind",
        "owner_organisation",
        "owner_staff",
        "owner_relative",
        "due_date",
        "status",
        "completed_at",
    ]
    select_related = ("owner_organisation", "owner_staff", "owner_relative")


class FixedCareContactInline(PlanPartInline):
    model = FixedCareContact
    fields = ["staff", "organisation", "started_on", "ended_on", "how_to_reach"]
    select_related = ("staff", "organisation")


class WarningSignInline(PlanPartInline):
    model = WarningSign
    fields = ["sign", "action", "position"]


class ContactPathInline(PlanPartInline):
    model = ContactPath
    fields = ["kind", "label", "value", "hours", "organisation", "position"]
    select_related = ("organisation",)


@admin.register(Contract)
class ContractAdmin(AccessLoggedAdminMixin, admin.ModelAdmin):
    list_display = ["patient", "status", "version", "agreed_version", "review_due", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["patient"]
    search_fields = ["patient__identity_number", "patient__given_name", "patient__family_name"]
    date_hierarchy = "updated_at"
    fields = [
        "patient",
        "status",
        "version",
        "what_matters",
        "agreed_version",
        "agreed_at",
        "review_due",
        "created_at",
        "updated_at",
        "closed_at",
        "created_by",
    ]
    readonly_fields = [
        "patient",
        "version",
        "what_matters",
        "agreed_version",
        "agreed_at",
        "created_at",
        "updated_at",
        "created_by",
    ]
    inlines = [
        GoalInline,
        NextStepInline,
        CommitmentInline,
        FixedCareContactInline,
        WarningSignInline,
        ContactPathInline,
    ]

    def has_add_permission(self, request):
        # services.create_contract checks the care team, sets the review date and
        # writes the "contract created" event; a plan made here would have none.
        return False


@admin.register(Event)
class EventAdmin(AccessLoggedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The plan's audit trail: append-only, and PostgreSQL refuses UPDATE and DELETE too."""

    list_display = ["at", "kind", "patient", "version", "actor", "actor_kind", "organisation"]
    list_filter = ["actor_kind", "kind"]
    list_select_related = ["patient", "actor", "organisation"]
    date_hierarchy = "at"
    search_fields = ["patient__identity_number", "kind"]


class NotificationAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The delivery log: every try, with its error (append-only)."""

    model = NotificationAttempt
    extra = 0
    fields = ["attempt", "at", "ok", "error"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The outbox: read-only, but failed rows can be sent again."""

    list_display = ["kind", "channel", "status", "due_at", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["dedupe_key", "kind"]
    date_hierarchy = "due_at"
    actions = ["retry_failed"]
    inlines = [NotificationAttemptInline]

    def has_retry_permission(self, request):
        # The rows are read-only in the form, but retrying is a change all the same.
        return request.user.has_perm("contracts.change_notification")

    @admin.action(description=_("Retry failed notifications"), permissions=["retry"])
    def retry_failed(self, request, queryset):
        # Only failed rows (outbox.retry_failed): a pending or sent row must not be sent twice.
        count = outbox.retry_failed(queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d notification will be sent again.",
                "%(count)d notifications will be sent again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(AccessLoggedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Follow-up tasks made by the jobs; staff close them in the worklist, not here."""

    def patient_of(self, obj):
        return obj.contract.patient

    list_display = ["kind", "status", "due_at", "assigned_staff", "assigned_organisation"]
    list_filter = ["status", "kind"]
    list_select_related = ["assigned_staff", "assigned_organisation"]
    search_fields = ["dedupe_key", "kind"]
    date_hierarchy = "due_at"
