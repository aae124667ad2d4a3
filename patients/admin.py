"""The operator's admin for patients, their relatives, consent, care team and access log.

Registering a patient, consent (samtycke, spärr), joining the care team and a
relative's access are written by `patients.services`, which also write the event
the patient sees in "what changed". The admin shows those rows but does not edit
them: an edit here would change the plan's audience with no event behind it. A
relative's access and removal may be changed here, through the same services.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from contracts.history import Actor

from .access import log_admin_listed, log_admin_read
from .identity import normalise
from .models import (
    AccessLogEntry,
    CareTeamMember,
    Consent,
    EmergencyReview,
    Patient,
    Relative,
)
from .services import remove_relative, set_relative_access


class ReadOnlyAdminMixin:
    """For rows the admin may show but never add, change or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _operator(request) -> Actor:
    # The operator acts in no organisation; the history names them.
    return Actor.staff(request.user, None)


def save_relative(request, relative: Relative, change: bool) -> None:
    """Save the admin's form for a relative: the access it names goes through
    services.set_relative_access (the event and the patient's notice), the other
    fields are saved as they are."""
    access = relative.access
    relative.access = (
        Relative.objects.filter(pk=relative.pk).values_list("access", flat=True).first()
        if change and relative.pk
        else Relative.Access.NONE
    )
    relative.save()
    if access != relative.access:
        set_relative_access(actor=_operator(request), relative=relative, access=access)


class RelativeInline(admin.TabularInline):
    model = Relative
    extra = 0
    fields = ["name", "relation", "phone", "email", "user", "access"]
    # Access changes and removals go through services (PatientAdmin.save_formset), which
    # write the event and tell the patient. The login is linked on the relative's own
    # page: a widget per row here would cost a query per row, and linking a login is as
    # weighty as granting access.
    readonly_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class ConsentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Consent
    extra = 0
    fields = ["organisation", "status", "given_at", "withdrawn_at", "recorded_by"]

    def get_queryset(self, request):
        # Each row's header prints the consent, which names patient and organisation.
        return (
            super().get_queryset(request).select_related("patient", "organisation", "recorded_by")
        )


class CareTeamMemberInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CareTeamMember
    extra = 0
    fields = ["organisation", "staff", "responsibility", "active", "joined_at", "left_at"]
    readonly_fields = ["joined_at"]  # auto_now_add, so not a form field even when viewing

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("patient", "organisation", "staff")


class AccessLoggedAdminMixin:
    """Opening a patient's record in the admin is a read of health data (PDL): log it."""

    def patient_of(self, obj):
        return obj.patient

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            log_admin_read(request.user, self.patient_of(obj), self.opts.verbose_name)
        return obj


class ListingLoggedAdminMixin:
    """A list or search page that names patients is a read of patient data (PDL): one
    `search` row per patient shown, written before the page is rendered."""

    listing_patient_field = "patient_id"

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        what = _("admin search") if changelist.query else _("admin list")
        ids = [getattr(row, self.listing_patient_field) for row in changelist.result_list]
        log_admin_listed(request.user, ids, f"{what}: {self.opts.verbose_name_plural}")
        return changelist


@admin.register(Patient)
class PatientAdmin(ListingLoggedAdminMixin, AccessLoggedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "identity", "support_profile"]
    list_filter = ["support_profile", "preferred_channel", "identity_kind"]
    search_fields = ["identity_number", "given_name", "family_name"]
    autocomplete_fields = ["user"]
    # The identity number is parsed (kind, date of birth) by services.register_patient.
    readonly_fields = ["identity_number", "identity_kind", "birth_date", "created_at", "updated_at"]
    inlines = [RelativeInline, ConsentInline, CareTeamMemberInline]
    listing_patient_field = "pk"

    def has_add_permission(self, request):
        # Registration goes through services.register_patient: it normalises the
        # identity number and writes the "patient registered" event.
        return False

    def patient_of(self, obj):
        return obj

    def save_formset(self, request, form, formset, change):
        if formset.model is not Relative:
            return super().save_formset(request, form, formset, change)
        relatives = formset.save(commit=False)
        for relative in formset.deleted_objects:
            remove_relative(actor=_operator(request), relative=relative)
        for relative in relatives:
            save_relative(request, relative, change=relative.pk is not None)
        return None

    @admin.display(description=_("name"), ordering="family_name")
    def name(self, obj):
        return obj.full_name

    @admin.display(description=_("identity number"), ordering="identity_number")
    def identity(self, obj):
        return obj.identity_display

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Stored numbers are 12 digits; staff type "19121212-1212" or "121212-1212".
        try:
            number = normalise(search_term.strip())
        except ValidationError:
            return results, may_have_duplicates
        return results | queryset.filter(identity_number=number), may_have_duplicates


@admin.register(Relative)
class RelativeAdmin(ListingLoggedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "relation", "patient", "access", "user"]
    list_filter = ["access"]
    list_select_related = ["patient", "user"]
    search_fields = [
        "name",
        "patient__identity_number",
        "patient__given_name",
        "patient__family_name",
    ]
    autocomplete_fields = ["patient", "user"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A relative belongs to one patient and one login; moving either would carry
        # the access along to someone else with no event behind it.
        if obj is not None:
            return [*self.readonly_fields, "patient", "user"]
        return self.readonly_fields

    # Access changes and removals go through the services: the patient's history says
    # who changed it, and the patient is told (reminders.notify.sharing_changed).
    def save_model(self, request, obj, form, change):
        save_relative(request, obj, change)

    def delete_model(self, request, obj):
        remove_relative(actor=_operator(request), relative=obj)

    def delete_queryset(self, request, queryset):
        for relative in queryset:
            remove_relative(actor=_operator(request), relative=relative)


@admin.register(Consent)
class ConsentAdmin(ListingLoggedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["patient", "organisation", "status", "given_at", "withdrawn_at"]
    list_filter = ["status"]
    list_select_related = ["patient", "organisation"]
    search_fields = ["patient__identity_number", "patient__family_name", "organisation__name"]


@admin.register(CareTeamMember)
class CareTeamMemberAdmin(ListingLoggedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["patient", "organisation", "staff", "responsibility", "active"]
    list_filter = ["active"]
    list_select_related = ["patient", "organisation", "staff"]
    search_fields = ["patient__identity_number", "patient__family_name", "organisation__name"]


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The PDL access log: append-only, and PostgreSQL refuses UPDATE and DELETE too."""

    list_display = [
        "at",
        "user",
        "organisation",
        "patient",
        "action",
        "emergency",
        "assurance_level",
    ]
    list_filter = ["action", "emergency", "assurance_level"]
    list_select_related = ["user", "organisation", "patient"]
    date_hierarchy = "at"
    search_fields = ["patient__identity_number", "user__email"]


@admin.register(EmergencyReview)
class EmergencyReviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Reviews of emergency reads, given on the review page (patients.services)."""

    list_display = ["entry", "verdict", "reviewer", "organisation", "reviewed_at"]
    list_filter = ["verdict"]
    list_select_related = ["entry__user", "reviewer", "organisation"]
