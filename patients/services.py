"""Writes about patients: registration, the care team, consent and relatives.

One function per use case, each in a transaction, each writing its event (but for the
bulk load of generated data, which writes none).

Joining the care team writes consent and the team row together, so this module names
both; it writes the access rule's data and never reads the rule, which lives in
patients/access.py (tests/test_architecture.py allows this module by name)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.history import Actor, record_event
from contracts.models import Event

from .identity import parse
from .models import CareTeamMember, Consent, Patient, Relative


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
    record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.CONSENT_GIVEN,
        after={"organisation": organisation.pk, "organisation_name": organisation.name},
    )
    return consent


@transaction.atomic
def withdraw_consent(*, actor: Actor, patient: Patient, organisation) -> Consent:
    """The patient blocks (spärr) one organisation; its staff lose access at once."""
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
    record_event(
        patient=patient,
        actor=actor,
        kind=Event.Kind.CONSENT_WITHDRAWN,
        before={"organisation": organisation.pk, "organisation_name": organisation.name},
    )
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
    record_event(
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
    return member


@transaction.atomic
def add_to_care_teams_in_bulk(joinings, *, recorded_by=None) -> None:
    """Many organisations onto many patients' care teams, with consent, in two inserts:
    for generated data (make bench), where add_to_care_team per row would take hours.

    Each joining is (patient, organisation, consent given at, consent withdrawn at or
    None: a spärr recorded later). No events and no checks beyond the database's: the
    caller vouches for the data."""
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
    record_event(
        patient=relative.patient,
        actor=actor,
        kind=Event.Kind.RELATIVE_ACCESS_CHANGED,
        before={"relative": relative.pk, "access": before},
        after={"relative": relative.pk, "name": relative.name, "access": access},
    )
    return relative
