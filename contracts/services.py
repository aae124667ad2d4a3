"""Every write to a patient contract: one function per use case.

The HTML views, the API and the Celery tasks all call these. Each runs in a
transaction, locks the contract row, refuses a stale version, checks who may do
it, bumps the version, writes the event and queues its notifications: whatever a
door does besides parsing and answering would be missing from the other doors.
"""

from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership, OrganisationKind, Role
from patients.access import care_relationships, organisation_serves
from patients.models import Patient, Relative
from reminders import notify

from . import days
from .history import Actor, record_event
from .models import (
    Channel,
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
    WarningSign,
)

MAX_TEXT = 5000
# Staff roles that can be someone's fixed care contact (administrators cannot).
CARE_CONTACT_ROLES = (Role.CLINICIAN, Role.HOME_CARE, Role.COORDINATOR)


class StaleVersion(Exception):
    """The write named a version that is no longer current. Carries the newer contract."""

    def __init__(self, contract: Contract, expected: int | None):
        self.contract = contract
        self.expected = expected
        super().__init__(f"contract {contract.pk} is at version {contract.version}, not {expected}")


# --- who may do what ------------------------------------------------------


def _on_team(patient_id: int, organisation) -> bool:
    return organisation_serves(patient_id, organisation)


def _is_relative_writer(actor: Actor, patient_id: int) -> bool:
    return Relative.objects.filter(
        patient_id=patient_id, user=actor.user, access=Relative.Access.WRITE
    ).exists()


def _require(actor: Actor, contract: Contract, *, patient_side: bool, staff_side: bool) -> None:
    """Refuse the write unless the actor is on a side this use case allows."""
    kind = actor.kind
    if kind == Event.ActorKind.SYSTEM:
        return
    allowed = False
    if kind == Event.ActorKind.PATIENT:
        allowed = patient_side and contract.patient.user_id == getattr(actor.user, "pk", None)
    elif kind == Event.ActorKind.RELATIVE:
        allowed = patient_side and _is_relative_writer(actor, contract.patient_id)
    elif kind in (Event.ActorKind.STAFF, Event.ActorKind.INTEGRATION):
        allowed = staff_side and _on_team(contract.patient_id, actor.organisation)
    if not allowed:
        raise PermissionDenied(_("You may not change this part of the plan."))


def can_update_commitment(actor: Actor, commitment: Commitment) -> bool:
    """Staff update their own organisation's commitments; patients and relatives their own."""
    kind = actor.kind
    if kind == Event.ActorKind.SYSTEM:
        return True
    contract = commitment.contract
    if kind == Event.ActorKind.PATIENT:
        return commitment.owner_kind == OwnerKind.PATIENT and contract.patient.user_id == getattr(
            actor.user, "pk", None
        )
    if kind == Event.ActorKind.RELATIVE:
        if commitment.owner_kind == OwnerKind.RELATIVE:
            # Their own commitment, and only while the patient lets them write.
            return commitment.owner_relative.user_id == getattr(
                actor.user, "pk", None
            ) and _is_relative_writer(actor, contract.patient_id)
        return commitment.owner_kind == OwnerKind.PATIENT and _is_relative_writer(
            actor, contract.patient_id
        )
    if kind in (Event.ActorKind.STAFF, Event.ActorKind.INTEGRATION):
        return (
            commitment.owner_organisation_id is not None
            and commitment.owner_organisation_id == getattr(actor.organisation, "pk", None)
            and _on_team(contract.patient_id, actor.organisation)
        )
    return False


def can_cancel_commitment(actor: Actor, commitment: Commitment) -> bool:
    """Cancel: whoever may update the commitment, and also the organisation that added it
    (its staff or its integration, while it is on the team), which may withdraw what it
    asked of the patient, a relative or another organisation. Who added it is read from
    the plan's history (the `commitment_added` event), not stored a second time."""
    if can_update_commitment(actor, commitment):
        return True
    organisation = getattr(actor, "organisation", None)
    return (
        actor.kind in (Event.ActorKind.STAFF, Event.ActorKind.INTEGRATION)
        and organisation is not None
        and _on_team(commitment.contract.patient_id, organisation)
        and Event.objects.filter(
            contract_id=commitment.contract_id,
            kind=Event.Kind.COMMITMENT_ADDED,
            organisation=organisation,
            after__id=commitment.pk,
        ).exists()
    )


def care_contact_deciders(contracts) -> dict[int, set[int]]:
    """For each plan, the organisations that decide its fixed care contact (fast
    vårdkontakt): the ones that serve the plan as its coordinator. Two queries for any
    number of plans (the coordinators' queue asks for a whole page).

    They are the patient's primary-care units (vårdcentral), whose coordinators the
    plans without a contact escalate to (reminders.sweeps, DESIGN §3) and where the law
    puts the contact after a discharge (Lag 2017:612), and the organisation of the
    current contact, which may hand the patient over. Each only while it is in a care
    relationship with the patient. A plan with neither (no primary care on the team,
    no contact yet) is decided by every organisation in a care relationship with the
    patient: someone must be able to name a contact. Being on the care team alone is
    not enough: a municipal coordinator does not replace primary care's contact."""
    contracts = list(contracts)
    patient_of = {contract.pk: contract.patient_id for contract in contracts}
    caring = {}
    for patient_id, organisation_id, kind in (
        care_relationships()
        .filter(patient_id__in=set(patient_of.values()))
        .values_list("patient_id", "organisation_id", "organisation__kind")
        .distinct()
    ):
        caring.setdefault(patient_id, {})[organisation_id] = kind
    current = dict(
        FixedCareContact.objects.filter(contract_id__in=list(patient_of), ended_on__isnull=True)
        .order_by("started_on", "pk")
        .values_list("contract_id", "organisation_id")
    )
    deciders = {}
    for contract_id, patient_id in patient_of.items():
        team = caring.get(patient_id, {})
        found = {org for org, kind in team.items() if kind == OrganisationKind.PRIMARY_CARE}
        if current.get(contract_id) in team:
            found.add(current[contract_id])
        deciders[contract_id] = found or set(team)
    return deciders


def may_decide_care_contact(actor: Actor, contract: Contract) -> bool:
    """May this actor assign or change the plan's fixed care contact? The rule every door
    (the coordinators' queue, the API, the discharge flow) meets in
    assign_fixed_care_contact, and that the queue asks before offering the form."""
    if actor.kind == Event.ActorKind.SYSTEM:
        return True
    if actor.kind not in (Event.ActorKind.STAFF, Event.ActorKind.INTEGRATION):
        return False
    organisation_id = getattr(actor.organisation, "pk", None)
    return organisation_id in care_contact_deciders([contract])[contract.pk]


# --- the version lock ---------------------------------------------------------


def _lock(contract_id: int, expected_version: int | None) -> Contract:
    """Lock the contract row and check the version the writer saw.

    `expected_version=None` is for the system only (jobs that do not edit content)."""
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=contract_id)
    )
    if contract.status == Contract.Status.CLOSED:
        raise ValidationError(_("This plan is closed and can no longer be changed."))
    if expected_version is not None and int(expected_version) != contract.version:
        raise StaleVersion(contract, expected_version)
    return contract


def _bump(contract: Contract, actor: Actor, kind: Event.Kind, before=None, after=None) -> Event:
    contract.version += 1
    contract.updated_at = timezone.now()
    contract.save(update_fields=["version", "updated_at"])
    return record_event(
        patient=contract.patient,
        contract=contract,
        actor=actor,
        kind=kind,
        before=before,
        after=after,
    )


def _clean_text(value: str, field: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: _("This field cannot be empty.")})
    if len(value) > limit:
        raise ValidationError({field: _("Write at most %(limit)d characters.") % {"limit": limit}})
    return value


# --- use cases -------------------------------------------------------------------


@transaction.atomic
def create_contract(*, actor: Actor, patient: Patient, what_matters: str = "") -> Contract:
    """Start the patient's shared plan. A patient has at most one open plan."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if actor.kind != Event.ActorKind.SYSTEM and not (
        actor.is_staff_like and _on_team(patient.pk, actor.organisation)
    ):
        raise PermissionDenied(_("Only the patient's care team can start a plan."))
    if Contract.objects.open().filter(patient=patient).exists():
        raise ValidationError(_("The patient already has a plan. Open it instead."))
    contract = Contract.objects.create(
        patient=patient,
        what_matters=_clean_text(what_matters, "what_matters", required=False),
        status=Contract.Status.ACTIVE,
        review_due=days.review_due(timezone.localdate(), patient.support_profile),
        created_by=actor.user,
    )
    record_event(
        patient=patient,
        contract=contract,
        actor=actor,
        kind=Event.Kind.CONTRACT_CREATED,
        after={"what_matters": contract.what_matters},
    )
    return contract


@transaction.atomic
def set_what_matters(
    *,
    actor: Actor,
    contract: Contract,
    text: str,
    expected_version: int,
    goals: list[str] | None = None,
) -> Contract:
    """What matters to me (vad är viktigt för mig), in the patient's own words."""
    contract = _lock(contract.pk, expected_version)
    _require(actor, contract, patient_side=True, staff_side=True)
    text = _clean_text(text, "what_matters", required=False)
    before = {"what_matters": contract.what_matters}
    after = {"what_matters": text}
    contract.what_matters = text
    contract.save(update_fields=["what_matters"])
    if goals is not None:
        cleaned = [_clean_text(g, "goals", limit=500) for g in goals if g and g.strip()]
        before["goals"] = list(contract.goals.values_list("text", flat=True))
        contract.goals.all().delete()
        Goal.objects.bulk_create(
            Goal(contract=contract, text=g, position=i) for i, g in enumerate(cleaned)
        )
        after["goals"] = cleaned
    _bump(contract, actor, Event.Kind.WHAT_MATTERS_CHANGED, before, after)
    return contract


def _signs_snapshot(contract: Contract) -> list[dict]:
    return [{"sign": s.sign, "action": s.action} for s in contract.warning_signs.all()]


@transaction.atomic
def set_warning_signs(
    *, actor: Actor, contract: Contract, expected_version: int, signs: list[tuple[str, str]]
) -> Contract:
    """What I keep an eye on (det här ska jag hålla koll på): the whole list, replaced.

    The patient's own self-care knowledge, so the patient side may write it too."""
    contract = _lock(contract.pk, expected_version)
    _require(actor, contract, patient_side=True, staff_side=True)
    cleaned = [
        (_clean_text(sign, "sign", limit=300), _clean_text(action, "action", limit=300))
        for sign, action in signs
    ]
    before = {"signs": _signs_snapshot(contract)}
    contract.warning_signs.all().delete()
    WarningSign.objects.bulk_create(
        WarningSign(contract=contract, sign=sign, action=action, position=i)
        for i, (sign, action) in enumerate(cleaned)
    )
    after = {"signs": [{"sign": sign, "action": action} for sign, action in cleaned]}
    _bump(contract, actor, Event.Kind.WARNING_SIGNS_CHANGED, before, after)
    return contract


def _paths_snapshot(contract: Contract) -> list[dict]:
    return [
        {
            "kind": p.kind,
            "label": p.label,
            "value": p.value,
            "hours": p.hours,
            "organisation": p.organisation_id,
        }
        for p in contract.contact_paths.all()
    ]


@transaction.atomic
def set_contact_paths(
    *, actor: Actor, contract: Contract, expected_version: int, paths: list[dict]
) -> Contract:
    """How to reach us: web booking, phone, video and so on; the whole list, replaced.

    Each path is a dict with kind, label, value and optionally hours and organisation."""
    contract = _lock(contract.pk, expected_version)
    _require(actor, contract, patient_side=False, staff_side=True)
    rows = []
    for i, path in enumerate(paths):
        kind = path.get("kind")
        if kind not in ContactPath.Kind.values:
            raise ValidationError({"kind": _("Choose how to get in touch.")})
        organisation = path.get("organisation")
        # Only the patient's own care team may be named as the one who answers.
        if organisation is not None and not _on_team(contract.patient_id, organisation):
            raise ValidationError(
                {"organisation": _("Choose an organisation on the patient's care team.")}
            )
        rows.append(
            ContactPath(
                contract=contract,
                kind=kind,
                label=_clean_text(path.get("label"), "label", limit=200),
                value=_clean_text(path.get("value"), "value", limit=300),
                hours=_clean_text(path.get("hours"), "hours", required=False, limit=200),
                organisation=organisation,
                position=i,
            )
        )
    before = {"paths": _paths_snapshot(contract)}
    contract.contact_paths.all().delete()
    ContactPath.objects.bulk_create(rows)
    after = {"paths": _paths_snapshot(contract)}
    _bump(contract, actor, Event.Kind.CONTACT_PATHS_CHANGED, before, after)
    return contract


def _step_snapshot(step: NextStep | None):
    if step is None:
        return None
    return {
        "id": step.pk,
        "scheduled_at": step.scheduled_at.isoformat(),
        "channel": step.channel,
        "location": step.location,
        "with_whom": step.with_whom,
        "purpose": step.purpose,
        "status": step.status,
        "outcome": step.outcome,
    }


@transaction.atomic
def agree_next_step(
    *,
    actor: Actor,
    contract: Contract,
    expected_version: int,
    scheduled_at: datetime,
    channel: str,
    purpose: str,
    location: str = "",
    with_whom: str = "",
    organisation=None,
    staff=None,
) -> NextStep:
    """My next step (mitt nästa steg): agree when, where or how, with whom and why.

    A still-planned step is replaced (it is marked cancelled and the new one follows it)."""
    contract = _lock(contract.pk, expected_version)
    _require(actor, contract, patient_side=False, staff_side=True)
    if channel not in Channel.values:
        raise ValidationError({"channel": _("Choose visit, video, phone or home visit.")})
    if scheduled_at is None or timezone.is_naive(scheduled_at):
        raise ValidationError({"scheduled_at": _("Enter a date and time.")})
    if scheduled_at < timezone.now():
        raise ValidationError({"scheduled_at": _("The next step must be in the future.")})
    purpose = _clean_text(purpose, "purpose", limit=1000)
    organisation = organisation or actor.organisation
    if organisation is not None and not _on_team(contract.patient_id, organisation):
        raise ValidationError(
            {"organisation": _("Choose an organisation on the patient's care team.")}
        )
    if (
        staff is not None
        and not Membership.objects.filter(
            user=staff, organisation=organisation, active=True
        ).exists()
    ):
        raise ValidationError({"staff": _("This person does not work in that organisation.")})
    previous = contract.next_steps.planned().select_for_update().first()
    if previous is not None:
        previous.status = NextStep.Status.CANCELLED
        previous.save(update_fields=["status"])
    if previous is None:
        # The newest finished step is the one the new step follows up.
        previous = (
            contract.next_steps.exclude(status=NextStep.Status.PLANNED)
            .filter(followed_by__isnull=True)
            .order_by("-scheduled_at")
            .first()
        )
    step = NextStep.objects.create(
        contract=contract,
        scheduled_at=scheduled_at,
        channel=channel,
        location=_clean_text(location, "location", required=False, limit=200),
        with_whom=_clean_text(with_whom, "with_whom", required=False, limit=200),
        purpose=purpose,
        organisation=organisation,
        staff=staff,
        follows=previous,
    )
    _bump(
        contract,
        actor,
        Event.Kind.NEXT_STEP_AGREED,
        before=_step_snapshot(previous) if previous and previous.status == "cancelled" else None,
        after=_step_snapshot(step),
    )
    return step


@transaction.atomic
def record_next_step_outcome(
    *, actor: Actor, step: NextStep, expected_version: int, outcome: str, happened: bool = True
) -> NextStep:
    """After the next step: what came of it (or that it did not happen)."""
    contract = _lock(step.contract_id, expected_version)
    _require(actor, contract, patient_side=False, staff_side=True)
    step = NextStep.objects.select_for_update().get(pk=step.pk, contract=contract)
    if step.status != NextStep.Status.PLANNED:
        raise ValidationError(_("The outcome of this step is already recorded."))
    before = _step_snapshot(step)
    step.outcome = _clean_text(outcome, "outcome", limit=2000)
    step.status = NextStep.Status.DONE if happened else NextStep.Status.MISSED
    step.outcome_recorded_at = timezone.now()
    step.outcome_recorded_by = actor.user
    step.save(update_fields=["outcome", "status", "outcome_recorded_at", "outcome_recorded_by"])
    _bump(contract, actor, Event.Kind.NEXT_STEP_OUTCOME, before, _step_snapshot(step))
    return step


@transaction.atomic
def record_outcome_and_agree_next_step(
    *,
    actor: Actor,
    step: NextStep,
    expected_version: int,
    outcome: str,
    happened: bool = True,
    following: dict | None = None,
) -> tuple[NextStep, NextStep | None]:
    """The outcome of the next step and the following step, as one change.

    One transaction: if the following step is refused, the outcome is not kept either,
    so the form can be corrected and sent again. `following` takes the arguments of
    agree_next_step (scheduled_at, channel, purpose, ...)."""
    done = record_next_step_outcome(
        actor=actor,
        step=step,
        expected_version=expected_version,
        outcome=outcome,
        happened=happened,
    )
    if not following:
        return done, None
    # The outcome moved the version by one and the row lock is still held.
    new_step = agree_next_step(
        actor=actor, contract=done.contract, expected_version=expected_version + 1, **following
    )
    return done, new_step


def _commitment_snapshot(c: Commitment):
    return {
        "id": c.pk,
        **{name: _plain(getattr(c, name)) for name in Commitment.EDITABLE},
        "owner_kind": c.owner_kind,
        "owner_organisation": c.owner_organisation_id,
        "owner_staff": c.owner_staff_id,
        "owner_relative": c.owner_relative_id,
        "status": c.status,
    }


def _plain(value):
    """A field's value as an event's JSON keeps it (a date as ISO text)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _set_commitment_fields(commitment: Commitment, fields: dict) -> None:
    """Set plain fields of Commitment.EDITABLE, each checked by the model field's own rules
    (length, blank, choices), so that every door gets the same answer for a bad value."""
    unknown = sorted(set(fields) - set(Commitment.EDITABLE))
    if unknown:
        raise TypeError(f"Not editable fields of a commitment: {', '.join(unknown)}")
    for name, value in fields.items():
        if name == "what":
            value = _clean_text(value, "what", limit=1000)
        try:
            value = Commitment._meta.get_field(name).clean(value, commitment)
        except ValidationError as error:
            raise ValidationError({name: error.messages}) from None
        setattr(commitment, name, value)


def _validate_owner(contract, owner_kind, owner_organisation, owner_staff, owner_relative):
    """The owner must belong to this plan: a team organisation, its staff, or a relative."""
    if owner_kind not in OwnerKind.values:
        raise ValidationError({"owner_kind": _("Choose who does it.")})
    if owner_kind == OwnerKind.PATIENT:
        return None, None, None
    if owner_kind == OwnerKind.RELATIVE:
        if owner_relative is None or owner_relative.patient_id != contract.patient_id:
            raise ValidationError({"owner_relative": _("Choose one of the patient's relatives.")})
        return None, None, owner_relative
    if owner_organisation is None or not _on_team(contract.patient_id, owner_organisation):
        raise ValidationError(
            {"owner_organisation": _("Choose an organisation on the patient's care team.")}
        )
    if owner_kind == OwnerKind.STAFF:
        if (
            owner_staff is None
            or not Membership.objects.filter(
                user=owner_staff, organisation=owner_organisation, active=True
            ).exists()
        ):
            raise ValidationError({"owner_staff": _("Choose a staff member of that organisation.")})
        return owner_organisation, owner_staff, None
    return owner_organisation, None, None


@transaction.atomic
def add_commitment(
    *,
    actor: Actor,
    contract: Contract,
    expected_version: int,
    owner_kind: str,
    owner_organisation=None,
    owner_staff=None,
    owner_relative=None,
    **fields,
) -> Commitment:
    """Who does what (vem gör vad): add one commitment with its owner. `fields` are the
    plain fields of Commitment.EDITABLE (`what` is required); those left out get the
    model's default."""
    contract = _lock(contract.pk, expected_version)
    patient_side = owner_kind in (OwnerKind.PATIENT, OwnerKind.RELATIVE)
    _require(actor, contract, patient_side=patient_side, staff_side=True)
    org, staff, relative = _validate_owner(
        contract, owner_kind, owner_organisation, owner_staff, owner_relative
    )
    commitment = Commitment(
        contract=contract,
        owner_kind=owner_kind,
        owner_organisation=org,
        owner_staff=staff,
        owner_relative=relative,
    )
    defaults = {
        name: Commitment._meta.get_field(name).get_default() for name in Commitment.EDITABLE
    }
    _set_commitment_fields(commitment, {**defaults, **fields})
    if commitment.due_date is not None and commitment.due_date < timezone.localdate():
        raise ValidationError({"due_date": _("The date has already passed.")})
    commitment.save(force_insert=True)
    _bump(contract, actor, Event.Kind.COMMITMENT_ADDED, None, _commitment_snapshot(commitment))
    return commitment


def _lock_commitment(actor, commitment, expected_version, *, may=None):
    contract = _lock(commitment.contract_id, expected_version)
    commitment = (
        Commitment.objects.select_for_update(of=("self",))
        .select_related("owner_relative")
        .get(pk=commitment.pk, contract=contract)
    )
    commitment.contract = contract
    if not (may or can_update_commitment)(actor, commitment):
        raise PermissionDenied(_("Only the owner can update this commitment."))
    return contract, commitment


@transaction.atomic
def complete_commitment(
    *, actor: Actor, commitment: Commitment, expected_version: int, done: bool = True
) -> Commitment:
    """Tick off a commitment (or untick it, if ticked by mistake)."""
    contract, commitment = _lock_commitment(actor, commitment, expected_version)
    if commitment.status == Commitment.Status.CANCELLED:
        raise ValidationError(_("This commitment is cancelled."))
    target = Commitment.Status.DONE if done else Commitment.Status.OPEN
    if commitment.status == target:
        return commitment
    before = _commitment_snapshot(commitment)
    commitment.status = target
    commitment.completed_at = timezone.now() if done else None
    commitment.completed_by = actor.user if done else None
    commitment.save(update_fields=["status", "completed_at", "completed_by"])
    kind = Event.Kind.COMMITMENT_COMPLETED if done else Event.Kind.COMMITMENT_REOPENED
    _bump(contract, actor, kind, before, _commitment_snapshot(commitment))
    return commitment


@transaction.atomic
def update_commitment(
    *,
    actor: Actor,
    commitment: Commitment,
    expected_version: int,
    owner_kind: str | None = None,
    owner_organisation=None,
    owner_staff=None,
    owner_relative=None,
    cancel: bool = False,
    **changes,
) -> Commitment:
    """Change a commitment's plain fields (those of Commitment.EDITABLE given in
    `changes`), hand it to another owner, or cancel it. Cancelling alone is also open to
    the organisation that added it (can_cancel_commitment)."""
    only_cancel = cancel and not changes and owner_kind is None
    may = can_cancel_commitment if only_cancel else can_update_commitment
    contract, commitment = _lock_commitment(actor, commitment, expected_version, may=may)
    before = _commitment_snapshot(commitment)
    _set_commitment_fields(commitment, changes)
    if owner_kind is not None:
        org, staff, relative = _validate_owner(
            contract, owner_kind, owner_organisation, owner_staff, owner_relative
        )
        commitment.owner_kind = owner_kind
        commitment.owner_organisation, commitment.owner_staff = org, staff
        commitment.owner_relative = relative
    if cancel:
        commitment.status = Commitment.Status.CANCELLED
    after = _commitment_snapshot(commitment)
    if after == before:
        return commitment
    commitment.save()
    _bump(contract, actor, Event.Kind.COMMITMENT_CHANGED, before, after)
    return commitment


def care_contact_membership(staff, organisation) -> Membership:
    """The staff member's membership in `organisation`, if it lets them be a fixed care
    contact there; the discharge flow names its contact by the same rule."""
    membership = Membership.objects.filter(
        user=staff, organisation=organisation, active=True
    ).first()
    if membership is None:
        raise ValidationError({"staff": _("This person does not work in that organisation.")})
    if membership.role not in CARE_CONTACT_ROLES:
        raise ValidationError(
            {"staff": _("An organisation administrator cannot be a fixed care contact.")}
        )
    return membership


@transaction.atomic
def assign_fixed_care_contact(
    *,
    actor: Actor,
    contract: Contract,
    expected_version: int | None,
    staff,
    organisation,
    how_to_reach: str = "",
    started_on: date | None = None,
) -> FixedCareContact:
    """The fixed care contact (fast vårdkontakt): one named person to turn to.

    The new contact and the patient are told (reminders.notify), whichever door the
    assignment comes through. Only an organisation that decides the plan's contact
    (care_contact_deciders) may assign one: refused with PermissionDenied otherwise."""
    contract = _lock(contract.pk, expected_version)
    _require(actor, contract, patient_side=False, staff_side=True)
    if not may_decide_care_contact(actor, contract):
        raise PermissionDenied(
            _(
                "Only the patient's primary care unit, or the organisation of the current "
                "fixed care contact, can choose the fixed care contact."
            )
        )
    membership = care_contact_membership(staff, organisation)
    if not _on_team(contract.patient_id, organisation):
        raise ValidationError(
            {"organisation": _("Choose an organisation on the patient's care team.")}
        )
    today = timezone.localdate()
    current = contract.care_contacts.filter(ended_on__isnull=True).select_for_update().first()
    before = None
    if current is not None:
        if current.staff_id == staff.pk and current.organisation_id == organisation.pk:
            raise ValidationError({"staff": _("This person is already the fixed care contact.")})
        before = {"staff": current.staff_id, "organisation": current.organisation_id}
        current.ended_on = today
        current.save(update_fields=["ended_on"])
    assignment = FixedCareContact.objects.create(
        contract=contract,
        staff=staff,
        organisation=organisation,
        started_on=started_on or today,
        how_to_reach=_clean_text(
            how_to_reach or membership.phone or organisation.phone,
            "how_to_reach",
            required=False,
            limit=300,
        ),
        assigned_by=actor.user,
    )
    _bump(
        contract,
        actor,
        Event.Kind.CARE_CONTACT_ASSIGNED,
        before,
        {
            "staff": staff.pk,
            "staff_name": str(staff),
            "organisation": organisation.pk,
            "how_to_reach": assignment.how_to_reach,
        },
    )
    notify.care_contact_assigned(assignment)
    return assignment


@transaction.atomic
def agree_to_version(*, actor: Actor, contract: Contract, version: int) -> Contract:
    """The patient agrees to the plan as it stands at `version`.

    Agreeing does not change the plan, so the version stays; a later change shows
    as "changed since you agreed"."""
    contract = _lock(contract.pk, version)
    if actor.kind != Event.ActorKind.PATIENT or contract.patient.user_id != getattr(
        actor.user, "pk", None
    ):
        raise PermissionDenied(_("Only the patient can agree to the plan."))
    before = {"agreed_version": contract.agreed_version}
    contract.agreed_version = contract.version
    contract.agreed_at = timezone.now()
    contract.save(update_fields=["agreed_version", "agreed_at"])
    record_event(
        patient=contract.patient,
        contract=contract,
        actor=actor,
        kind=Event.Kind.PLAN_AGREED,
        before=before,
        after={"agreed_version": contract.version},
    )
    return contract
