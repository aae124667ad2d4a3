"""Loading FHIR resources with the access rule (patients.access): every search and read
an integrator may make, as two tables, SEARCHES and READERS.

A CarePlan read is the REST API's contract read (api.reads.read_contract): one statement
that checks access, writes the access-log row and builds ContractOut's JSON. The CarePlan
is built from that JSON, and a search page is turned into the same JSON through
ContractOut, so one builder serves both.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions

from actors.models import Membership, Organisation, User
from api import reads
from api.serializers import ContractOut
from contracts.models import Commitment, Contract, FixedCareContact, Goal, NextStep
from naravard.paging import KeysetPage
from patients.access import patient_for_organisation, patients_visible_to_organisation
from patients.models import CareTeamMember

from .resources import (
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

# --- ids and search parameters ----------------------------------------------------------------


def number(value: str, prefix: str = "") -> int | None:
    """The id in "123", or in "team-123" when `prefix` is "team"; None for anything else
    (too long for a bigint, not ASCII digits, another prefix): it matches nothing."""
    if prefix:
        value = value.removeprefix(f"{prefix}-") if value.startswith(f"{prefix}-") else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def invalid(name, message):
    return exceptions.ValidationError({name: [message]})


def _parse_moment(value: str):
    """A FHIR date or dateTime as the [start, end) range its precision covers, or None."""
    try:
        if len(value) == 10:
            start = timezone.make_aware(
                datetime.combine(datetime.fromisoformat(value).date(), time.min)
            )
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return None
        return moment, moment + timedelta(seconds=1)
    except (ValueError, OverflowError):
        return None


def last_updated(values, field_name="updated_at") -> Q:
    """`_lastUpdated` with the prefixes ge, gt, le, lt and eq (the default)."""
    condition = Q()
    for raw in values:
        prefix, value = (
            (raw[:2], raw[2:]) if raw[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", raw)
        )
        moment = _parse_moment(value)
        if moment is None:
            raise invalid("_lastUpdated", _("Use a date (2025-03-01) or a time with a zone."))
        start, end = moment
        condition &= {
            "ge": Q(**{f"{field_name}__gte": start}),
            "gt": Q(**{f"{field_name}__gte": end}),
            "le": Q(**{f"{field_name}__lt": end}),
            "lt": Q(**{f"{field_name}__lt": start}),
            "eq": Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end}),
        }[prefix]
    return condition


def reference_id(value: str, kind: str):
    """The numeric id in "123" or "Patient/123"; None for anything else (matches nothing)."""
    return number(value.removeprefix(f"{kind}/"))


def count(params) -> int:
    raw = params.get("_count", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise invalid("_count", _("Ask for between 1 and 100 results per page."))
    return int(raw)


def identifier_filter(params, number_field, system_of) -> Q | None:
    """`identifier=[system|]value`; None when there is no such parameter."""
    raw = params.get("identifier")
    if raw is None:
        return None
    system, _sep, value = raw.rpartition("|")
    condition = Q(**{number_field: value})
    if system:
        condition &= system_of(system)
    return condition


# --- loading, with the access rule -----------------------------------------------------------


@dataclass
class Found:
    """What a read or search returns: resources, includes, and whose data they show.
    `logged` when the statement that loaded them already wrote the access-log rows."""

    matches: list = field(default_factory=list)
    includes: list = field(default_factory=list)
    patient_ids: set = field(default_factory=set)
    next_cursor: str | None = None
    logged: bool = False


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


def search_careplans(organisation, params) -> Found:
    contracts = fhir_contracts(organisation)
    for name in ("patient", "subject"):
        if name in params:
            contracts = contracts.filter(patient_id=reference_id(params[name], "Patient"))
    if "status" in params:
        wanted = {code for code in params["status"].split(",")}
        contracts = contracts.filter(
            status__in=[ours for ours, theirs in CAREPLAN_STATUS.items() if theirs in wanted]
        )
    if "_id" in params:
        contracts = contracts.filter(pk=reference_id(params["_id"], "CarePlan"))
    contracts = contracts.filter(last_updated(params.getlist("_lastUpdated")))
    page = KeysetPage(
        contracts,
        ("updated_at", "id"),
        ("datetime", "int"),
        params.get("_cursor"),
        count(params),
    )
    includes = set(params.getlist("_include"))
    return Found(
        matches=[careplan_of(c) for c in page.rows],
        includes=contract_includes(page.rows, includes),
        patient_ids={c.patient_id for c in page.rows},
        next_cursor=page.next_cursor if page.has_more else None,
    )


def _patient_scoped(organisation, params, kind):
    """Goal, Task and CareTeam are searched per patient: their plans, all of them."""
    if "patient" not in params:
        raise invalid("patient", _("Search %(kind)s by patient.") % {"kind": kind})
    patient_id = reference_id(params["patient"], "Patient")
    return list(fhir_contracts(organisation).filter(patient_id=patient_id).order_by("id"))


def search_goals(organisation, params) -> Found:
    contracts = _patient_scoped(organisation, params, "Goal")
    return Found(
        matches=[goal_resource(g, k.patient) for k in contracts for g in k.goals.all()],
        patient_ids={k.patient_id for k in contracts},
    )


def search_tasks(organisation, params) -> Found:
    contracts = _patient_scoped(organisation, params, "Task")
    return Found(matches=contract_tasks(contracts), patient_ids={k.patient_id for k in contracts})


def search_careteams(organisation, params) -> Found:
    if "patient" not in params:
        raise invalid("patient", _("Search %(kind)s by patient.") % {"kind": "CareTeam"})
    patient_id = reference_id(params["patient"], "Patient")
    patient = patients_visible_to_organisation(organisation).filter(pk=patient_id).first()
    if patient is None:
        return Found()
    return Found(matches=careteams_of(patient), patient_ids={patient.pk})


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


def search_patients(organisation, params) -> Found:
    patients = patients_visible_to_organisation(organisation)
    systems = {oid: kind for kind, oid in IDENTITY_SYSTEMS.items()}
    by_identifier = identifier_filter(
        params, "identity_number", lambda system: Q(identity_kind=systems.get(system, "-"))
    )
    if by_identifier is not None:
        patients = patients.filter(by_identifier)
    if "_id" in params:
        patients = patients.filter(pk=reference_id(params["_id"], "Patient"))
    patients = patients.filter(last_updated(params.getlist("_lastUpdated")))
    page = KeysetPage(patients, ("id",), ("int",), params.get("_cursor"), count(params))
    return Found(
        matches=[patient_resource(p) for p in page.rows],
        patient_ids={p.pk for p in page.rows},
        next_cursor=page.next_cursor if page.has_more else None,
    )


def search_organizations(organisation, params) -> Found:
    organisations = Organisation.objects.all()
    by_identifier = identifier_filter(
        params, "hsa_id", lambda system: Q() if system == HSA_ID_SYSTEM else Q(pk__in=[])
    )
    if by_identifier is not None:
        organisations = organisations.filter(by_identifier)
    if "_id" in params:
        organisations = organisations.filter(pk=reference_id(params["_id"], "Organization"))
    page = KeysetPage(organisations, ("id",), ("int",), params.get("_cursor"), count(params))
    return Found(
        matches=[organization_resource(o) for o in page.rows],
        next_cursor=page.next_cursor if page.has_more else None,
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
    pk = number(resource_id)
    goals = Goal.objects.select_related("contract__patient")
    goal = (
        goals.filter(
            pk=pk, contract__in=Contract.objects.visible_to_organisation(organisation)
        ).first()
        if pk
        else None
    )
    if goal is None:
        return None
    patient = goal.contract.patient
    return Found([goal_resource(goal, patient)], patient_ids={patient.pk})


def read_task(organisation, client_name, resource_id):
    """A next step ("nextstep-N") or a commitment ("commitment-N") of a visible plan."""
    visible = Contract.objects.visible_to_organisation(organisation)
    if pk := number(resource_id, "nextstep"):
        steps = NextStep.objects.select_related("contract__patient", "organisation", "staff")
        task, build = steps.filter(pk=pk, contract__in=visible).first(), step_task
    elif pk := number(resource_id, "commitment"):
        commitments = Commitment.objects.select_related(
            "contract__patient", "owner_organisation", "owner_staff", "owner_relative"
        )
        task, build = commitments.filter(pk=pk, contract__in=visible).first(), commitment_task
    else:
        return None
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


SEARCHES = {
    "CarePlan": search_careplans,
    "Goal": search_goals,
    "Task": search_tasks,
    "CareTeam": search_careteams,
    "Patient": search_patients,
    "Organization": search_organizations,
}
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
