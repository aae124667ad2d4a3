"""Read helpers for the plan pages: a whole plan in a fixed number of queries.

The plan page is the most-read page of the platform, so its query count must not
grow with the number of commitments or events: everything a page shows is fetched
with select_related or a Prefetch, and names mentioned in event payloads are looked
up in one batch per kind.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from actors.models import Membership, Organisation, User
from patients import identity
from patients.access import patients_visible_to
from patients.models import CareTeamMember, Consent, Patient, Relative

from .models import (
    Channel,
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    NextStep,
    OwnerKind,
    WarningSign,
)

# The page shows the latest events; the rest are one click away.
HISTORY_ON_PAGE = 10
CHANGES_ON_PAGE = 30


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
    next_step: NextStep | None = None
    groups: list[OwnerGroup] = field(default_factory=list)
    care_contact: FixedCareContact | None = None
    care_contact_membership: Membership | None = None
    relatives: list[Relative] = field(default_factory=list)
    history: list = field(default_factory=list)
    more_history: bool = False
    changes: list = field(default_factory=list)
    team: list[CareTeamMember] = field(default_factory=list)
    team_staff: list[Membership] = field(default_factory=list)
    today: date | None = None

    @property
    def version(self):
        return self.contract.version if self.contract else None

    def find_commitment(self, commitment_id):
        for group in self.groups:
            for commitment in group.commitments:
                if commitment.pk == commitment_id:
                    return commitment
        return None


def _contract_queryset():
    return Contract.objects.open().prefetch_related(
        "goals",
        Prefetch(
            "next_steps",
            queryset=NextStep.objects.planned().select_related("organisation", "staff"),
            to_attr="planned_steps",
        ),
        Prefetch(
            "commitments",
            queryset=Commitment.objects.exclude(status=Commitment.Status.CANCELLED).select_related(
                "owner_organisation", "owner_staff"
            ),
            to_attr="live_commitments",
        ),
        Prefetch(
            "care_contacts",
            queryset=FixedCareContact.objects.filter(ended_on__isnull=True).select_related(
                "staff", "organisation"
            ),
            to_attr="current_contacts",
        ),
        Prefetch("warning_signs", queryset=WarningSign.objects.all()),
        Prefetch("contact_paths", queryset=ContactPath.objects.select_related("organisation")),
        # One more than shown, to know whether to offer "show all".
        Prefetch(
            "events",
            queryset=Event.objects.select_related("actor", "organisation").order_by("-at", "-id")[
                : HISTORY_ON_PAGE + 1
            ],
            to_attr="recent_events",
        ),
    )


def plan_page(patient: Patient, viewer, *, user=None, with_team: bool = False) -> PlanPage:
    """The patient's open plan as the viewer sees it.

    `with_team` adds what staff need for the owner and staff pickers."""
    page = PlanPage(patient=patient, viewer=viewer, today=timezone.localdate())
    page.relatives = list(patient.relatives.all())
    contract = _contract_queryset().filter(patient=patient).first()
    if contract is None:
        return page
    contract.patient = patient
    page.contract = contract
    page.next_step = contract.planned_steps[0] if contract.planned_steps else None
    if contract.current_contacts:
        page.care_contact = contact = contract.current_contacts[0]
        page.care_contact_membership = (
            Membership.objects.active()
            .filter(user_id=contact.staff_id, organisation_id=contact.organisation_id)
            .first()
        )
    relatives = {r.pk: r for r in page.relatives}
    for commitment in contract.live_commitments:
        commitment.owner_relative = relatives.get(commitment.owner_relative_id)
        commitment.overdue = bool(
            commitment.status == Commitment.Status.OPEN
            and commitment.due_date
            and commitment.due_date < page.today
        )
        commitment.may_update = may_update(viewer, user, commitment, patient)
    page.groups = group_by_owner(contract.live_commitments, patient, viewer)
    history = contract.recent_events[:HISTORY_ON_PAGE]
    page.more_history = len(contract.recent_events) > HISTORY_ON_PAGE
    changes = []
    if contract.changed_since_agreed:
        changes = list(
            contract.events.filter(version__gt=contract.agreed_version)
            .exclude(kind="plan_agreed")
            .select_related("actor", "organisation")
            .order_by("at", "id")[:CHANGES_ON_PAGE]
        )
    # Names for both lists in one batch: at most two queries, however long the plan.
    describe = EventWording(patient, viewer, user, relatives=page.relatives)
    describe.load_names(history + changes)
    page.history = describe.sentences(history)
    page.changes = describe.sentences(changes)
    if with_team:
        page.team, page.team_staff = team_for_pickers(patient)
    return page


def may_update(viewer, user, commitment: Commitment, patient: Patient) -> bool:
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


def group_by_owner(commitments, patient: Patient, viewer) -> list[OwnerGroup]:
    """Who does what, grouped: the patient first, then relatives, then organisations.

    Named staff stand under their organisation, so the patient sees one heading per unit."""
    groups: dict[str, OwnerGroup] = {}
    for commitment in commitments:
        if commitment.owner_kind == OwnerKind.PATIENT:
            key, label = "patient", _owner_self_label(patient, viewer)
        elif commitment.owner_kind == OwnerKind.RELATIVE:
            relative = commitment.owner_relative
            key, label = f"relative-{commitment.owner_relative_id}", _relative_label(relative)
        else:
            key = f"organisation-{commitment.owner_organisation_id}"
            label = commitment.owner_organisation.name
        groups.setdefault(key, OwnerGroup(key=key, label=label)).commitments.append(commitment)

    def order(group):
        kind = group.key.split("-")[0]
        return ({"patient": 0, "relative": 1}.get(kind, 2), group.label)

    return sorted(groups.values(), key=order)


def _owner_self_label(patient, viewer) -> str:
    if viewer is not None and viewer.kind == "patient":
        return _("Me")
    return patient.full_name


def _relative_label(relative) -> str:
    if relative is None:
        return _("A relative")
    if relative.relation:
        return f"{relative.name} ({relative.relation})"
    return relative.name


def team_for_pickers(patient: Patient):
    """The care team organisations with consent, and their active staff, for owner pickers."""
    consented = Consent.objects.filter(
        patient=patient, organisation=OuterRef("organisation"), status=Consent.Status.GIVEN
    )
    team = list(
        CareTeamMember.objects.filter(patient=patient, active=True, staff__isnull=True)
        .filter(Exists(consented))
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


# --- Events in plain words ---------------------------------------------------


class EventWording:
    """Turns events into sentences a patient understands.

    Names mentioned in payloads (organisations, staff, relatives) are looked up in one
    query per kind for the whole batch, so a long history costs no more queries."""

    def __init__(self, patient, viewer, user=None, *, relatives=None):
        self.patient = patient
        self.viewer = viewer
        self.user_id = getattr(user, "pk", None)
        self.relatives = {r.pk: r for r in relatives} if relatives is not None else None
        self.organisations: dict = {}
        self.staff: dict = {}

    def all(self, events) -> list[tuple[Event, str]]:
        self.load_names(events)
        return self.sentences(events)

    def sentences(self, events) -> list[tuple[Event, str]]:
        return [(event, self.sentence(event)) for event in events]

    def load_names(self, events):
        """One query per kind of name (organisations, staff) for all the events given."""
        org_ids, staff_ids = set(), set()
        for event in events:
            for payload in (event.before or {}, event.after or {}):
                if not isinstance(payload, dict):
                    continue
                for key in ("owner_organisation", "organisation"):
                    if isinstance(payload.get(key), int):
                        org_ids.add(payload[key])
                for key in ("owner_staff", "staff"):
                    if isinstance(payload.get(key), int):
                        staff_ids.add(payload[key])
        if org_ids:
            self.organisations = Organisation.objects.in_bulk(org_ids)
        if staff_ids:
            self.staff = User.objects.in_bulk(staff_ids)
        if self.relatives is None:
            self.relatives = {r.pk: r for r in self.patient.relatives.all()}

    def who(self, event: Event) -> str:
        if self.user_id is not None and event.actor_id == self.user_id:
            return _("You")
        kind = event.actor_kind
        if kind == Event.ActorKind.PATIENT:
            return self.patient.full_name
        if kind == Event.ActorKind.RELATIVE:
            relative = next(
                (r for r in self.relatives.values() if r.user_id == event.actor_id), None
            )
            return relative.name if relative else _("A relative")
        if kind == Event.ActorKind.SYSTEM:
            return _("Naravard")
        # An integration acts with no person behind it: name the client instead.
        name = str(event.actor) if event.actor else event.actor_label
        organisation = event.organisation.name if event.organisation else ""
        if name and organisation:
            # The organisation is an aside: "Doris Doktor, Vårdcentralen Tierp, added ...".
            return f"{name}, {organisation},"
        return name or organisation or _("Someone")

    def owner(self, payload: dict) -> str:
        kind = payload.get("owner_kind")
        if kind == OwnerKind.PATIENT:
            if self.viewer is not None and self.viewer.kind == "patient":
                return _("you")
            return self.patient.full_name
        if kind == OwnerKind.RELATIVE:
            return _relative_label(self.relatives.get(payload.get("owner_relative")))
        organisation = self.organisations.get(payload.get("owner_organisation"))
        org_name = organisation.name if organisation else _("an organisation")
        if kind == OwnerKind.STAFF:
            staff = self.staff.get(payload.get("owner_staff"))
            if staff:
                return f"{staff}, {org_name}"
        return org_name

    def sentence(self, event: Event) -> str:
        before, after = event.before or {}, event.after or {}
        args = {"who": self.who(event)}
        kind = event.kind
        if kind == "contract_created":
            return _("%(who)s started the plan.") % args
        if kind == "what_matters_changed":
            args["text"] = _short(after.get("what_matters", ""))
            if args["text"]:
                return _("%(who)s changed what matters: “%(text)s”") % args
            return _("%(who)s changed what matters.") % args
        if kind == "warning_signs_changed":
            return _("%(who)s changed what to look out for.") % args
        if kind == "contact_paths_changed":
            return _("%(who)s changed how to reach the care team.") % args
        if kind == "next_step_agreed":
            args["how"] = _channel(after.get("channel"))
            args["when"] = _when(after.get("scheduled_at"))
            return _("%(who)s agreed the next step: %(how)s, %(when)s.") % args
        if kind == "next_step_outcome":
            args["outcome"] = _short(after.get("outcome", ""))
            if after.get("status") == NextStep.Status.MISSED:
                return _("%(who)s noted that the next step did not happen: %(outcome)s") % args
            return _("%(who)s recorded what came of the next step: %(outcome)s") % args
        if kind in ("commitment_added", "commitment_completed", "commitment_reopened"):
            args["what"] = _short(after.get("what", ""))
            args["owner"] = self.owner(after)
            return {
                "commitment_added": _("%(who)s added a commitment for %(owner)s: %(what)s"),
                "commitment_completed": _("%(who)s ticked off: %(what)s"),
                "commitment_reopened": _("%(who)s marked as not done: %(what)s"),
            }[kind] % args
        if kind == "commitment_changed":
            args["what"] = _short(after.get("what", ""))
            args["owner"] = self.owner(after)
            if after.get("status") == "cancelled" and before.get("status") != "cancelled":
                return _("%(who)s cancelled a commitment: %(what)s") % args
            if self.owner(before) != args["owner"]:
                return _("%(who)s handed a commitment to %(owner)s: %(what)s") % args
            return _("%(who)s changed a commitment: %(what)s") % args
        if kind == "care_contact_assigned":
            staff = self.staff.get(after.get("staff"))
            args["name"] = str(staff) if staff else after.get("staff_name", "")
            return _("%(who)s made %(name)s the fixed care contact.") % args
        if kind == "plan_agreed":
            return _("%(who)s agreed to the plan.") % args
        return _("%(who)s changed the plan.") % args


def _short(text: str) -> str:
    return Truncator(text or "").chars(140)


def _channel(value) -> str:
    try:
        return str(Channel(value).label)
    except ValueError:
        return ""


def _when(iso) -> str:
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return date_format(timezone.localtime(moment), "j F Y, H:i")


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
        # Mine: I am the fixed care contact, or I am named on the care team.
        named = CareTeamMember.objects.filter(patient=OuterRef("pk"), staff=user, active=True)
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
