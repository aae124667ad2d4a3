"""Discharge from hospital (utskrivning) and SIP under Lag (2017:612), and the survey answers.

Why these live here and not in `contracts`: see the package docstring. Every write
goes through `coordination.services`; deadlines are computed there by
`contracts.days` when the notice that starts them is sent, and stored, so that a
queue or a figure can compare them in SQL and a later change of the regional
agreement does not rewrite what the deadline was at the time.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from actors.models import Organisation
from contracts.models import NextStep
from patients.models import Patient


class AdmissionQuerySet(models.QuerySet):
    def in_hospital(self):
        return self.filter(discharged_at__isnull=True)

    def involving(self, organisation_ids):
        """Admissions where one of the organisations sends or receives the notices."""
        return self.filter(
            Q(hospital_unit__in=organisation_ids)
            | Q(primary_care__in=organisation_ids)
            | Q(municipality_unit__in=organisation_ids)
        )


class Admission(models.Model):
    """A stay in inpatient care (sluten vård) after which the patient needs support
    from the municipality or primary care, so that the discharge law applies.

    The hospital unit sends the notices; the primary-care unit (vårdcentral) appoints
    the fixed care contact, who calls the SIP meeting; the municipal unit plans the
    support at home and pays once the payment liability starts."""

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="admissions"
    )
    hospital_unit = models.ForeignKey(
        Organisation,
        verbose_name=_("hospital unit"),
        on_delete=models.PROTECT,
        related_name="admissions",
    )
    primary_care = models.ForeignKey(
        Organisation,
        verbose_name=_("primary care unit"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    municipality_unit = models.ForeignKey(
        Organisation,
        verbose_name=_("municipal unit"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    admitted_at = models.DateTimeField(_("admitted"))
    planned_discharge_on = models.DateField(_("planned discharge date"), null=True, blank=True)
    ready_for_discharge_at = models.DateTimeField(
        _("ready for discharge (utskrivningsklar)"), null=True, blank=True
    )
    discharged_at = models.DateTimeField(_("discharged"), null=True, blank=True)
    # Deadlines from contracts.days, fixed when the notice that starts each was sent.
    admission_notice_due_at = models.DateTimeField(_("admission notice due"))
    sip_call_due_at = models.DateTimeField(_("SIP meeting to be called by"), null=True, blank=True)
    payment_liability_from = models.DateTimeField(
        _("municipality pays from"), null=True, blank=True
    )
    # The fixed care contact (fast vårdkontakt) in primary care, named for this discharge.
    care_contact = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("fixed care contact"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    care_contact_appointed_at = models.DateTimeField(_("contact appointed"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AdmissionQuerySet.as_manager()

    class Meta:
        verbose_name = _("admission")
        verbose_name_plural = _("admissions")
        ordering = ["-admitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(discharged_at__isnull=True),
                name="one_open_admission_per_patient",
            ),
            models.CheckConstraint(
                name="discharged_after_admission",
                condition=Q(discharged_at__isnull=True) | Q(discharged_at__gte=F("admitted_at")),
            ),
            models.CheckConstraint(
                name="ready_after_admission",
                condition=Q(ready_for_discharge_at__isnull=True)
                | Q(ready_for_discharge_at__gte=F("admitted_at")),
            ),
        ]

    def __str__(self):
        # No name: admission rows show in the admin, which is not a way to read patients.
        return f"{self.hospital_unit_id}/{self.pk} {self.admitted_at:%Y-%m-%d}"

    @property
    def receivers(self) -> list[Organisation]:
        return [self.municipality_unit, self.primary_care]


class DischargeNoticeQuerySet(models.QuerySet):
    def unacknowledged(self):
        return self.filter(acknowledged_at__isnull=True)


class DischargeNotice(models.Model):
    """One message from the hospital unit to one receiving organisation.

    A notice to the municipality and primary care is two rows, because each receiver
    acknowledges it on its own; until then it stands in the receiver's queue."""

    class Kind(models.TextChoices):
        ADMISSION = "admission", _("Admission notice (inskrivningsmeddelande)")
        PLANNED_DISCHARGE = "planned_discharge", _("Planned discharge date")
        READY = "ready_for_discharge", _("Ready for discharge (utskrivningsklar)")
        DISCHARGE = "discharge", _("Discharge notice")

    admission = models.ForeignKey(
        Admission, verbose_name=_("admission"), on_delete=models.PROTECT, related_name="notices"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    from_organisation = models.ForeignKey(
        Organisation, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+"
    )
    to_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("to"),
        on_delete=models.PROTECT,
        related_name="discharge_notices",
    )
    # For a planned-discharge notice: the date it announces (it may be sent again).
    planned_discharge_on = models.DateField(_("planned discharge date"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"))
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DischargeNoticeQuerySet.as_manager()

    class Meta:
        verbose_name = _("discharge notice")
        verbose_name_plural = _("discharge notices")
        ordering = ["sent_at", "id"]
        constraints = [
            # A new planned date is a new notice; the other kinds happen once per stay.
            models.UniqueConstraint(
                fields=["admission", "kind", "to_organisation"],
                condition=~Q(kind="planned_discharge"),
                name="one_notice_per_kind_and_receiver",
            ),
            models.CheckConstraint(
                name="acknowledged_by_has_time",
                condition=Q(acknowledged_by__isnull=True) | Q(acknowledged_at__isnull=False),
            ),
        ]
        indexes = [
            models.Index(
                fields=["to_organisation", "sent_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="notice_unacknowledged",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {self.to_organisation}"


class SipMeeting(models.Model):
    """The coordinated individual plan meeting (samordnad individuell plan, SIP) before
    discharge: called by the fixed care contact, held with the patient and the units."""

    admission = models.OneToOneField(
        Admission, verbose_name=_("admission"), on_delete=models.PROTECT, related_name="sip"
    )
    called_at = models.DateTimeField(_("called"))
    called_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    meeting_at = models.DateTimeField(_("meeting time"))
    held_at = models.DateTimeField(_("held"), null=True, blank=True)
    participants = models.ManyToManyField(
        Organisation, verbose_name=_("taking part"), blank=True, related_name="+"
    )
    # People who are not an organisation: the patient, a relative, an interpreter.
    other_participants = models.CharField(_("also taking part"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("SIP meeting")
        verbose_name_plural = _("SIP meetings")
        constraints = [
            models.CheckConstraint(
                name="sip_held_after_call",
                condition=Q(held_at__isnull=True) | Q(held_at__gte=F("called_at")),
            )
        ]

    def __str__(self):
        return f"SIP {self.meeting_at:%Y-%m-%d %H:%M}"


class SurveyAnswer(models.Model):
    """ "I know where to turn" (1 = not at all, 5 = completely), asked after a next step.

    One answer per step; the patient may change it. Figures use it only in aggregate."""

    QUESTION = _("After this step, I know where to turn if I need help.")
    LOWEST, HIGHEST = 1, 5

    next_step = models.OneToOneField(
        NextStep,
        verbose_name=_("next step"),
        on_delete=models.CASCADE,
        related_name="survey_answer",
    )
    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="+"
    )
    answer = models.PositiveSmallIntegerField(_("answer"))
    answered_at = models.DateTimeField(_("answered"))
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        constraints = [
            models.CheckConstraint(
                name="survey_answer_1_to_5", condition=Q(answer__gte=1, answer__lte=5)
            )
        ]
        indexes = [models.Index(fields=["answered_at"])]

    def __str__(self):
        return f"{self.next_step_id}: {self.answer}"
