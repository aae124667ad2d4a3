"""Every write of the coordination app: one function per use case.

The HTML views (and later the API and the jobs) call these. Each runs in a
transaction, checks who may do it, refuses a stale version and writes the event on
the patient's timeline. Discharge events are not plan changes, so they name no
contract and do not move the plan's version; the admission has its own version.

The discharge steps follow Lag (2017:612) om samverkan vid utskrivning från sluten
hälso- och sjukvård. The deadlines come from `contracts.days` (the one place that
counts days) and are stored when the notice that starts them is sent.
"""

from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership, Organisation, OrganisationKind, Role
from contracts import days
from contracts import services as contract_services
from contracts.history import Actor, record_event
from contracts.models import Contract, Event, NextStep
from contracts.services import StaleVersion
from patients import access
from patients.models import Patient, Relative

from .models import Admission, DischargeNotice, SipMeeting, SurveyAnswer

Kind = DischargeNotice.Kind


class AdmissionChanged(StaleVersion):
    """Someone changed the admission after the page showed it; carries the newer one."""

    @property
    def admission(self) -> Admission:
        return self.contract


# --- who may do what -----------------------------------------------------------------


def _serves(patient_id: int, organisation: Organisation) -> bool:
    return access.organisation_serves(patient_id, organisation)


def _require_unit(actor: Actor, organisation: Organisation, patient_id: int) -> None:
    """Only staff acting for `organisation` (which must serve the patient) may do this step."""
    if actor.kind == Event.ActorKind.SYSTEM:
        return
    allowed = (
        actor.kind == Event.ActorKind.STAFF
        and getattr(actor.organisation, "pk", None) == organisation.pk
        and Membership.objects.active().filter(user=actor.user, organisation=organisation).exists()
        and _serves(patient_id, organisation)
    )
    if not allowed:
        raise PermissionDenied(_("Only %(unit)s can do this step.") % {"unit": organisation})


def _lock(admission_id: int, expected_version: int | None) -> Admission:
    admission = (
        Admission.objects.select_for_update(of=("self",))
        .select_related("patient", "hospital_unit", "primary_care", "municipality_unit")
        .get(pk=admission_id)
    )
    if expected_version is not None and int(expected_version) != admission.version:
        raise AdmissionChanged(admission, expected_version)
    return admission


def _require_in_hospital(admission: Admission) -> None:
    if admission.discharged_at is not None:
        raise ValidationError(_("The patient has already been discharged."))


def _bump(admission: Admission, actor: Actor, kind: Event.Kind, after: dict) -> Event:
    admission.version += 1
    admission.save()
    return record_event(
        patient=admission.patient,
        actor=actor,
        kind=kind,
        after={"admission": admission.pk, **after},
    )


def _moment(value: datetime | None, field: str, *, not_before: datetime | None = None):
    """An aware time no later than now (these record what happened), default now."""
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationError({field: _("Enter a date and time.")})
    if value > now:
        raise ValidationError({field: _("The time cannot be in the future.")})
    if not_before is not None and value < not_before:
        raise ValidationError({field: _("The time cannot be before the admission.")})
    return value


def _send(admission: Admission, actor: Actor, kind: str, sent_at: datetime, **fields):
    """One notice to each receiver (the municipal unit and primary care)."""
    notices = DischargeNotice.objects.bulk_create(
        DischargeNotice(
            admission=admission,
            kind=kind,
            from_organisation=admission.hospital_unit,
            to_organisation=receiver,
            sent_at=sent_at,
            sent_by=actor.user,
            **fields,
        )
        for receiver in admission.receivers
    )
    record_event(
        patient=admission.patient,
        actor=actor,
        kind=Event.Kind.DISCHARGE_NOTICE_SENT,
        after={
            "admission": admission.pk,
            "notice": kind,
            "to": [receiver.pk for receiver in admission.receivers],
        },
    )
    return notices


# --- discharge from hospital ------------------------------------------------------------


def _check_receivers(patient: Patient, primary_care: Organisation, municipality_unit):
    errors = {}
    if primary_care.kind != OrganisationKind.PRIMARY_CARE:
        errors["primary_care"] = _("Choose a primary care unit (vårdcentral).")
    principal = municipality_unit.principal
    if principal is None or principal.kind != OrganisationKind.MUNICIPALITY:
        errors["municipality_unit"] = _("Choose a unit of the patient's municipality.")
    for field, unit in (("primary_care", primary_care), ("municipality_unit", municipality_unit)):
        if field not in errors and not _serves(patient.pk, unit):
            # Sharing across principals needs the patient's consent (DESIGN.md §2).
            errors[field] = _(
                "The patient has not consented to %(organisation)s taking part in the plan."
            ) % {"organisation": unit}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def register_admission(
    *,
    actor: Actor,
    patient: Patient,
    hospital_unit: Organisation,
    primary_care: Organisation,
    municipality_unit: Organisation,
    admitted_at: datetime | None = None,
) -> Admission:
    """The hospital unit records a stay after which the patient will need support at home.

    The admission notice is due 24 hours after admission (law); it is sent with
    send_admission_notice once the unit has judged that support will be needed."""
    if hospital_unit.kind != OrganisationKind.HOSPITAL_UNIT:
        raise ValidationError({"hospital_unit": _("Choose a hospital unit.")})
    _require_unit(actor, hospital_unit, patient.pk)
    _check_receivers(patient, primary_care, municipality_unit)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if Admission.objects.in_hospital().filter(patient=patient).exists():
        raise ValidationError(_("The patient is already admitted."))
    admitted_at = _moment(admitted_at, "admitted_at")
    admission = Admission.objects.create(
        patient=patient,
        hospital_unit=hospital_unit,
        primary_care=primary_care,
        municipality_unit=municipality_unit,
        admitted_at=admitted_at,
        admission_notice_due_at=days.rule("admission_notice").deadline(admitted_at),
        created_by=actor.user,
    )
    record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.ADMISSION_REGISTERED,
        after={
            "admission": admission.pk,
            "hospital_unit": hospital_unit.pk,
            "admitted_at": admitted_at.isoformat(),
        },
    )
    return admission


@transaction.atomic
def send_admission_notice(
    *, actor: Actor, admission: Admission, expected_version: int
) -> list[DischargeNotice]:
    """Inskrivningsmeddelande: tell the municipality and primary care of the stay."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.hospital_unit, admission.patient_id)
    _require_in_hospital(admission)
    if admission.notices.filter(kind=Kind.ADMISSION).exists():
        raise ValidationError(_("The admission notice has already been sent."))
    notices = _send(admission, actor, Kind.ADMISSION, timezone.now())
    _bump(admission, actor, Event.Kind.ADMISSION_NOTICE_SENT, {})
    return notices


@transaction.atomic
def plan_discharge(
    *, actor: Actor, admission: Admission, expected_version: int, planned_on: date
) -> list[DischargeNotice]:
    """Tell the receivers the planned discharge date; a changed date is a new notice."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.hospital_unit, admission.patient_id)
    _require_in_hospital(admission)
    if planned_on is None or planned_on < timezone.localdate(admission.admitted_at):
        raise ValidationError({"planned_on": _("The date cannot be before the admission.")})
    if planned_on == admission.planned_discharge_on:
        raise ValidationError({"planned_on": _("This date has already been sent.")})
    admission.planned_discharge_on = planned_on
    notices = _send(
        admission, actor, Kind.PLANNED_DISCHARGE, timezone.now(), planned_discharge_on=planned_on
    )
    _bump(admission, actor, Event.Kind.DISCHARGE_PLANNED, {"planned_on": planned_on.isoformat()})
    return notices


@transaction.atomic
def mark_ready_for_discharge(
    *,
    actor: Actor,
    admission: Admission,
    expected_version: int,
    ready_at: datetime | None = None,
) -> list[DischargeNotice]:
    """Utskrivningsklar: the physician judges the patient ready to leave; the notice
    starts the SIP-call deadline and, later, the municipality's payment liability."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.hospital_unit, admission.patient_id)
    _require_in_hospital(admission)
    if admission.ready_for_discharge_at is not None:
        raise ValidationError(_("The patient is already marked ready for discharge."))
    if not admission.notices.filter(kind=Kind.ADMISSION).exists():
        # The receivers must know of the stay before they are asked to act on it.
        raise ValidationError(_("Send the admission notice first."))
    sent_at = timezone.now()
    admission.ready_for_discharge_at = _moment(
        ready_at, "ready_at", not_before=admission.admitted_at
    )
    # The law counts from the notice, not from the assessment it reports.
    admission.sip_call_due_at = days.rule("sip_meeting_call").deadline(sent_at)
    admission.payment_liability_from = days.rule("payment_liability").deadline(sent_at)
    notices = _send(admission, actor, Kind.READY, sent_at)
    _bump(
        admission,
        actor,
        Event.Kind.READY_FOR_DISCHARGE,
        {
            "sip_call_due_at": admission.sip_call_due_at.isoformat(),
            "payment_liability_from": admission.payment_liability_from.isoformat(),
        },
    )
    return notices


@transaction.atomic
def record_discharge(
    *,
    actor: Actor,
    admission: Admission,
    expected_version: int,
    discharged_at: datetime | None = None,
) -> list[DischargeNotice]:
    """The patient leaves the hospital; the receivers get the discharge notice."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.hospital_unit, admission.patient_id)
    _require_in_hospital(admission)
    admission.discharged_at = _moment(
        discharged_at, "discharged_at", not_before=admission.admitted_at
    )
    notices = _send(admission, actor, Kind.DISCHARGE, timezone.now())
    _bump(
        admission,
        actor,
        Event.Kind.DISCHARGED,
        {"discharged_at": admission.discharged_at.isoformat()},
    )
    return notices


@transaction.atomic
def acknowledge_notice(*, actor: Actor, notice: DischargeNotice) -> DischargeNotice:
    """The receiving organisation confirms it has read the notice.

    Receivers acknowledge independently of each other and of the hospital's next
    step, so this takes no admission version."""
    notice = (
        DischargeNotice.objects.select_for_update(of=("self",))
        .select_related("admission__patient", "to_organisation")
        .get(pk=notice.pk)
    )
    _require_unit(actor, notice.to_organisation, notice.admission.patient_id)
    if notice.acknowledged_at is not None:
        raise ValidationError(_("This notice has already been acknowledged."))
    notice.acknowledged_at = timezone.now()
    notice.acknowledged_by = actor.user
    notice.save(update_fields=["acknowledged_at", "acknowledged_by"])
    record_event(
        patient=notice.admission.patient,
        actor=actor,
        kind=Event.Kind.DISCHARGE_NOTICE_ACKNOWLEDGED,
        after={"admission": notice.admission_id, "notice": notice.kind, "id": notice.pk},
    )
    return notice


@transaction.atomic
def appoint_discharge_care_contact(
    *, actor: Actor, admission: Admission, expected_version: int, staff
) -> Admission:
    """Primary care names the fixed care contact (fast vårdkontakt) for the discharge.

    When the patient's plan has no fixed care contact yet, the same person becomes
    the plan's contact (and is told, as is the patient). A plan that already has
    one keeps it: the discharge contact is often a different role."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.primary_care, admission.patient_id)
    _require_in_hospital(admission)
    contract_services.care_contact_membership(staff, admission.primary_care)
    admission.care_contact = staff
    admission.care_contact_appointed_at = timezone.now()
    _bump(admission, actor, Event.Kind.DISCHARGE_CARE_CONTACT_APPOINTED, {"staff": staff.pk})
    contract = Contract.objects.active().filter(patient=admission.patient).first()
    if contract is not None and not contract.care_contacts.filter(ended_on__isnull=True).exists():
        contract_services.assign_fixed_care_contact(
            actor=actor,
            contract=contract,
            expected_version=contract.version,
            staff=staff,
            organisation=admission.primary_care,
        )
    return admission


@transaction.atomic
def call_sip_meeting(
    *,
    actor: Actor,
    admission: Admission,
    expected_version: int,
    meeting_at: datetime,
    participants=(),
    other_participants: str = "",
) -> SipMeeting:
    """The fixed care contact in primary care calls the SIP meeting; the law gives
    three days from the ready-for-discharge notice (days.rule("sip_meeting_call"))."""
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.primary_care, admission.patient_id)
    _require_in_hospital(admission)
    if SipMeeting.objects.filter(admission=admission).exists():
        raise ValidationError(_("A SIP meeting has already been called."))
    now = timezone.now()
    if meeting_at is None or timezone.is_naive(meeting_at):
        raise ValidationError({"meeting_at": _("Enter a date and time.")})
    if meeting_at < now:
        raise ValidationError({"meeting_at": _("The meeting must be in the future.")})
    participants = list(participants)
    for unit in participants:
        if not _serves(admission.patient_id, unit):
            raise ValidationError(
                {
                    "participants": _(
                        "The patient has not consented to %(organisation)s taking part."
                    )
                    % {"organisation": unit}
                }
            )
    meeting = SipMeeting.objects.create(
        admission=admission,
        called_at=now,
        called_by=actor.user,
        meeting_at=meeting_at,
        other_participants=(other_participants or "").strip()[:300],
    )
    meeting.participants.set(participants)
    within = admission.sip_call_due_at is None or now < admission.sip_call_due_at
    _bump(
        admission,
        actor,
        Event.Kind.SIP_MEETING_CALLED,
        {"meeting_at": meeting_at.isoformat(), "within_deadline": within},
    )
    return meeting


@transaction.atomic
def record_sip_meeting_held(
    *, actor: Actor, admission: Admission, expected_version: int, held_at: datetime | None = None
) -> SipMeeting:
    admission = _lock(admission.pk, expected_version)
    _require_unit(actor, admission.primary_care, admission.patient_id)
    meeting = SipMeeting.objects.select_for_update().filter(admission=admission).first()
    if meeting is None:
        raise ValidationError(_("No SIP meeting has been called."))
    if meeting.held_at is not None:
        raise ValidationError(_("The meeting is already recorded as held."))
    meeting.held_at = _moment(held_at, "held_at", not_before=meeting.called_at)
    meeting.save(update_fields=["held_at"])
    _bump(admission, actor, Event.Kind.SIP_MEETING_HELD, {"held_at": meeting.held_at.isoformat()})
    return meeting


# --- the access log for queue pages ---------------------------------------------------------


def log_patients_listed(*, user, memberships, patient_ids):
    """A queue page's patients, logged as `search` reads in the coordinator role."""
    return access.log_patients_listed(
        user=user, memberships=memberships, patient_ids=patient_ids, prefer_role=Role.COORDINATOR
    )


def _may_answer_for(actor: Actor, patient: Patient) -> bool:
    user_id = getattr(actor.user, "pk", None)
    if actor.kind == Event.ActorKind.PATIENT:
        return patient.user_id is not None and patient.user_id == user_id
    if actor.kind == Event.ActorKind.RELATIVE:
        # A proxy with write access may answer for the patient, as they write the plan.
        return Relative.objects.filter(
            patient=patient, user_id=user_id, access=Relative.Access.WRITE
        ).exists()
    return False


@transaction.atomic
def answer_survey(*, actor: Actor, step: NextStep, answer: int) -> SurveyAnswer:
    """ "I know where to turn", 1 to 5, after a next step has taken place.

    Not a change to the plan: the event names no contract, so the plan's history and
    version stay as they are."""
    step = NextStep.objects.select_related("contract__patient").get(pk=step.pk)
    patient = step.contract.patient
    if not _may_answer_for(actor, patient):
        raise PermissionDenied(_("Only the patient can answer this question."))
    if step.status == NextStep.Status.CANCELLED or step.scheduled_at > timezone.now():
        raise ValidationError(_("You can answer once the step has taken place."))
    try:
        answer = int(answer)
    except (TypeError, ValueError):
        answer = 0
    if not SurveyAnswer.LOWEST <= answer <= SurveyAnswer.HIGHEST:
        raise ValidationError({"answer": _("Choose a number from 1 to 5.")})
    saved, _created = SurveyAnswer.objects.update_or_create(
        next_step=step,
        defaults={
            "patient": patient,
            "answer": answer,
            "answered_at": timezone.now(),
            "answered_by": actor.user,
        },
    )
    record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.SURVEY_ANSWERED,
        after={"next_step": step.pk, "answer": answer},
    )
    return saved
