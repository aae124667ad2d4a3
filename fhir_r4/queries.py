"""Loading FHIR resources with the access rule (patients.access): every search and read
an integrator may make, as two tables, SEARCHES and READERS.

A CarePlan read is the REST API's contract read (api.reads.read_contract): one statement
that checks access, writes the access-log row and builds ContractOut's JSON. The CarePlan
is built from that JSON, and a search page is turned into the same JSON through
ContractOut, so one builder serves both.
"""

import json
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework import exceptions

from actors.models import Membership, Organisation, User
from api import reads
from api.serializers import ContractOut
from contracts.models import Commitment, Contract, FixedCareContact, Goal, NextStep
from patients.access import (
    for_organisation,
    patient_for_organisation,
    patients_visible_to_organisation,
)
from patients.models import CareTeamMember

from .resources import (
    CAREPLAN_INCLUDES,
    CAREPLAN_STATUS,
    HSA_ID_SYSTEM,
    IDENTITY_SYSTEMS,
    careplan_resource,
    commitment_task,
    contact_careteam,
    goal_resource,
    organization_resource,
    patient_resource,
    practitioner_resource,
    practitioner_role_resource,
    step_task,
    team_careteam,
)
from .search import (
    Page,
    Param,
    SearchQuery,
    SearchSpec,
    codes,
    date_condition,
    identifier,
    ids,
    keyset_page,
    list_page,
    moment_range,
    reference,
)

# The codes of CarePlan.status (request-status): any may be asked for.
REQUEST_STATUS = (
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
)

# --- ids and search parameters ----------------------------------------------------------------


def number(value: str, prefix: str = "") -> int | None:
    """The id in "123", or in "team-123" when `prefix` is "team"; None for anything else
    (too long for a bigint, not ASCII digits, another prefix): it matches nothing."""
    if prefix:
        value = value.removeprefix(f"{prefix}-") if value.startswith(f"{prefix}-") else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def invalid(name, message):
    return exceptions.ValidationError({name: [message]})


# --- loading, with the access rule -----------------------------------------------------------


@dataclass
class Found:
    """What a read or search returns: resources, includes, and whose data they show.
    `logged` when the statement that loaded them already wrote the access-log rows."""

    matches: list = field(default_factory=list)
    includes: list = field(default_factory=list)
    patient_ids: set = field(default_factory=set)
    logged: bool = False
    page: Page | None = None  # a search's page, with its cursors
    total: int | None = None  # how many match in all (Bundle.total); None: not counted


def fhir_contracts(organisation):
    """Contracts the organisation may see, with everything the CarePlan and its Tasks show."""
    return (
        Contract.objects.visible_to_organisation(organisation)
        .select_related("patient")
        .with_parts()
    )


def careplan_of(contract: Contract) -> dict:
    """The CarePlan of a contract from fhir_contracts, through the read's JSON shape."""
    shape = ContractOut(contract).data
    return careplan_resource(shape, contract.patient.full_name, contract.closed_at)


def care_team_members(patient_ids):
    members = CareTeamMember.objects.filter(patient_id__in=patient_ids).select_related(
        "organisation", "staff"
    )
    by_patient = {}
    for member in members.order_by("id"):
        by_patient.setdefault(member.patient_id, []).append(member)
    return by_patient


def practitioner_roles(contacts):
    """PractitionerRole id for each (staff, organisation) pair, in one query."""
    if not contacts:
        return {}
    pairs = Q()
    for contact in contacts:
        pairs |= Q(user_id=contact.staff_id, organisation_id=contact.organisation_id)
    roles = {}
    for m in Membership.objects.filter(pairs, active=True).order_by("-id"):
        roles[(m.user_id, m.organisation_id)] = m.pk
    return roles


def contract_includes(contracts, includes):
    """The resources `_include` asks for, for a page of contracts (a fixed number of queries)."""
    out = []
    if {"CarePlan:patient", "CarePlan:subject"} & includes:
        seen = {}
        for contract in contracts:
            seen.setdefault(contract.patient_id, contract.patient)
        out += [patient_resource(p) for p in seen.values()]
    if "CarePlan:care-team" in includes:
        members = care_team_members({c.patient_id for c in contracts})
        current = [c for k in contracts for c in k.care_contacts.all() if c.ended_on is None]
        roles = practitioner_roles(current)
        for contract in contracts:
            patient = contract.patient
            paths = contract.contact_paths.all()
            out.append(team_careteam(patient, members.get(patient.pk, []), paths))
            for contact in contract.care_contacts.all():
                if contact.ended_on is None:
                    role = roles.get((contact.staff_id, contact.organisation_id))
                    out.append(contact_careteam(contact, patient, role))
    if "CarePlan:goal" in includes:
        out += [goal_resource(g, k.patient) for k in contracts for g in k.goals.all()]
    if "CarePlan:activity-reference" in includes:
        out += contract_tasks(contracts)
    return out


def contract_tasks(contracts):
    tasks = []
    for contract in contracts:
        tasks += [step_task(step, contract) for step in contract.next_steps.all()]
        tasks += [commitment_task(c, contract) for c in contract.commitments.all()]
    return tasks


def search_careplans(organisation, query: SearchQuery) -> Found:
    contracts = fhir_contracts(organisation)
    for name in ("patient", "subject"):
        if name in query:
            contracts = contracts.filter(patient_id=query.get(name))
    if "status" in query:
        wanted = set(query.get("status"))
        contracts = contracts.filter(
            status__in=[ours for ours, theirs in CAREPLAN_STATUS.items() if theirs in wanted]
        )
    if "_id" in query:
        contracts = contracts.filter(pk__in=query.get("_id"))
    contracts = contracts.filter(date_condition(query.get("_lastUpdated", []), "updated_at"))
    page = keyset_page(
        contracts,
        ("updated_at", "id"),
        ("datetime", "int"),
        query,
        descending=query.sort.startswith("-"),
    )
    return Found(
        matches=[careplan_of(c) for c in page.rows],
        includes=contract_includes(page.rows, set(query.includes)),
        patient_ids={c.patient_id for c in page.rows},
        page=page,
        total=contracts.count() if query.total else None,
    )


def _patient_contracts(organisation, query):
    """Goal, Task and CareTeam are searched per patient: their plans, all of them."""
    return list(fhir_contracts(organisation).filter(patient_id=query.get("patient")).order_by("id"))


def _listed(items, key, query, patient_ids) -> Found:
    """A page of a patient's parts, loaded whole (a patient has a handful) and paged with
    the same cursors as the database searches: `key(item)` gives the order. The patient's
    read is logged whatever the page holds, as before paging."""
    page = list_page(items, key, query)
    return Found(
        matches=[resource for _key, resource in page.rows],
        patient_ids=patient_ids,
        page=page,
        total=len(items) if query.total else None,
    )


def search_goals(organisation, query: SearchQuery) -> Found:
    contracts = _patient_contracts(organisation, query)
    goals = [([0, g.pk], goal_resource(g, k.patient)) for k in contracts for g in k.goals.all()]
    return _listed(goals, lambda item: item[0], query, {k.patient_id for k in contracts})


def search_tasks(organisation, query: SearchQuery) -> Found:
    contracts = _patient_contracts(organisation, query)
    tasks = []
    for contract in contracts:
        tasks += [([0, s.pk], step_task(s, contract)) for s in contract.next_steps.all()]
        tasks += [([1, c.pk], commitment_task(c, contract)) for c in contract.commitments.all()]
    return _listed(tasks, lambda item: item[0], query, {k.patient_id for k in contracts})


def search_careteams(organisation, query: SearchQuery) -> Found:
    patient_id = query.get("patient")
    patient = patients_visible_to_organisation(organisation).filter(pk=patient_id).first()
    if patient is None:
        return _listed([], lambda item: item[0], query, set())
    team, *contacts = careteams_of(patient)
    teams = [([0, patient.pk], team)]
    teams += [([1, int(t["id"].removeprefix("contact-"))], t) for t in contacts]
    return _listed(teams, lambda item: item[0], query, {patient.pk})


def careteams_of(patient, only=None):
    """The team CareTeam and every fixed-care-contact CareTeam of one patient."""
    members = care_team_members([patient.pk]).get(patient.pk, [])
    contract = Contract.objects.open().filter(patient=patient).first()
    paths = list(contract.contact_paths.all()) if contract else []
    contacts = list(
        FixedCareContact.objects.filter(contract__patient=patient)
        .select_related("staff", "organisation")
        .order_by("id")
    )
    roles = practitioner_roles(contacts)
    teams = [team_careteam(patient, members, paths)]
    teams += [
        contact_careteam(c, patient, roles.get((c.staff_id, c.organisation_id))) for c in contacts
    ]
    return [t for t in teams if only is None or t["id"] == only]


def identifier_condition(query, number_field, system_of) -> Q:
    """`identifier=[system|]value`: everything when not asked; `system_of(system)` is the
    condition for a system (an identifier with an empty or unknown system matches none)."""
    if "identifier" not in query:
        return Q()
    system, value = query.get("identifier")
    condition = Q(**{number_field: value})
    return condition if system is None else condition & system_of(system)


def _sorted_page(queryset, query: SearchQuery) -> Page:
    """A page in `_sort` order: by id, or by last update (then id), either way round."""
    if query.sort.endswith("_lastUpdated"):
        fields, kinds = ("updated_at", "id"), ("datetime", "int")
    else:
        fields, kinds = ("id",), ("int",)
    return keyset_page(queryset, fields, kinds, query, descending=query.sort.startswith("-"))


def search_patients(organisation, query: SearchQuery) -> Found:
    patients = patients_visible_to_organisation(organisation)
    systems = {oid: kind for kind, oid in IDENTITY_SYSTEMS.items()}
    patients = patients.filter(
        identifier_condition(
            query, "identity_number", lambda system: Q(identity_kind=systems.get(system, "-"))
        )
    )
    if "_id" in query:
        patients = patients.filter(pk__in=query.get("_id"))
    patients = patients.filter(date_condition(query.get("_lastUpdated", []), "updated_at"))
    page = _sorted_page(patients, query)
    return Found(
        matches=[patient_resource(p) for p in page.rows],
        patient_ids={p.pk for p in page.rows},
        page=page,
        total=patients.count() if query.total else None,
    )


def search_organizations(organisation, query: SearchQuery) -> Found:
    organisations = Organisation.objects.filter(
        identifier_condition(
            query, "hsa_id", lambda system: Q() if system == HSA_ID_SYSTEM else Q(pk__in=[])
        )
    )
    if "_id" in query:
        organisations = organisations.filter(pk__in=query.get("_id"))
    page = _sorted_page(organisations, query)
    return Found(
        matches=[organization_resource(o) for o in page.rows],
        page=page,
        total=organisations.count() if query.total else None,
    )


# --- reads: (organisation, client name, id) -> Found or None ----------------------------------


def read_careplan(organisation, client_name, resource_id):
    """The contract read of the REST API (access, log row and JSON in one statement), and
    the patient's name and the closing time, which ContractOut does not carry."""
    pk = number(resource_id)
    loaded = reads.read_contract(organisation, client_name, pk, timezone.now()) if pk else None
    if loaded is None:
        return None
    _version, body = loaded
    rest = Contract.objects.select_related("patient").only(
        "closed_at", "patient__given_name", "patient__family_name"
    )
    contract = rest.get(pk=pk)
    resource = careplan_resource(json.loads(body), contract.patient.full_name, contract.closed_at)
    return Found([resource], patient_ids={contract.patient_id}, logged=True)


def read_patient(organisation, client_name, resource_id):
    pk = number(resource_id)
    patient = patient_for_organisation(organisation, client_name, pk) if pk else None
    return Found([patient_resource(patient)], patient_ids={patient.pk}) if patient else None


def read_goal(organisation, client_name, resource_id):
    goals = Goal.objects.select_related("contract__patient")
    goal = for_organisation(
        organisation, client_name, goals, number(resource_id), "contract__patient"
    )
    if goal is None:
        return None
    patient = goal.contract.patient
    return Found([goal_resource(goal, patient)], patient_ids={patient.pk})


def read_task(organisation, client_name, resource_id):
    """A next step ("nextstep-N") or a commitment ("commitment-N") of a visible plan."""
    if pk := number(resource_id, "nextstep"):
        rows = NextStep.objects.select_related("contract__patient", "organisation", "staff")
        build = step_task
    elif pk := number(resource_id, "commitment"):
        rows = Commitment.objects.select_related(
            "contract__patient", "owner_organisation", "owner_staff", "owner_relative"
        )
        build = commitment_task
    else:
        return None
    task = for_organisation(organisation, client_name, rows, pk, "contract__patient")
    if task is None:
        return None
    return Found([build(task, task.contract)], patient_ids={task.contract.patient_id})


def read_careteam(organisation, client_name, resource_id):
    """The care team ("team-<patient id>") or a fixed care contact ("contact-N")."""
    if pk := number(resource_id, "contact"):
        contacts = FixedCareContact.objects.filter(pk=pk)
        patient_id = contacts.values_list("contract__patient_id", flat=True).first()
    else:
        patient_id = number(resource_id, "team")
    patient = patient_for_organisation(organisation, client_name, patient_id)
    if patient is None:
        return None
    return Found(careteams_of(patient, only=resource_id), patient_ids={patient.pk})


def read_organization(organisation, client_name, resource_id):
    pk = number(resource_id)
    found = Organisation.objects.filter(pk=pk).first() if pk else None
    return Found([organization_resource(found)]) if found else None


def read_practitioner(organisation, client_name, resource_id):
    # Only people who work somewhere: a patient's login is not a practitioner.
    pk = number(resource_id)
    works = Exists(Membership.objects.filter(user=OuterRef("pk")))
    staff = User.objects.filter(works, pk=pk).first() if pk else None
    return Found([practitioner_resource(staff)]) if staff else None


def read_practitioner_role(organisation, client_name, resource_id):
    pk = number(resource_id)
    memberships = Membership.objects.select_related("user", "organisation")
    membership = memberships.filter(pk=pk).first() if pk else None
    return Found([practitioner_role_resource(membership)]) if membership else None


def _searches():
    """What each resource type's search supports: the searches read their parameters
    through it (search.parse_search) and the CapabilityStatement lists it."""
    patient = Param(
        "patient", "reference", reference("Patient"), gettext_lazy("The patient, by id.")
    )
    last_updated = Param(
        "_lastUpdated",
        "date",
        moment_range,
        gettext_lazy("When it last changed, with ge, gt, le, lt or eq; may be repeated."),
        repeats=True,
    )
    by_id = Param("_id", "token", ids, gettext_lazy("One or more ids, separated by commas."))
    by_updates = ("_lastUpdated", "-_lastUpdated")
    return {
        "CarePlan": SearchSpec(
            search_careplans,
            (
                patient,
                Param(
                    "subject",
                    "reference",
                    reference("Patient"),
                    gettext_lazy("The patient, by id."),
                ),
                Param(
                    "status",
                    "token",
                    codes(REQUEST_STATUS, "http://hl7.org/fhir/request-status"),
                    gettext_lazy("draft, active or completed; several separated by commas."),
                ),
                by_id,
                last_updated,
            ),
            sorts=by_updates,
            includes=CAREPLAN_INCLUDES,
        ),
        "Goal": SearchSpec(search_goals, (patient,), required=("patient",)),
        "Task": SearchSpec(search_tasks, (patient,), required=("patient",)),
        "CareTeam": SearchSpec(search_careteams, (patient,), required=("patient",)),
        "Patient": SearchSpec(
            search_patients,
            (
                Param(
                    "identifier",
                    "token",
                    identifier,
                    gettext_lazy(
                        "Personnummer or samordningsnummer as system|value. Send it with "
                        "POST Patient/_search, so that it stays out of URLs."
                    ),
                ),
                by_id,
                last_updated,
            ),
            sorts=("_id", "-_id", *by_updates),
        ),
        "Organization": SearchSpec(
            search_organizations,
            (
                Param("identifier", "token", identifier, gettext_lazy("HSA id as system|value.")),
                by_id,
            ),
            sorts=("_id", "-_id"),
        ),
    }


SEARCHES = _searches()
READERS = {
    "CarePlan": read_careplan,
    "Goal": read_goal,
    "Task": read_task,
    "CareTeam": read_careteam,
    "Patient": read_patient,
    "Organization": read_organization,
    "Practitioner": read_practitioner,
    "PractitionerRole": read_practitioner_role,
}
RESOURCE_TYPES = tuple(dict.fromkeys([*SEARCHES, *READERS]))


def read_resource(organisation, client_name, kind, resource_id) -> Found:
    """One resource by type and id, or NotFound (missing and not-yours look the same)."""
    read = READERS.get(kind)
    found = read(organisation, client_name, resource_id) if read else None
    if found is None or not found.matches:
        raise exceptions.NotFound()
    return found
