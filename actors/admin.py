"""The operator's admin for organisations, users and their memberships."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from patients import identity

from .models import HSA_ID_RE, Membership, Organisation, User


class EmailUserCreationForm(AdminUserCreationForm):
    # Django's forms name `username`; our users log in with their e-mail address.
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        # UserManager stores addresses in lower case; the admin must match, or a
        # second account for the same person slips past the unique constraint.
        return self.cleaned_data["email"].lower()


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        return self.cleaned_data["email"].lower()

    def clean_personal_identity_number(self):
        # Stored as the 12 digits the e-legitimation's claim is compared with.
        value = self.cleaned_data["personal_identity_number"]
        return identity.normalise(value) if value else None

    def clean_hsa_id(self):
        value = self.cleaned_data["hsa_id"]
        if value and not HSA_ID_RE.match(value):
            raise ValidationError(_("An HSA-id looks like SE2321000032-abc123."))
        return value or None


class UserMembershipInline(admin.TabularInline):
    """A staff member's roles; this is where a membership is added."""

    model = Membership
    extra = 0
    fields = ["organisation", "role", "title", "phone", "active"]
    autocomplete_fields = ["organisation"]

    def get_queryset(self, request):
        # Each row's header prints the membership, which names user and organisation.
        return super().get_queryset(request).select_related("user", "organisation")


class MembershipInline(admin.TabularInline):
    """An organisation's staff. The person is shown, not chosen: an organisation has
    hundreds of staff and a chooser per row costs a query per row. Add people to an
    organisation from the user's page or the membership list."""

    model = Membership
    extra = 0
    fields = ["user", "role", "title", "phone", "active"]
    readonly_fields = ["user"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "organisation")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "phone")}),
        (_("E-legitimation"), {"fields": ("personal_identity_number", "hsa_id")}),
        (
            _("Permissions"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
            },
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "first_name",
                    "last_name",
                    "phone",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups")},
        ),
    )
    readonly_fields = ["last_login", "date_joined"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["email"]
    inlines = [UserMembershipInline]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "principal", "hsa_id", "codes"]
    list_filter = ["kind"]
    list_select_related = ["principal"]
    search_fields = ["name", "hsa_id"]
    autocomplete_fields = ["parent"]
    # The principal follows from the tree (Organisation.save); it is shown, not chosen.
    readonly_fields = ["principal", "created_at"]
    fields = [
        "name",
        "kind",
        "parent",
        "principal",
        "hsa_id",
        "county_code",
        "municipality_code",
        "phone",
        "address",
        "created_at",
    ]
    inlines = [MembershipInline]

    @admin.display(description=_("codes"))
    def codes(self, obj):
        return " / ".join(code for code in (obj.county_code, obj.municipality_code) if code)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "title", "active"]
    list_filter = ["role", "active"]
    list_select_related = ["user", "organisation"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]
    readonly_fields = ["created_at"]
