"""Writes about patients: registration, the care team, consent and relatives.

One function per use case, each in a transaction, each writing its event (but for the
bulk load of generated data, which writes none).

Joining the care team writes consent and the team row together, so this module names
both; it writes the access rule's data and never restates the rule, which lives in
patients/access.py (tests/test_architecture.py allows this module by name). It asks the
rule (organisation_serves) before and after a change, to tell the patient when an
organisation can now see their plan or no longer can (reminders.notify.sharing_changed)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.history import Actor, record_event
from contracts.models import Contract, Event, FollowUpTask
from reminders import notify

from .access import organisation_serves
from .identity import parse
from .models import AccessLogEntry, CareTeamMember, Consent, EmergencyReview, Patient, Relative


@transaction.atomic
def register_patient(
    *, actor: Actor, identity_number: str, given_name: str, family_name: str, **details
) -> Patient:
    number = parse(identity_number)
    if Patient.objects.filter(identity_number=number.value).exists():
        raise ValidationError(
            {"identity_number": _("A patient with this identity number is already registered.")}
        )
    patient = Patient(
        identity_number=number.value,
        identity_kind=number.kind,
        birth_date=number.birth_date,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        **details,
    )
    patient.full_clean()
    patient.save()
    record_event(patient=patient, actor=actor, kind=Event.Kind.PATIENT_REGISTERED)
    return patient


@transaction.atomic
def give_consent(*, actor: Actor, patient: Patient, organisation) -> Consent:
    """Record the patient's consent (samtycke) for one organisation to join the plan."""
    serving = organisation_serves(patient.pk, organisation)
    now = timezone.now()
    consent, _created = Consent.objects.select_for_update().get_or_create(
        patient=patient,
        organisation=organisation,
        defaults={"status": Consent.Status.GIVEN, "given_at": now, "recorded_by": actor.user},
    )
    if consent.status != Consent.Status.GIVEN:
        consent.status = Consent.Status.GIVEN
        consent.given_at = now
        consent.withdrawn_at = None
        consent.recorded_by = actor.user
        consent.save()
    event = record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.CONSENT_GIVEN,
        after={"organisation": organisation.pk, "organisation_name": organisation.name},
    )
    _tell_if_access_changed(patient, event, organisation, serving)
    return consent


@transaction.atomic
def withdraw_consent(*, actor: Actor, patient: Patient, organisation) -> Consent:
    """The patient blocks (spärr) one organisation; its staff lose access at once."""
    serving = organisation_serves(patient.pk, organisation)
    consent = (
        Consent.objects.select_for_update()
        .filter(patient=patient, organisation=organisation)
        .first()
    )
    if consent is None or consent.status == Consent.Status.WITHDRAWN:
        raise ValidationError(_("There is no consent to withdraw for this organisation."))
    consent.status = Consent.Status.WITHDRAWN
    consent.withdrawn_at = timezone.now()
    consent.recorded_by = actor.user
    consent.save()
    event = record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.CONSENT_WITHDRAWN,
        before={"organisation": organisation.pk, "organisation_name": organisation.name},
    )
    _tell_if_access_changed(patient, event, organisation, serving)
    return consent


@transaction.atomic
def add_to_care_team(
    *,
    actor: Actor,
    patient: Patient,
    organisation,
    staff=None,
    responsibility: str = "",
    consent: bool = False,
) -> CareTeamMember:
    """Put an organisation (and optionally a named staff member) on the care team.

    Taking part needs the patient's consent; pass consent=True when the patient
    gives it now, otherwise an earlier consent must be on record."""
    if (
        staff is not None
        and not staff.memberships.filter(organisation=organisation, active=True).exists()
    ):
        raise ValidationError({"staff": _("This person does not work in that organisation.")})
    if consent:
        give_consent(actor=actor, patient=patient, organisation=organisation)
    elif not Consent.objects.filter(
        patient=patient, organisation=organisation, status=Consent.Status.GIVEN
    ).exists():
        raise ValidationError(
            _("The patient has not consented to %(organisation)s taking part in the plan.")
            % {"organisation": organisation}
        )
    # After the consent above, which tells the patient itself when it opens the plan.
    serving = organisation_serves(patient.pk, organisation)
    member, created = CareTeamMember.objects.get_or_create(
        patient=patient,
        organisation=organisation,
        staff=staff,
        defaults={"responsibility": responsibility},
    )
    if not created and not member.active:
        member.active = True
        member.left_at = None
        member.save(update_fields=["active", "left_at"])
    event = record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.CARE_TEAM_JOINED,
        after={
            "organisation": organisation.pk,
            "organisation_name": organisation.name,
            "staff": staff.pk if staff else None,
            "responsibility": responsibility,
        },
    )
    _tell_if_access_changed(patient, event, organisation, serving)
    return member


def _tell_if_access_changed(patient: Patient, event, organisation, was_serving: bool) -> None:
    """Tell the patient when an organisation can now see the plan, or no longer can
    (reminders.notify.sharing_changed). Asked of the access rule before and after the
    change, so that consent and joining the team, which make access only together, give
    one notice, and a change that opens nothing (consent for a unit not on the team)
    gives none."""
    serving = organisation_serves(patient.pk, organisation)
    if serving != was_serving:
        notify.sharing_changed(patient=patient, event=event)


@transaction.atomic
def add_to_care_teams_in_bulk(joinings, *, recorded_by=None) -> None:
    """Many organisations onto many patients' care teams, with consent, in two inserts:
    for generated data (make bench), where add_to_care_team per row would take hours.

    Each joining is (patient, organisation, consent given at, consent withdrawn at or
    None: a spärr recorded later). No events, no notices to the patients (generated
    people; thousands of messages for a data load) and no checks beyond the database's:
    the caller vouches for the data."""
    consents, members = [], []
    for patient, organisation, given_at, withdrawn_at in joinings:
        consents.append(
            Consent(
                patient=patient,
                organisation=organisation,
                status=Consent.Status.WITHDRAWN if withdrawn_at else Consent.Status.GIVEN,
                given_at=given_at,
                withdrawn_at=withdrawn_at,
                recorded_by=recorded_by,
            )
        )
        members.append(CareTeamMember(patient=patient, organisation=organisation))
    Consent.objects.bulk_create(consents)
    CareTeamMember.objects.bulk_create(members)


@transaction.atomic
def set_relative_access(*, actor: Actor, relative: Relative, access: str) -> Relative:
    """What the patient allows a relative or proxy to do with the plan."""
    if access not in Relative.Access.values:
        raise ValidationError({"access": _("Choose read, read and write, or no access.")})
    before = relative.access
    relative.access = access
    relative.save(update_fields=["access"])
    event = record_event(
        patient=relative.patient,
        actor=actor,
        kind=Event.Kind.RELATIVE_ACCESS_CHANGED,
        before={"relative": relative.pk, "access": before},
        after={"relative": relative.pk, "name": relative.name, "access": access},
    )
    if access != before:
        # The patient hears of it even when they made the change (notify.sharing_changed).
        notify.sharing_changed(patient=relative.patient, event=event)
    return relative


@transaction.atomic
def remove_relative(*, actor: Actor, relative: Relative) -> None:
    """A relative or proxy is no longer on the patient's record, and loses whatever access
    they had. Written as a change of the relative's access to none, marked `removed`, so
    the patient's history says who took it away; the patient is told when the relative
    could see the plan (as set_relative_access does). A relative who owns commitments in
    the plan cannot be removed: hand those to someone else first."""
    relative = Relative.objects.select_for_update().select_related("patient").get(pk=relative.pk)
    if relative.commitments.exists():
        raise ValidationError(
            _("%(name)s owns commitments in the plan. Give them to someone else first.")
            % {"name": relative.name}
        )
    patient, before = relative.patient, relative.access
    event = record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.RELATIVE_ACCESS_CHANGED,
        before={"relative": relative.pk, "access": before},
        after={
            "relative": relative.pk,
            "name": relative.name,
            "access": Relative.Access.NONE,
            "removed": True,
        },
    )
    relative.delete()
    if before != Relative.Access.NONE:
        # As set_relative_access: the patient hears of every change of who sees the plan.
        notify.sharing_changed(patient=patient, event=event)


def review_emergency_read(
    *, reviewer, organisation, entry: AccessLogEntry, verdict: str, comment: str = ""
) -> EmergencyReview:
    """An administrator's verdict on one emergency read; see review_emergency_reads."""
    return review_emergency_reads(
        reviewer=reviewer,
        organisation=organisation,
        entries=[entry],
        verdict=verdict,
        comment=comment,
    )[0]


def review_emergency_reads(
    *, reviewer, organisation, entries, verdict: str, comment: str = ""
) -> list[EmergencyReview]:
    """An administrator's verdict on emergency reads (nödåtkomst) that go together: one
    reader's reads of one patient on one day (patients.access.emergency_read_group), so
    that opening the plan and then its history is reviewed once. Each read is reviewed
    once (a row each, with the same verdict); a read is not reviewed by its own reader.
    Writes one event in the patient's history and closes the follow-up tasks an overdue
    review made (reminders.sweeps).

    Who may review which read is the access rule's to say
    (patients.access.emergency_reads_reviewable_by): the caller found `entries` there."""
    entries = list(entries)
    if not entries or len({(e.user_id, e.patient_id) for e in entries}) != 1:
        raise ValidationError(_("Only one reader's emergency reads of one patient go together."))
    if not all(entry.emergency for entry in entries):
        raise ValidationError(_("Only emergency reads are reviewed."))
    if verdict not in EmergencyReview.Verdict.values:
        raise ValidationError({"verdict": _("Choose whether the emergency read was justified.")})
    if entries[0].user_id == reviewer.pk:
        raise ValidationError(_("Someone else must review your own emergency read."))
    comment = (comment or "").strip()
    if verdict == EmergencyReview.Verdict.NOT_JUSTIFIED and not comment:
        raise ValidationError({"comment": _("Say why the emergency read was not justified.")})
    ids = [entry.pk for entry in entries]
    try:
        with transaction.atomic():
            reviews = EmergencyReview.objects.bulk_create(
                EmergencyReview(
                    entry=entry,
                    reviewer=reviewer,
                    organisation=organisation,
                    verdict=verdict,
                    comment=comment[:2000],
                )
                for entry in entries
            )
            patient_id = entries[0].patient_id
            contract = Contract.objects.open().filter(patient_id=patient_id).first()
            record_event(
                patient=entries[0].patient,
                contract=contract,
                actor=Actor.staff(reviewer, organisation),
                kind=Event.Kind.EMERGENCY_ACCESS_REVIEWED,
                after={"entry": ids[0], "entries": ids, "verdict": verdict},
            )
            FollowUpTask.objects.filter(
                dedupe_key__in=[f"emergency_unreviewed:{pk}" for pk in ids],
                status=FollowUpTask.Status.OPEN,
            ).update(status=FollowUpTask.Status.DONE, done_at=timezone.now(), done_by=reviewer)
    except IntegrityError as exc:
        raise ValidationError(_("This emergency read has already been reviewed.")) from exc
    return reviews
