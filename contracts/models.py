"""The patient contract (patientkontrakt) and its parts, its history and the outbox."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from actors.models import Organisation
from naravard.dbutil import CurrentTxid
from patients.models import AppendOnlyModel, Patient, Relative, SealedModel


def indexed_where_set(prefix: str, *references: str) -> list[models.Index]:
    """An index on each reference (foreign key) that most rows leave empty, holding only
    the rows where it is set, named `{prefix}_{reference}`. Every lookup by a reference
    names a value, which the partial index serves, and a row written without one writes
    no entry in it."""
    return [
        models.Index(
            fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"{prefix}_{name}"
        )
        for name in references
    ]


class ContractQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Contract.Status.ACTIVE)

    def open(self):
        return self.filter(status__in=Contract.OPEN_STATUSES)

    def without_care_contact(self):
        return self.exclude(care_contacts__ended_on__isnull=True, care_contacts__isnull=False)

    def visible_to_organisation(self, organisation):
        """Plans of the patients one organisation may see (patients.access, the one rule)."""
        from patients.access import patients_visible_to_organisation

        return self.filter(patient__in=patients_visible_to_organisation(organisation))

    def with_parts(self):
        """Everything a whole plan shows (ContractOut, FHIR's CarePlan and Tasks), in a
        fixed number of queries whatever the number or size of the plans."""
        return self.prefetch_related(
            "goals",
            models.Prefetch("next_steps", NextStep.objects.select_related("organisation", "staff")),
            models.Prefetch(
                "commitments",
                Commitment.objects.select_related(
                    "owner_organisation", "owner_staff", "owner_relative"
                ),
            ),
            models.Prefetch(
                "care_contacts",
                FixedCareContact.objects.select_related("staff", "organisation").order_by("id"),
            ),
            "warning_signs",
            "contact_paths",
        )


class Contract(models.Model):
    """One shared plan (sammanhållen planering) for one patient, versioned.

    Every write goes through `contracts.services`, which bumps `version` and writes
    an Event; a write that names an older version is refused."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = (Status.DRAFT, Status.ACTIVE)

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="contracts"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    what_matters = models.TextField(_("what matters to me"), blank=True)
    agreed_version = models.PositiveIntegerField(_("agreed version"), null=True, blank=True)
    agreed_at = models.DateTimeField(_("agreed"), null=True, blank=True)
    review_due = models.DateField(_("review due"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ContractQuerySet.as_manager()

    class Meta:
        verbose_name = _("patient contract")
        verbose_name_plural = _("patient contracts")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["draft", "active"]),
                name="one_open_contract_per_patient",
            ),
            models.CheckConstraint(
                name="agreed_version_not_ahead",
                condition=Q(agreed_version__isnull=True)
                | Q(agreed_version__lte=models.F("version")),
            ),
        ]
        indexes = [models.Index(fields=["status", "review_due"])]

    def __str__(self):
        return _("Plan for %(patient)s (version %(version)s)") % {
            "patient": self.patient,
            "version": self.version,
        }

    @property
    def changed_since_agreed(self) -> bool:
        return self.agreed_version is not None and self.agreed_version < self.version


class Goal(models.Model):
    """A goal the patient sets, part of "what matters to me"."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="goals")
    text = models.CharField(_("goal"), max_length=500)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    achieved_at = models.DateTimeField(_("achieved"), null=True, blank=True)

    class Meta:
        verbose_name = _("goal")
        verbose_name_plural = _("goals")
        ordering = ["position", "id"]

    def __str__(self):
        return self.text


class Channel(models.TextChoices):
    VISIT = "visit", _("Visit")
    VIDEO = "video", _("Video")
    PHONE = "phone", _("Phone")
    HOME_VISIT = "home_visit", _("Home visit")


class NextStepQuerySet(models.QuerySet):
    def planned(self):
        return self.filter(status=NextStep.Status.PLANNED)


class NextStep(models.Model):
    """My next step (mitt nästa steg): an agreed time, place or channel, with whom and why.

    After it happens its outcome is recorded and the following step agreed."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        MISSED = "missed", _("Did not happen")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="next_steps")
    scheduled_at = models.DateTimeField(_("when"))
    channel = models.CharField(_("how"), max_length=12, choices=Channel.choices)
    location = models.CharField(_("where"), max_length=200, blank=True)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), null=True, on_delete=models.PROTECT
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("with whom"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    with_whom = models.CharField(_("with whom"), max_length=200, blank=True)
    purpose = models.TextField(_("why"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    outcome = models.TextField(_("outcome"), blank=True)
    outcome_recorded_at = models.DateTimeField(_("outcome recorded"), null=True, blank=True)
    outcome_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    follows = models.OneToOneField(
        "self",
        verbose_name=_("follows"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followed_by",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = NextStepQuerySet.as_manager()

    class Meta:
        verbose_name = _("next step")
        verbose_name_plural = _("next steps")
        ordering = ["scheduled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract"], condition=Q(status="planned"), name="one_planned_next_step"
            ),
            models.CheckConstraint(
                name="done_step_has_outcome",
                condition=~Q(status="done") | ~Q(outcome=""),
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return f"{self.get_channel_display()} {self.scheduled_at:%Y-%m-%d %H:%M}"


class OwnerKind(models.TextChoices):
    PATIENT = "patient", _("Me")
    RELATIVE = "relative", _("Relative")
    ORGANISATION = "organisation", _("Organisation")
    STAFF = "staff", _("Named staff member")


class CommitmentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=Commitment.Status.OPEN)

    def overdue(self, today):
        return self.open().filter(due_date__lt=today)


class Commitment(models.Model):
    """Who does what (vem gör vad): one promise with one owner.

    The patient's own commitments are self-care (egenvård)."""

    class Status(models.TextChoices):
        OPEN = "open", _("To do")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="commitments")
    owner_kind = models.CharField(_("who"), max_length=14, choices=OwnerKind.choices)
    owner_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commitments",
    )
    # Indexed only where set (see Meta.indexes), as are the other mostly empty references.
    owner_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commitments",
        db_index=False,
    )
    owner_relative = models.ForeignKey(
        Relative,
        verbose_name=_("relative"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commitments",
        db_index=False,
    )
    what = models.TextField(_("what"))
    due_date = models.DateField(_("by when"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="open")
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Set by the sweeps: the due date whose "commitment is late" follow-up task exists,
    # so a sweep looks at a late commitment once per due date instead of every run. A
    # new date or status sends it back through the sweep (see the indexes below).
    overdue_task_for = models.DateField(null=True, blank=True, editable=False)

    # The plain fields a writer sets as they are, from a page form or the API: the
    # services take them by name, check them by this model's rules, and put them in the
    # event's before and after. The owner and the status have use cases of their own.
    EDITABLE = ("what", "due_date")

    @classmethod
    def editable_in(cls, data) -> dict:
        """The EDITABLE fields that data (a form's cleaned data, an API body) sets."""
        return {name: data[name] for name in cls.EDITABLE if name in data}

    objects = CommitmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("commitment")
        verbose_name_plural = _("commitments")
        ordering = ["due_date", "id"]
        constraints = [
            # Exactly the owner reference that the owner kind names is set.
            models.CheckConstraint(
                name="commitment_owner_matches_kind",
                condition=(
                    Q(
                        owner_kind="patient",
                        owner_organisation__isnull=True,
                        owner_staff__isnull=True,
                        owner_relative__isnull=True,
                    )
                    | Q(
                        owner_kind="relative",
                        owner_relative__isnull=False,
                        owner_organisation__isnull=True,
                        owner_staff__isnull=True,
                    )
                    | Q(
                        owner_kind="organisation",
                        owner_organisation__isnull=False,
                        owner_staff__isnull=True,
                        owner_relative__isnull=True,
                    )
                    | Q(
                        owner_kind="staff",
                        owner_staff__isnull=False,
                        owner_organisation__isnull=False,
                        owner_relative__isnull=True,
                    )
                ),
            ),
            models.CheckConstraint(
                name="done_commitment_has_time",
                condition=~Q(status="done") | Q(completed_at__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            # References that most rows leave empty are indexed where they are set: the
            # lookups (a person's commitments, deleting a referenced row) name a value,
            # and an open commitment, the kind the sweep marks, then writes two or three
            # index entries fewer.
            *indexed_where_set("commitment", "owner_staff", "owner_relative", "completed_by"),
            # What the overdue sweep has not looked at: every open dated commitment
            # until its late task is made. The sweep's WHERE implies this condition and
            # it takes a batch in this index's order, (due_date, id), which the
            # (status, due_date) index gives only with a sort on top. The planner cannot
            # know that the marked commitments are most of the late ones: ordered by
            # due_date alone, it chose that index and read past every marked one
            # (tests/test_sweeps.py).
            models.Index(
                fields=["due_date", "id"],
                condition=Q(status="open", due_date__isnull=False, overdue_task_for__isnull=True),
                name="commitment_late_unseen",
            ),
            # Late tasks whose cause may have gone: done, cancelled or moved since.
            models.Index(
                fields=["overdue_task_for"],
                condition=Q(overdue_task_for__isnull=False)
                & ~Q(status="open", due_date=models.F("overdue_task_for")),
                name="commitment_overdue_stale",
            ),
        ]

    def __str__(self):
        return self.what[:60]

    @property
    def is_self_care(self) -> bool:
        return self.owner_kind == OwnerKind.PATIENT


class FixedCareContact(models.Model):
    """The fixed care contact (fast vårdkontakt): one named person to turn to.

    Assignments are kept as history; the current one has no end date."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="care_contacts")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        on_delete=models.PROTECT,
        related_name="care_contact_for",
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT
    )
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)
    how_to_reach = models.CharField(_("how to reach"), max_length=300, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("fixed care contact")
        verbose_name_plural = _("fixed care contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["contract"], condition=Q(ended_on__isnull=True), name="one_current_contact"
            )
        ]

    def __str__(self):
        return str(self.staff)


class WarningSign(models.Model):
    """What I keep an eye on (vad jag ska hålla koll på) and what to do then."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="warning_signs")
    sign = models.CharField(_("if I notice"), max_length=300)
    action = models.CharField(_("then I"), max_length=300)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("warning sign")
        verbose_name_plural = _("warning signs")
        ordering = ["position", "id"]

    def __str__(self):
        return self.sign


class ContactPath(models.Model):
    """How to reach whom: web booking, phone, video, secure message, e-services."""

    class Kind(models.TextChoices):
        WEB_BOOKING = "web_booking", _("Web booking")
        PHONE = "phone", _("Phone")
        VIDEO = "video", _("Video")
        SECURE_MESSAGE = "secure_message", _("Secure message")
        E_SERVICE = "e_service", _("E-service")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="contact_paths")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=200)
    value = models.CharField(_("number or address"), max_length=300)
    hours = models.CharField(_("when"), max_length=200, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("contact path")
        verbose_name_plural = _("contact paths")
        ordering = ["position", "id"]

    def __str__(self):
        return self.label


class Event(SealedModel):
    """One change to a plan: who, when, what, before and after. Append-only.

    The plan's audit trail and the patient's "what changed"."""

    class Kind(models.TextChoices):
        """Every kind of event the code writes; contracts.wording has a sentence for each.

        Not every event is a change to a plan: the patient's registration, consent and
        care team, the discharge steps and survey answers name no contract."""

        # The plan and its parts (contracts.services).
        CONTRACT_CREATED = "contract_created", _("Plan started")
        WHAT_MATTERS_CHANGED = "what_matters_changed", _("What matters changed")
        WARNING_SIGNS_CHANGED = "warning_signs_changed", _("Warning signs changed")
        CONTACT_PATHS_CHANGED = "contact_paths_changed", _("Contact paths changed")
        NEXT_STEP_AGREED = "next_step_agreed", _("Next step agreed")
        NEXT_STEP_OUTCOME = "next_step_outcome", _("Outcome of the next step")
        COMMITMENT_ADDED = "commitment_added", _("Commitment added")
        COMMITMENT_COMPLETED = "commitment_completed", _("Commitment ticked off")
        COMMITMENT_REOPENED = "commitment_reopened", _("Commitment marked as not done")
        COMMITMENT_CHANGED = "commitment_changed", _("Commitment changed")
        CARE_CONTACT_ASSIGNED = "care_contact_assigned", _("Fixed care contact assigned")
        PLAN_AGREED = "plan_agreed", _("Plan agreed to")
        # Follow-up tasks (reminders.followup).
        FOLLOW_UP_DONE = "follow_up_done", _("Follow-up done")
        # The patient, consent, care team and relatives (patients.services).
        PATIENT_REGISTERED = "patient_registered", _("Patient registered")
        CONSENT_GIVEN = "consent_given", _("Consent given")
        CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
        CARE_TEAM_JOINED = "care_team_joined", _("Joined the care team")
        RELATIVE_ACCESS_CHANGED = "relative_access_changed", _("Relative's access changed")
        EMERGENCY_ACCESS_REVIEWED = (
            "emergency_access_reviewed",
            _("Emergency access reviewed"),
        )
        # Discharge from hospital and the survey (coordination.services).
        ADMISSION_REGISTERED = "admission_registered", _("Hospital stay registered")
        ADMISSION_NOTICE_SENT = "admission_notice_sent", _("Admission notice sent")
        DISCHARGE_NOTICE_SENT = "discharge_notice_sent", _("Discharge notice sent")
        DISCHARGE_PLANNED = "discharge_planned", _("Discharge planned")
        READY_FOR_DISCHARGE = "ready_for_discharge", _("Ready for discharge")
        DISCHARGED = "discharged", _("Discharged")
        DISCHARGE_NOTICE_ACKNOWLEDGED = (
            "discharge_notice_acknowledged",
            _("Discharge notice acknowledged"),
        )
        DISCHARGE_CARE_CONTACT_APPOINTED = (
            "discharge_care_contact_appointed",
            _("Fixed care contact for the discharge appointed"),
        )
        SIP_MEETING_CALLED = "sip_meeting_called", _("SIP meeting called")
        SIP_MEETING_HELD = "sip_meeting_held", _("SIP meeting held")
        SURVEY_ANSWERED = "survey_answered", _("Survey answered")

    class ActorKind(models.TextChoices):
        STAFF = "staff", _("Staff")
        PATIENT = "patient", _("Patient")
        RELATIVE = "relative", _("Relative")
        INTEGRATION = "integration", _("Integration")
        SYSTEM = "system", _("System")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="events")
    # Null for changes to the patient's team and consent made outside any plan.
    contract = models.ForeignKey(
        Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    version = models.PositiveIntegerField(_("version"), null=True, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_kind = models.CharField(_("by whom"), max_length=12, choices=ActorKind.choices)
    # For integrations the API client's name, for jobs the job's: who acted when no
    # person did.
    actor_label = models.CharField(_("through"), max_length=100, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    # The writing transaction, for a change feed that misses nothing (see CurrentTxid).
    txid = models.BigIntegerField(null=True, editable=False, db_default=CurrentTxid())

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("event history")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["contract", "-at"]),
            models.Index(fields=["patient", "-at"]),
            models.Index(fields=["txid", "id"], name="event_feed_order"),
            # The chain in order, and the rows still to seal (naravard.chain).
            models.Index(
                fields=["seal_seq"], condition=Q(seal_seq__isnull=False), name="event_chain"
            ),
            models.Index(fields=["id"], condition=Q(seal_seq__isnull=True), name="event_unsealed"),
        ]

    def __str__(self):
        return f"{self.kind} v{self.version}"


class Notification(models.Model):
    """The outbox: one row per reminder or message to send.

    The dedupe key is unique, so a sweep that runs twice creates nothing twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Channel(models.TextChoices):
        SMS = "sms", _("Text message")
        EMAIL = "email", _("E-mail")

    class Kind(models.TextChoices):
        # Each has its text in reminders.messages.WRITERS.
        NEXT_STEP_REMINDER = "next_step_reminder", _("Reminder of the next step")
        COMMITMENT_DUE = "commitment_due", _("Reminder of a commitment")
        FOLLOW_UP = "follow_up", _("Notice of a follow-up task")
        CARE_CONTACT_ASSIGNED = "care_contact_assigned", _("Notice of a new fixed care contact")
        EMERGENCY_ACCESS = "emergency_access", _("Notice of an emergency read")
        # Who may see the plan changed (reminders.notify.sharing_changed).
        SHARING_CHANGED = "sharing_changed", _("Notice of a change in who can see the plan")

    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    recipient_patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    address = models.CharField(_("address"), max_length=254)
    contract = models.ForeignKey(
        Contract, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("message"))
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Set by the sweeps (issue 6): what the reminder is about, so the sender can write
    # the text at send time and drop a reminder whose step or commitment has changed.
    next_step = models.ForeignKey(
        NextStep, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    commitment = models.ForeignKey(
        Commitment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    follow_up = models.ForeignKey(
        "FollowUpTask", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Not worth sending after this (a 48 h reminder once the 2 h one is due).
    expires_at = models.DateTimeField(_("too late after"), null=True, blank=True)
    # A sender's claim: while `sending`, nobody else touches the row until the lease
    # ends; the token fences off a sender that comes back after losing its lease.
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    # A failed one that a coordinator has taken care of another way (a phone call): it
    # leaves their queue of failed reminders (coordination.queues.failed_reminders).
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="notification_pending_due"
            ),
            models.Index(
                fields=["lease_until"],
                condition=Q(status="sending"),
                name="notification_sending_lease",
            ),
            # The coordinators' queue: few rows, so the outbox's writes pay nothing.
            models.Index(
                fields=["created_at"],
                condition=Q(status="failed", handled_at__isnull=True),
                name="notification_failed_open",
            ),
        ]

    def __str__(self):
        return f"{self.kind} → {self.address} ({self.status})"


class NotificationAttempt(AppendOnlyModel):
    """One try at delivering a notification: the outbox's delivery log. Append-only.

    The error text names the failure (a refused number, a timeout), never the message."""

    notification = models.ForeignKey(
        Notification, on_delete=models.PROTECT, related_name="delivery_log"
    )
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    at = models.DateTimeField(_("time"), default=timezone.now)
    ok = models.BooleanField(_("delivered"))
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery log")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.notification_id} #{self.attempt} {'ok' if self.ok else 'error'}"


class FollowUpTaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=FollowUpTask.Status.OPEN)


class FollowUpTask(models.Model):
    """Something a staff member or unit must follow up (uppföljning), made by the jobs.

    Like notifications, each has a unique dedupe key: a sweep that runs twice makes
    one task. Assigned to a named staff member, or to an organisation whose
    coordinators share it out."""

    class Kind(models.TextChoices):
        NEXT_STEP_NO_OUTCOME = "next_step_no_outcome", _("Record what came of a next step")
        NO_CARE_CONTACT = "no_care_contact", _("Choose a fixed care contact")
        COMMITMENT_OVERDUE = "commitment_overdue", _("Follow up a commitment that is late")
        REVIEW_DUE = "review_due", _("Review the plan with the patient")
        CALL_BEFORE_NEXT_STEP = "call_before_next_step", _("Call the patient before the next step")
        # An emergency read (nödåtkomst) nobody reviewed in time (reminders.sweeps).
        EMERGENCY_UNREVIEWED = (
            "emergency_unreviewed",
            _("Have an emergency read of the plan reviewed"),
        )

    class Status(models.TextChoices):
        OPEN = "open", _("To do")
        DONE = "done", _("Done")

    # Migration 0007 dropped the LIKE index Django makes beside a unique text column on
    # PostgreSQL (no query matches a dedupe key by pattern); altering this field in a
    # later migration would make it again.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="follow_ups")
    # Indexed only where set (see Meta.indexes): each kind of task sets one of the two.
    next_step = models.ForeignKey(
        NextStep, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    commitment = models.ForeignKey(
        Commitment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    assigned_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="follow_ups",
    )
    assigned_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="follow_ups",
    )
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    objects = FollowUpTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["assigned_staff", "due_at"],
                condition=Q(status="open"),
                name="follow_up_open_by_staff",
            ),
            models.Index(
                fields=["assigned_organisation", "due_at"],
                condition=Q(status="open"),
                name="follow_up_open_by_org",
            ),
            # The open tasks the sweep re-checks one by one; late-commitment tasks,
            # most of them, are found from their commitment instead.
            models.Index(
                fields=["kind"],
                condition=Q(status="open") & ~Q(kind="commitment_overdue"),
                name="follow_up_open_by_kind",
            ),
            *indexed_where_set("follow_up", "next_step", "commitment", "done_by"),
        ]
        constraints = [
            models.CheckConstraint(
                name="done_follow_up_has_time",
                condition=~Q(status="done") | Q(done_at__isnull=False),
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_status_display()})"
