"""The stored plan of one patient, read in one statement.

The plan page is the most-read page of the platform, so its query count must not grow
with the number of commitments or events: the whole open plan, with the names its
events mention, is one prepared statement (PLAN_READ). Commitments come as plain rows.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection

from actors.models import Organisation, User
from naravard.dbutil import PreparedStatement, json_list
from patients.models import Patient, Relative

from .models import (
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    WarningSign,
)

HISTORY_ON_PAGE = 10
CHANGES_ON_PAGE = 30


class CommitmentRow:
    """One commitment as the page shows it: plain values, not a model instance (a plan has
    dozens, and the page only reads them). Writes load the commitment itself.

    It holds the model's editable columns by attname (`what`, `due_date`,
    `owner_organisation_id`, ...; COMMITMENT_FIELDS), typed as the model types them, so a
    field added to Commitment reaches the page without a change here; then the owner's
    names."""

    # Plain values for the page's row, set by the view once per page (contracts.views):
    # who and by when in words, and for a commitment the viewer may update, its URLs
    # and the labels of its controls.
    overdue = False
    may_update = False
    edit_form = None
    notes = ""
    tick_url = ""
    tick_label = ""
    change_url = ""
    change_label = ""
    edit_url = ""

    def __init__(self, columns: dict, organisation_name: str | None = None, staff_name: str = ""):
        # The dict becomes the row's attributes as it is: it is the row's own, not copied.
        self.__dict__ = columns
        self.pk = columns["id"]
        self.organisation_name = organisation_name
        self.staff_name = staff_name

    def __repr__(self) -> str:
        return f"<CommitmentRow {self.pk}: {self.what!r}>"

    @property
    def anchor(self) -> str:
        return f"commitment-{self.pk}"


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
    # Organisations and staff named in those events' payloads, by id.
    names: tuple[dict, dict] = field(default_factory=lambda: ({}, {}))


# --- the plan in one statement ---------------------------------------------------------
# The open plan's parts as one JSON document: each row as row_to_json writes it (columns
# by attname), with the organisations and staff it names. A referenced row is looked up
# by its id (an index probe), not joined, as in api.reads. Through the ORM the parts cost
# a dozen queries, each compiled anew: most of a plan page's time (docs/performance.md).
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
# A commitment's editable columns in the model's order (a CommitmentRow's: what the page
# may show, without the creation time and the sweeps' bookkeeping), then the organisation
# owner's name and the staff owner's names as one object. An array, not an object: the
# keys would be most of the text to send and parse.
COMMITMENT_FIELDS = tuple(f for f in Commitment._meta.concrete_fields if f.editable)
COMMITMENT = (
    f"json_build_array({', '.join(f'm.{f.column}' for f in COMMITMENT_FIELDS)}, "
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


def read_plan(patient: Patient) -> StoredPlan:
    """The patient's open plan as stored, in one prepared statement (PLAN_READ)."""
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


# The columns as JSON has them: text, numbers and booleans are already what the model
# holds; dates and times are ISO text (read by the C parsers of datetime, several times
# faster than the model fields' to_python), any other kind goes through to_python.
_AS_JSON = {"CharField", "TextField", "IntegerField", "BigIntegerField", "SmallIntegerField",
            "PositiveIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField",
            "BooleanField", "ForeignKey", "JSONField"}  # fmt: skip
_FROM_ISO = {"DateField": date.fromisoformat, "DateTimeField": datetime.fromisoformat}


def _reader(field):
    kind = field.get_internal_type()
    return None if kind in _AS_JSON else _FROM_ISO.get(kind, field.to_python)


_NAMES = tuple(f.attname for f in COMMITMENT_FIELDS)
_TYPED = tuple((f.attname, _reader(f)) for f in COMMITMENT_FIELDS if _reader(f) is not None)


def _commitment_from(values) -> CommitmentRow:
    """A row of COMMITMENTS: the model's columns, the owner's names."""
    columns = dict(zip(_NAMES, values, strict=False))  # the names follow the columns
    for name, read in _TYPED:
        if columns[name] is not None:
            columns[name] = read(columns[name])
    organisation_name, staff = values[-2:]
    row = CommitmentRow(columns, organisation_name)
    if staff is not None:
        # As User.__str__ has it.
        row.staff_name = f"{staff['first_name']} {staff['last_name']}".strip() or staff["email"]
    return row


def _event_from(data) -> Event:
    return _instance(
        Event,
        data["row"],
        actor=_person_from(data["actor"]),
        organisation=_organisation_from(data["organisation"]),
    )
