"""Read helpers for the plan pages: a whole plan in a fixed number of queries.

The plan page is the most-read page of the platform, so its query count must not
grow with the number of commitments or events. On PostgreSQL the whole plan, with the
names its events mention, is one prepared statement (PLAN_READ); elsewhere each part is
one query and the names one batch per kind. Commitments come as plain rows.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from actors.models import Membership, Organisation, Role, User
from naravard.dbutil import PreparedStatement, json_list
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
    Goal,
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
    html: str = ""  # set by the view: the rows' markup, when none has its form open


@dataclass
class CommitmentRow:
    """One commitment as the page shows it: plain values, not a model instance (a plan has
    dozens, and the page only reads them). Writes load the commitment itself."""

    pk: int
    what: str
    due_date: date | None
    status: str
    owner_kind: str
    owner_organisation_id: int | None
    owner_staff_id: int | None
    owner_relative_id: int | None
    organisation_name: str | None
    staff_name: str
    overdue: bool = False
    may_update: bool = False
    edit_form: object = None
    # Set by the view: the markup, and URLs for commitments the viewer may update.
    tick_url: str = ""
    change_url: str = ""
    summary_html: str = ""
    html: str = ""

    @property
    def anchor(self) -> str:
        return f"commitment-{self.pk}"


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
    if stored.names is None:
        # Names for both lists in one batch: at most two queries, however long the plan.
        describe.load_names(history + stored.changes)
    else:
        describe.organisations, describe.staff = stored.names
    page.history = describe.sentences(history)
    page.changes = describe.sentences(stored.changes)
    return page


@dataclass
class StoredPlan:
    """A patient's open plan as stored, before it is arranged for one viewer."""

    relatives: list[Relative]
    contract: Contract | None = None
    goals: list[Goal] = field(default_factory=list)
    next_step: NextStep | None = None
    care_contact: FixedCareContact | None = None
    # The care contact's active membership in their organisation, if any.
    care_contact_title: str = ""
    care_contact_role: str = ""
    warning_signs: list[WarningSign] = field(default_factory=list)
    contact_paths: list[ContactPath] = field(default_factory=list)
    commitments: list[CommitmentRow] = field(default_factory=list)
    # The latest events, one more than the page shows; the changes since agreed.
    events: list[Event] = field(default_factory=list)
    changes: list[Event] = field(default_factory=list)
    # Organisations and staff named in those events' payloads, by id (None: not read).
    names: tuple[dict, dict] | None = None


def read_plan(patient: Patient) -> StoredPlan:
    """On PostgreSQL one prepared statement (PLAN_READ); elsewhere a query per part.

    Through the ORM the parts cost a dozen queries, each compiled anew: most of a plan
    page's time (docs/performance.md). tests/test_plan_page.py holds the two to the same
    result."""
    if connection.vendor == "postgresql":
        return _read_plan_in_one_statement(patient)
    return read_plan_by_orm(patient)


# The care contact's membership in the organisation they are contact for, if still active.
_contact_membership = (
    Membership.objects.active()
    .filter(user=OuterRef("staff_id"), organisation=OuterRef("organisation_id"))
    .order_by("id")
)

COMMITMENT_COLUMNS = (
    "id",
    "what",
    "due_date",
    "status",
    "owner_kind",
    "owner_organisation_id",
    "owner_staff_id",
    "owner_relative_id",
    "owner_organisation__name",
    "owner_staff__first_name",
    "owner_staff__last_name",
    "owner_staff__email",
)


def read_plan_by_orm(patient: Patient) -> StoredPlan:
    stored = StoredPlan(relatives=list(patient.relatives.order_by("id")))
    contract = Contract.objects.open().filter(patient=patient).order_by("id").first()
    if contract is None:
        return stored
    stored.contract = contract
    stored.goals = list(Goal.objects.filter(contract=contract))
    stored.next_step = (
        NextStep.objects.planned()
        .filter(contract=contract)
        .select_related("organisation", "staff")
        .order_by("scheduled_at", "id")
        .first()
    )
    stored.care_contact = contact = (
        FixedCareContact.objects.filter(contract=contract, ended_on__isnull=True)
        .select_related("staff", "organisation")
        .annotate(
            staff_title=Subquery(_contact_membership.values("title")[:1]),
            staff_role=Subquery(_contact_membership.values("role")[:1]),
        )
        .order_by("id")
        .first()
    )
    if contact is not None:
        stored.care_contact_title = contact.staff_title or ""
        stored.care_contact_role = contact.staff_role or ""
    stored.warning_signs = list(WarningSign.objects.filter(contract=contract))
    stored.contact_paths = list(
        ContactPath.objects.filter(contract=contract).select_related("organisation")
    )
    stored.commitments = [
        _commitment_row(*values)
        for values in Commitment.objects.filter(contract=contract)
        .exclude(status=Commitment.Status.CANCELLED)
        .values_list(*COMMITMENT_COLUMNS)
    ]
    # One more than shown, to know whether to offer "show all".
    stored.events = list(
        contract.events.select_related("actor", "organisation").order_by("-at", "-id")[
            : HISTORY_ON_PAGE + 1
        ]
    )
    if contract.changed_since_agreed:
        stored.changes = list(
            contract.events.filter(version__gt=contract.agreed_version)
            .exclude(kind="plan_agreed")
            .select_related("actor", "organisation")
            .order_by("at", "id")[:CHANGES_ON_PAGE]
        )
    return stored


def _commitment_row(*values) -> CommitmentRow:
    *fields, organisation_name, first_name, last_name, email = values
    row = CommitmentRow(*fields, organisation_name=organisation_name, staff_name="")
    if row.owner_staff_id is not None:
        # As User.__str__ has it.
        row.staff_name = f"{first_name} {last_name}".strip() or email
    return row


# --- the plan in one statement (PostgreSQL) --------------------------------------------
# The same parts as read_plan_by_orm, in the same order, as one JSON document: each row as
# row_to_json writes it (columns by attname), with the organisations and staff it names.
# A referenced row is looked up by its id (an index probe), not joined, as in api_reads.
# (S608: the arguments are always column names of this module.)


def _organisation(id_column: str, what: str = "row_to_json(o)") -> str:
    return f"(SELECT {what} FROM actors_organisation o WHERE o.id = {id_column})"  # noqa: S608


# What User.__str__ needs of a user `u`, not the whole row (it holds the password hash).
_PERSON = (
    "json_build_object('id', u.id, 'first_name', u.first_name, 'last_name', u.last_name, "
    "'email', u.email)"
)


def _person(id_column: str) -> str:
    return f"(SELECT {_PERSON} FROM actors_user u WHERE u.id = {id_column})"  # noqa: S608


RELATIVES = json_list("r", "FROM patients_relative r WHERE r.patient_id = %(patient)s", "r.id")
GOALS = json_list(
    "g", "FROM contracts_goal g JOIN plan c ON g.contract_id = c.id", "g.position, g.id"
)
NEXT_STEP = f"""(
    SELECT json_build_object('row', row_to_json(s), 'organisation',
        {_organisation("s.organisation_id")}, 'staff', {_person("s.staff_id")})
    FROM contracts_nextstep s JOIN plan c ON s.contract_id = c.id
    WHERE s.status = 'planned' ORDER BY s.scheduled_at, s.id LIMIT 1)"""  # noqa: S608
# With the title and role of the contact's active membership in that organisation.
CARE_CONTACT = f"""(
    SELECT json_build_object('row', row_to_json(f), 'staff', {_person("f.staff_id")},
        'organisation', {_organisation("f.organisation_id")},
        'membership', (SELECT json_build_object('title', m.title, 'role', m.role)
            FROM actors_membership m
            WHERE m.user_id = f.staff_id AND m.organisation_id = f.organisation_id AND m.active
            ORDER BY m.id LIMIT 1))
    FROM contracts_fixedcarecontact f JOIN plan c ON f.contract_id = c.id
    WHERE f.ended_on IS NULL ORDER BY f.id LIMIT 1)"""  # noqa: S608
WARNING_SIGNS = json_list(
    "w", "FROM contracts_warningsign w JOIN plan c ON w.contract_id = c.id", "w.position, w.id"
)
CONTACT_PATHS = json_list(
    "json_build_object('row', row_to_json(a), "
    f"'organisation', {_organisation('a.organisation_id')})",
    "FROM contracts_contactpath a JOIN plan c ON a.contract_id = c.id",
    "a.position, a.id",
)
# The columns of COMMITMENT_COLUMNS, the staff owner's names as one object.
COMMITMENT = (
    "json_build_array(m.id, m.what, m.due_date, m.status, m.owner_kind, m.owner_organisation_id, "
    "m.owner_staff_id, m.owner_relative_id, "
    f"{_organisation('m.owner_organisation_id', 'o.name')}, {_person('m.owner_staff_id')})"
)
COMMITMENTS = json_list(
    COMMITMENT,
    "FROM contracts_commitment m JOIN plan c ON m.contract_id = c.id WHERE m.status <> 'cancelled'",
    "m.due_date, m.id",
)
EVENT = (
    f"json_build_object('row', row_to_json(e), 'actor', {_person('e.actor_id')}, "
    f"'organisation', {_organisation('e.organisation_id')})"
)
NAMED_ORGANISATIONS = json_list(
    "o",
    "FROM actors_organisation o WHERE o.id IN "
    "(SELECT id FROM named WHERE key IN ('owner_organisation', 'organisation'))",
    "o.id",
)
NAMED_STAFF = json_list(
    _PERSON,
    "FROM actors_user u WHERE u.id IN (SELECT id FROM named WHERE key IN ('owner_staff', 'staff'))",
    "u.id",
)

PLAN_READ = PreparedStatement(f"""
WITH plan AS (
    SELECT * FROM contracts_contract
    WHERE patient_id = %(patient)s AND status IN ('draft', 'active')
    ORDER BY id LIMIT 1
),
recent AS (
    SELECT e.* FROM contracts_event e JOIN plan c ON e.contract_id = c.id
    ORDER BY e.at DESC, e.id DESC LIMIT {HISTORY_ON_PAGE + 1}
),
changes AS (
    SELECT e.* FROM contracts_event e JOIN plan c ON e.contract_id = c.id
    WHERE c.agreed_version < c.version AND e.version > c.agreed_version
        AND e.kind <> 'plan_agreed'
    ORDER BY e.at, e.id LIMIT {CHANGES_ON_PAGE}
),
-- The ids the payloads of the events shown name, as EventWording.load_names finds them.
shown AS (
    (SELECT before, after FROM recent ORDER BY at DESC, id DESC LIMIT {HISTORY_ON_PAGE})
    UNION ALL SELECT before, after FROM changes
),
named AS (
    SELECT k AS key, (p ->> k)::bigint AS id
    FROM shown e,
        LATERAL (VALUES (e.before), (e.after)) AS v (p),
        unnest(ARRAY['owner_organisation', 'organisation', 'owner_staff', 'staff']) AS k
    WHERE jsonb_typeof(p -> k) = 'number' AND (p ->> k) ~ '^[0-9]{{1,18}}$'
)
SELECT json_build_object(
    'relatives', {RELATIVES},
    'contract', (SELECT row_to_json(c) FROM plan c),
    'goals', {GOALS},
    'next_step', {NEXT_STEP},
    'care_contact', {CARE_CONTACT},
    'warning_signs', {WARNING_SIGNS},
    'contact_paths', {CONTACT_PATHS},
    'commitments', {COMMITMENTS},
    'events', {json_list(EVENT, "FROM recent e", "e.at DESC, e.id DESC")},
    'changes', {json_list(EVENT, "FROM changes e", "e.at, e.id")},
    'organisations', {NAMED_ORGANISATIONS},
    'staff', {NAMED_STAFF}
)::text
""")  # noqa: S608 - constant fragments of this module; the patient is a parameter


def _read_plan_in_one_statement(patient: Patient) -> StoredPlan:
    (text,) = PLAN_READ.fetchone({"patient": patient.pk})
    data = json.loads(text)
    stored = StoredPlan(relatives=[_instance(Relative, r) for r in data["relatives"]])
    if data["contract"] is None:
        return stored
    stored.contract = _instance(Contract, data["contract"])
    stored.goals = [_instance(Goal, g) for g in data["goals"]]
    step = data["next_step"]
    if step is not None:
        stored.next_step = _instance(
            NextStep,
            step["row"],
            organisation=_organisation_from(step["organisation"]),
            staff=_person_from(step["staff"]),
        )
    contact = data["care_contact"]
    if contact is not None:
        stored.care_contact = _instance(
            FixedCareContact,
            contact["row"],
            staff=_person_from(contact["staff"]),
            organisation=_organisation_from(contact["organisation"]),
        )
        membership = contact["membership"] or {}
        stored.care_contact_title = membership.get("title") or ""
        stored.care_contact_role = membership.get("role") or ""
    stored.warning_signs = [_instance(WarningSign, w) for w in data["warning_signs"]]
    stored.contact_paths = [
        _instance(ContactPath, a["row"], organisation=_organisation_from(a["organisation"]))
        for a in data["contact_paths"]
    ]
    stored.commitments = [_commitment_from(values) for values in data["commitments"]]
    stored.events = [_event_from(e) for e in data["events"]]
    stored.changes = [_event_from(e) for e in data["changes"]]
    stored.names = (
        {o["id"]: _organisation_from(o) for o in data["organisations"]},
        {s["id"]: _person_from(s) for s in data["staff"]},
    )
    return stored


def _instance(model, row: dict, **related):
    """A model instance from a row as row_to_json writes it (dates and times as ISO
    text); columns it lacks are deferred. `related` sets foreign objects already read."""
    fields = [f for f in model._meta.concrete_fields if f.attname in row]
    instance = model.from_db(
        connection.alias, [f.attname for f in fields], [f.to_python(row[f.attname]) for f in fields]
    )
    for name, value in related.items():
        setattr(instance, name, value)
    return instance


def _organisation_from(row):
    return None if row is None else _instance(Organisation, row)


def _person_from(row):
    return None if row is None else _instance(User, row)


def _commitment_from(values) -> CommitmentRow:
    """A row of COMMITMENTS: the columns of COMMITMENT_COLUMNS, the staff owner as one."""
    *columns, staff = values
    columns[2] = date.fromisoformat(columns[2]) if columns[2] else None  # due_date
    names = (staff["first_name"], staff["last_name"], staff["email"]) if staff else (None,) * 3
    return _commitment_row(*columns, *names)


def _event_from(data) -> Event:
    return _instance(
        Event,
        data["row"],
        actor=_person_from(data["actor"]),
        organisation=_organisation_from(data["organisation"]),
    )


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
            key, label = f"relative-{commitment.owner_relative_id}", _relative_label(relative)
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
