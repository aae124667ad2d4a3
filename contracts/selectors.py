"""Read helpers for the pages: a plan as one viewer sees it, the owner pickers, the
staff worklist. The stored plan itself is read by `plan_read`, in one statement."""

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership, Role
from patients import identity
from patients.access import care_relationships, patients_visible_to
from patients.models import CareTeamMember, Patient, Relative

from .models import (
    Commitment,
    ContactPath,
    Contract,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
    WarningSign,
)
from .plan_read import HISTORY_ON_PAGE, CommitmentRow, read_plan
from .wording import EventWording, relative_label


@dataclass
class OwnerGroup:
    """Commitments with the same owner: the patient, one relative or one organisation."""

    key: str
    label: str
    commitments: list = field(default_factory=list)


@dataclass
class PlanPage:
    """Everything one plan page shows, fetched once."""

    patient: Patient
    viewer: object
    contract: Contract | None = None
    goals: list[Goal] = field(default_factory=list)
    next_step: NextStep | None = None
    groups: list[OwnerGroup] = field(default_factory=list)
    care_contact: FixedCareContact | None = None
    # The care contact's title in their organisation, or their role there.
    care_contact_role: str = ""
    warning_signs: list[WarningSign] = field(default_factory=list)
    contact_paths: list[ContactPath] = field(default_factory=list)
    relatives: list[Relative] = field(default_factory=list)
    history: list = field(default_factory=list)
    more_history: bool = False
    changes: list = field(default_factory=list)
    today: date | None = None

    @property
    def version(self):
        return self.contract.version if self.contract else None

    # The team and its staff fill the owner and staff pickers: hundreds of rows in a
    # large unit, so they are fetched only when a form with a picker is built.
    @cached_property
    def team(self) -> list[CareTeamMember]:
        return self._team_and_staff[0]

    @cached_property
    def team_staff(self) -> list[Membership]:
        return self._team_and_staff[1]

    @cached_property
    def _team_and_staff(self):
        return team_for_pickers(self.patient)

    def find_commitment(self, commitment_id) -> CommitmentRow | None:
        for group in self.groups:
            for commitment in group.commitments:
                if commitment.pk == commitment_id:
                    return commitment
        return None

    def commitment_to_change(self, row: CommitmentRow) -> Commitment:
        """The commitment behind a row of this page, for the services."""
        commitment = Commitment.objects.get(pk=row.pk, contract=self.contract)
        commitment.contract = self.contract
        return commitment


def plan_page(patient: Patient, viewer, *, user=None) -> PlanPage:
    """The patient's open plan as the viewer sees it (the pickers' team comes on demand)."""
    page = PlanPage(patient=patient, viewer=viewer, today=timezone.localdate())
    stored = read_plan(patient)
    page.relatives = stored.relatives
    contract = stored.contract
    if contract is None:
        return page
    contract.patient = patient
    page.contract = contract
    page.goals = stored.goals
    page.next_step = stored.next_step
    page.care_contact = stored.care_contact
    if stored.care_contact_role:
        page.care_contact_role = stored.care_contact_title or dict(Role.choices).get(
            stored.care_contact_role, stored.care_contact_role
        )
    page.warning_signs = stored.warning_signs
    page.contact_paths = stored.contact_paths
    for commitment in stored.commitments:
        commitment.overdue = bool(
            commitment.status == Commitment.Status.OPEN
            and commitment.due_date
            and commitment.due_date < page.today
        )
        commitment.may_update = may_update(viewer, user, commitment, patient)
    page.groups = group_by_owner(stored.commitments, patient, viewer, page.relatives)
    history = stored.events[:HISTORY_ON_PAGE]
    page.more_history = len(stored.events) > HISTORY_ON_PAGE
    describe = EventWording(patient, viewer, user, relatives=page.relatives)
    # The plan read brought the names both lists mention, in the same statement.
    describe.organisations, describe.staff = stored.names
    page.history = describe.sentences(history)
    page.changes = describe.sentences(stored.changes)
    return page


def may_update(viewer, user, commitment: CommitmentRow, patient: Patient) -> bool:
    """Whether to show update controls; mirrors services.can_update_commitment without queries.

    The service decides in the end; this only keeps buttons off that would be refused."""
    if viewer is None or not viewer.can_write or commitment.status == Commitment.Status.CANCELLED:
        return False
    if viewer.kind == "patient":
        return commitment.owner_kind == OwnerKind.PATIENT
    if viewer.kind == "relative":
        if commitment.owner_kind == OwnerKind.RELATIVE:
            return commitment.owner_relative_id == getattr(viewer.relative, "pk", None)
        return commitment.owner_kind == OwnerKind.PATIENT
    organisation = viewer.organisation
    return organisation is not None and commitment.owner_organisation_id == organisation.pk


def group_by_owner(commitments, patient: Patient, viewer, relatives) -> list[OwnerGroup]:
    """Who does what, grouped: the patient first, then relatives, then organisations.

    Named staff stand under their organisation, so the patient sees one heading per unit."""
    relatives = {r.pk: r for r in relatives}
    groups: dict[str, OwnerGroup] = {}
    for commitment in commitments:
        if commitment.owner_kind == OwnerKind.PATIENT:
            key, label = "patient", _owner_self_label(patient, viewer)
        elif commitment.owner_kind == OwnerKind.RELATIVE:
            relative = relatives.get(commitment.owner_relative_id)
            key, label = f"relative-{commitment.owner_relative_id}", relative_label(relative)
        else:
            key = f"organisation-{commitment.owner_organisation_id}"
            label = commitment.organisation_name
        groups.setdefault(key, OwnerGroup(key=key, label=label)).commitments.append(commitment)

    def order(group):
        kind = group.key.split("-")[0]
        return ({"patient": 0, "relative": 1}.get(kind, 2), group.label)

    return sorted(groups.values(), key=order)


def _owner_self_label(patient, viewer) -> str:
    if viewer is not None and viewer.kind == "patient":
        return _("Me")
    return patient.full_name


def team_for_pickers(patient: Patient):
    """The organisations in a care relationship with the patient (their own team rows),
    and their active staff, for owner pickers."""
    team = list(
        care_relationships()
        .filter(patient=patient, staff__isnull=True)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    staff = list(
        Membership.objects.active()
        .filter(organisation__in=[member.organisation_id for member in team])
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__first_name", "user__last_name", "id")
    )
    return team, staff


def history_page_events(contract: Contract):
    """The whole history of one plan, newest first, for the paginated history page."""
    return contract.events.select_related("actor", "organisation").order_by("-at", "-id")


# --- The staff worklist -----------------------------------------------------------


def worklist(user, *, mine: bool = False, query: str = ""):
    """The patients the user's organisations care for, with what needs doing.

    Every figure is a correlated subquery, so one page of patients is one query
    whatever the size of their plans."""
    today = timezone.localdate()
    in_open_plan = {
        "contract__patient": OuterRef("pk"),
        "contract__status__in": Contract.OPEN_STATUSES,
    }
    next_step = NextStep.objects.planned().filter(**in_open_plan).values("scheduled_at")[:1]
    overdue = (
        Commitment.objects.overdue(today)
        .filter(**in_open_plan)
        .order_by()
        .values("contract__patient")
        .annotate(n=Count("id"))
        .values("n")
    )
    current_contact = FixedCareContact.objects.filter(ended_on__isnull=True, **in_open_plan)
    patients = patients_visible_to(user).annotate(
        has_plan=Exists(Contract.objects.open().filter(patient=OuterRef("pk"))),
        next_step_at=Subquery(next_step),
        overdue_count=Coalesce(Subquery(overdue, output_field=IntegerField()), 0),
        has_care_contact=Exists(current_contact),
    )
    if mine:
        # Mine: I am the fixed care contact, or I am named on the care team (for an
        # organisation the patient has not blocked).
        named = care_relationships().filter(patient=OuterRef("pk"), staff=user)
        patients = patients.filter(Exists(current_contact.filter(staff=user)) | Exists(named))
    if query.strip():
        patients = patients.filter(patient_search(query))
    return patients.order_by("family_name", "given_name", "pk")


def patient_search(query: str) -> Q:
    """Match an identity number in any accepted form, some of its digits, or names."""
    text = query.strip()
    try:
        number = identity.normalise(text)
    except ValidationError:
        number = None
    if number:
        # A 10-digit number names its century by its separator, which people often get
        # wrong for the very old; the last ten digits match either way.
        return Q(identity_number=number) | Q(identity_number__endswith=number[2:])
    digits = re.sub(r"[\s+-]", "", text)
    if digits and re.fullmatch(r"[0-9]+", digits, re.ASCII):
        return Q(identity_number__contains=digits)
    condition = Q()
    for word in text.split():
        condition &= Q(given_name__icontains=word) | Q(family_name__icontains=word)
    return condition
