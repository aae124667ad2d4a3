"""Patients, the people close to them, consent, the care team and the access log."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from actors.models import Organisation

from .identity import validate_identity_number


class SupportProfile(models.TextChoices):
    """The four SKR groups; they tune reminder intensity and review cadence."""

    INDEPENDENT_ENGAGED = "independent_engaged", _("Independent and engaged")
    WORRIED_ENGAGED = "worried_engaged", _("Worried and engaged")
    TRADITIONAL_UNCONCERNED = "traditional_unconcerned", _("Traditional and unconcerned")
    VULNERABLE_WORRIED = "vulnerable_worried", _("Vulnerable and worried")


class Channel(models.TextChoices):
    SMS = "sms", _("Text message")
    EMAIL = "email", _("E-mail")
    NONE = "none", _("No reminders")


class IdentityKind(models.TextChoices):
    PERSONNUMMER = "personnummer", _("Personal identity number")
    SAMORDNINGSNUMMER = "samordningsnummer", _("Coordination number")
    RESERVNUMMER = "reservnummer", _("Reserve number")


class Patient(models.Model):
    identity_number = models.CharField(
        _("identity number"),
        max_length=12,
        unique=True,
        validators=[validate_identity_number],
        help_text=_("Personnummer or samordningsnummer, 12 digits."),
    )
    identity_kind = models.CharField(
        _("kind of identity number"),
        max_length=20,
        choices=IdentityKind.choices,
        default=IdentityKind.PERSONNUMMER,
    )
    given_name = models.CharField(_("given name"), max_length=100)
    family_name = models.CharField(_("family name"), max_length=100)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    phone = models.CharField(_("mobile phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=8, default="sv")
    needs_interpreter = models.BooleanField(_("needs an interpreter"), default=False)
    easy_read = models.BooleanField(_("prefers easy-read text (lättläst)"), default=False)
    support_profile = models.CharField(
        _("support profile"),
        max_length=32,
        choices=SupportProfile.choices,
        default=SupportProfile.WORRIED_ENGAGED,
    )
    preferred_channel = models.CharField(
        _("preferred reminder channel"), max_length=8, choices=Channel.choices, default=Channel.SMS
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["family_name", "given_name"]
        indexes = [models.Index(fields=["family_name", "given_name"])]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def notice_address(self) -> str:
        """Where a text message or e-mail to the patient goes: the phone or e-mail of
        their preferred channel, or "" (no reminders, or no address for it)."""
        return {Channel.SMS: self.phone, Channel.EMAIL: self.email}.get(self.preferred_channel, "")

    @property
    def identity_display(self) -> str:
        return f"{self.identity_number[:8]}-{self.identity_number[8:]}"


class Relative(models.Model):
    """A relative or proxy (närstående, ombud) and what the patient allows them."""

    class Access(models.TextChoices):
        NONE = "none", _("No access")
        READ = "read", _("Read the plan")
        WRITE = "write", _("Read and write the plan")

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="relatives"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="relative_of",
    )
    name = models.CharField(_("name"), max_length=200)
    relation = models.CharField(_("relation"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    access = models.CharField(
        _("access"), max_length=8, choices=Access.choices, default=Access.NONE
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("relative")
        verbose_name_plural = _("relatives")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "user"],
                condition=Q(user__isnull=False),
                name="one_relative_row_per_login",
            )
        ]

    def __str__(self):
        return self.name


class Consent(models.Model):
    """The patient's consent (samtycke) for one organisation to take part in the plan.

    Withdrawing it (spärr) removes that organisation's access at once."""

    class Status(models.TextChoices):
        GIVEN = "given", _("Given")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="consents"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="consents",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    given_at = models.DateTimeField(_("given"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["patient", "organisation"], name="one_consent_per_org"),
            models.CheckConstraint(
                name="consent_status_has_time",
                condition=(Q(status="given", given_at__isnull=False))
                | Q(status="withdrawn", withdrawn_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.patient} – {self.organisation}: {self.get_status_display()}"


class CareTeamMember(models.Model):
    """An organisation, and optionally a named staff member, on a patient's care team."""

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="care_team"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="care_team_memberships",
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="care_team_memberships",
    )
    responsibility = models.CharField(_("responsibility"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        verbose_name = _("care team member")
        verbose_name_plural = _("care team members")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "organisation"],
                condition=Q(staff__isnull=True),
                name="one_team_row_per_org",
            ),
            models.UniqueConstraint(
                fields=["patient", "organisation", "staff"],
                condition=Q(staff__isnull=False),
                name="one_team_row_per_staff",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "active"])]

    def __str__(self):
        who = self.staff or self.organisation
        return f"{self.patient}: {who}"


class AppendOnlyModel(models.Model):
    """Rows that are written once and never changed or deleted (audit trails).

    PostgreSQL also refuses UPDATE and DELETE with a trigger (see the migrations)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} rows are append-only.")


class SealedModel(AppendOnlyModel):
    """An audit trail whose rows are sealed into a hash chain soon after they are written
    (naravard.chain): each seal covers the row and the seal before it, so a row changed,
    removed or put in afterwards by anyone, the database's owner included, breaks the
    chain at that row (`manage.py verify_history`). A seal is set once; the trigger lets
    nothing else change.

    New columns on a sealed table must allow NULL and default to it: a seal covers the
    row's non-null values, and old rows must verify as they were sealed."""

    seal = models.CharField(_("seal"), max_length=64, null=True, blank=True, editable=False)
    seal_seq = models.BigIntegerField(
        _("place in the chain"), null=True, blank=True, editable=False
    )

    class Meta:
        abstract = True


class EmergencyCategory(models.TextChoices):
    """Why a staff member needs emergency access (nödåtkomst): the cases PDL allows
    (4 kap. 4 §: the patient cannot consent, or asked for it, and care cannot wait)."""

    ACUTE_CANNOT_ASK = "acute_cannot_ask", _("Acute care, and the patient cannot be asked")
    PATIENT_ASKED = "patient_asked", _("The patient asked me to read it, in person")
    TEAM_UNREACHABLE = (
        "team_unreachable",
        _("Care that cannot wait, and the patient's care team cannot be reached"),
    )


class AccessLogEntry(SealedModel):
    """One read of a patient's data by staff or an integrator (PDL logging).

    Kept at least five years; the patient sees these rows as "who has read my plan"."""

    class Action(models.TextChoices):
        VIEW_PLAN = "view_plan", _("Read the plan")
        VIEW_HISTORY = "view_history", _("Read the history")
        EXPORT = "export", _("Exported the plan")
        API_READ = "api_read", _("Read through an integration")
        SEARCH = "search", _("Found in a search")
        # A staff member or integration asked for a patient they may not see: refused,
        # and written down so the patient and the reviewers see the attempt.
        DENIED = "denied", _("Tried to read the plan, and was refused")

    # The references below are not foreign keys in the database (db_constraint=False).
    # A log row names who read what at the time, and must outlive any later change to
    # those rows; and a database foreign key checks and locks the patient's row on every
    # logged read (for a change-feed page, a hundred patients at once). Every row is
    # written by patients.access or api.reads from rows read in the same
    # transaction, and PROTECT still keeps the ORM from deleting a referenced row.
    # Patients and staff are never deleted, only deactivated: the log must name them for
    # years (a row whose patient went would drop out of the views that join the patient).
    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    # Indexed (user, -at) only where there is a user: integrations' reads have none.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("read by"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        on_delete=models.PROTECT,
        db_constraint=False,
    )
    role = models.CharField(_("role"), max_length=20, blank=True)
    api_client = models.CharField(_("integration"), max_length=100, blank=True)
    # No index of its own: the (patient, -at) index below serves every lookup by patient,
    # and each index is one more write on every read that is logged.
    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        on_delete=models.PROTECT,
        related_name="access_log",
        db_index=False,
        db_constraint=False,
    )
    action = models.CharField(_("what"), max_length=20, choices=Action.choices)
    emergency = models.BooleanField(_("emergency access"), default=False)
    reason = models.TextField(_("reason"), blank=True)
    # Both NULL unless set, as a sealed table's new columns must be (SealedModel): the
    # seal covers non-null values only, so rows sealed before they existed still verify.
    # The assurance level (tillitsnivå, actors.assurance) of the reader's login; NULL for
    # integrations, which no person's e-legitimation vouches for.
    assurance_level = models.PositiveSmallIntegerField(
        _("assurance level of the login"), null=True, blank=True, default=None
    )
    reason_category = models.CharField(
        _("kind of emergency"),
        max_length=24,
        choices=EmergencyCategory.choices,
        null=True,
        blank=True,
        default=None,
    )

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["patient", "-at"]),
            models.Index(
                fields=["user", "-at"], condition=Q(user__isnull=False), name="access_log_by_user"
            ),
            # Emergency reads awaiting review: few rows, so ordinary reads pay nothing.
            models.Index(fields=["-at"], condition=Q(emergency=True), name="access_log_emergency"),
            # The chain in order, and the rows still to seal (naravard.chain).
            models.Index(
                fields=["seal_seq"], condition=Q(seal_seq__isnull=False), name="access_log_chain"
            ),
            models.Index(
                fields=["id"], condition=Q(seal_seq__isnull=True), name="access_log_unsealed"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="emergency_access_has_reason",
                condition=Q(emergency=False) | ~Q(reason=""),
            )
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.patient_id}"


class EmergencyReview(AppendOnlyModel):
    """An administrator's verdict on one emergency read (nödåtkomst): justified or not.

    Its own table because the access log is append-only; one review per read, given
    once, and written with an event in the plan's history (patients.services)."""

    class Verdict(models.TextChoices):
        JUSTIFIED = "justified", _("Justified")
        NOT_JUSTIFIED = "not_justified", _("Not justified")

    entry = models.OneToOneField(
        AccessLogEntry,
        verbose_name=_("emergency read"),
        on_delete=models.PROTECT,
        related_name="review",
        db_constraint=False,
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The organisation whose administrator the reviewer was.
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed"), auto_now_add=True)
    verdict = models.CharField(_("verdict"), max_length=16, choices=Verdict.choices)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("review of an emergency read")
        verbose_name_plural = _("reviews of emergency reads")

    def __str__(self):
        return f"{self.entry_id}: {self.verdict}"
