"""FHIR R4 (read and search) at /fhir/R4/, over the same data, access rule and access log
as the REST API.

The patient contract is a CarePlan; "what matters to me" is its description and its goals
are Goals expressed by the patient; the next step and each commitment are Tasks with an
owner; the care team and the fixed care contact (fast vårdkontakt) are CareTeams, the
latter shaped after Inera's draft "Fast kontakt" profile (category fast-kontakt, one
participant with role "fast vårdkontakt", member a PractitionerRole). That profile is
written for R5, so it is followed in shape but not claimed in meta.profile.

Codes we own (organisation kinds, staff roles, channels) are sent as text only: there is
no national code system for them that we could honestly claim.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from actors.models import Membership, Organisation, User
from api.views import visible_contracts, with_parts
from contracts.models import (
    Commitment,
    ContactPath,
    Contract,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
)
from naravard.integrator import IntegratorView
from naravard.paging import KeysetPage
from naravard.problems import to_problem
from patients.access import log_integration_reads, patients_visible_to_organisation
from patients.identity import PERSONNUMMER_OID, RESERVNUMMER_OID, SAMORDNINGSNUMMER_OID
from patients.models import CareTeamMember, IdentityKind, Patient

FHIR_VERSION = "4.0.1"
HSA_ID_SYSTEM = "urn:oid:1.2.752.29.4.19"
IDENTITY_SYSTEMS = {
    IdentityKind.PERSONNUMMER: PERSONNUMMER_OID,
    IdentityKind.SAMORDNINGSNUMMER: SAMORDNINGSNUMMER_OID,
    IdentityKind.RESERVNUMMER: RESERVNUMMER_OID,
}
# Inera's draft CareTeam profile "Fast kontakt" (fhir.inera.se/ig/careteam, v0.9).
FAST_KONTAKT_CATEGORY = {
    "system": "https://fhir.inera.se/ig/careteam/CodeSystem/typ-av-careteam-cs",
    "code": "fast-kontakt",
}
FAST_VARDKONTAKT_ROLE = {
    "system": "https://terminologitjansten.inera.se/inera-kodverksforvaltning/kodverk/kv_typ_av_fast_kontakt",
    "code": "1",
    "display": "fast vårdkontakt",
}
INTERPRETER_EXTENSION = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"

CAREPLAN_STATUS = {
    Contract.Status.DRAFT: "draft",
    Contract.Status.ACTIVE: "active",
    Contract.Status.CLOSED: "completed",
}
STEP_STATUS = {
    NextStep.Status.PLANNED: "accepted",
    NextStep.Status.DONE: "completed",
    NextStep.Status.CANCELLED: "cancelled",
    NextStep.Status.MISSED: "failed",
}
COMMITMENT_STATUS = {
    Commitment.Status.OPEN: "ready",
    Commitment.Status.DONE: "completed",
    Commitment.Status.CANCELLED: "cancelled",
}
TELECOM_SYSTEM = {
    ContactPath.Kind.PHONE: "phone",
    ContactPath.Kind.WEB_BOOKING: "url",
    ContactPath.Kind.VIDEO: "url",
    ContactPath.Kind.E_SERVICE: "url",
    ContactPath.Kind.SECURE_MESSAGE: "other",
}


# --- small helpers ------------------------------------------------------------------------


def compact(value):
    """Drop empty values: FHIR allows no empty strings, arrays or objects."""
    if isinstance(value, dict):
        out = {k: compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        out = [compact(v) for v in value]
        return [v for v in out if v not in (None, "", [], {})]
    return value


def instant(value):
    return value.isoformat() if value else None


def day(value):
    return value.isoformat() if value else None


def ref(kind, pk, display=""):
    return {"reference": f"{kind}/{pk}", "display": display}


def patient_ref(patient):
    return ref("Patient", patient.pk, patient.full_name)


def org_ref(organisation):
    return ref("Organization", organisation.pk, organisation.name) if organisation else None


def staff_ref(user):
    return ref("Practitioner", user.pk, user.get_full_name() or "") if user else None


def text(value):
    return {"text": str(value)} if value else None


# --- resources ---------------------------------------------------------------------------


def patient_resource(patient: Patient) -> dict:
    telecom = [
        {"system": "phone", "value": patient.phone, "use": "mobile"} if patient.phone else None,
        {"system": "email", "value": patient.email, "use": "home"} if patient.email else None,
    ]
    return compact(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "meta": {"lastUpdated": instant(patient.updated_at)},
            "identifier": [
                {
                    "use": "official",
                    "system": IDENTITY_SYSTEMS[patient.identity_kind],
                    "value": patient.identity_number,
                }
            ],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": patient.full_name,
                    "family": patient.family_name,
                    "given": [patient.given_name],
                }
            ],
            "telecom": telecom,
            "birthDate": day(patient.birth_date),
            "address": [text(patient.address)],
            "communication": [
                {
                    "language": {
                        "coding": [
                            {"system": "urn:ietf:bcp:47", "code": patient.preferred_language}
                        ]
                    },
                    "preferred": True,
                }
            ],
            "extension": [
                {"url": INTERPRETER_EXTENSION, "valueBoolean": True}
                if patient.needs_interpreter
                else None
            ],
        }
    )


def organization_resource(organisation: Organisation) -> dict:
    return compact(
        {
            "resourceType": "Organization",
            "id": str(organisation.pk),
            "identifier": [
                {"use": "official", "system": HSA_ID_SYSTEM, "value": organisation.hsa_id}
                if organisation.hsa_id
                else None
            ],
            "active": True,
            # Our own kinds, as text: see the module docstring.
            "type": [text(organisation.get_kind_display())],
            "name": organisation.name,
            "telecom": [{"system": "phone", "value": organisation.phone, "use": "work"}]
            if organisation.phone
            else [],
            "address": [text(organisation.address)],
            "partOf": ref("Organization", organisation.parent_id)
            if organisation.parent_id
            else None,
        }
    )


def practitioner_resource(user: User) -> dict:
    return compact(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "active": user.is_active,
            "name": [
                {
                    "text": user.get_full_name(),
                    "family": user.last_name,
                    "given": [user.first_name],
                }
            ],
        }
    )


def practitioner_role_resource(membership: Membership) -> dict:
    return compact(
        {
            "resourceType": "PractitionerRole",
            "id": str(membership.pk),
            "active": membership.active,
            "practitioner": staff_ref(membership.user),
            "organization": org_ref(membership.organisation),
            "code": [text(membership.title or membership.get_role_display())],
            "telecom": [{"system": "phone", "value": membership.phone, "use": "work"}]
            if membership.phone
            else [],
        }
    )


def goal_resource(goal: Goal, patient: Patient) -> dict:
    achieved = goal.achieved_at is not None
    return compact(
        {
            "resourceType": "Goal",
            "id": str(goal.pk),
            "lifecycleStatus": "completed" if achieved else "active",
            "achievementStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "code": "achieved",
                    }
                ]
            }
            if achieved
            else None,
            "description": {"text": goal.text},
            "subject": patient_ref(patient),
            # In the patient's own words: part of "what matters to me".
            "expressedBy": patient_ref(patient),
            "statusDate": day(goal.achieved_at.date()) if achieved else None,
        }
    )


def step_task(step: NextStep, contract: Contract) -> dict:
    if step.staff_id:
        owner = staff_ref(step.staff)
    elif step.organisation_id:
        owner = ref("Organization", step.organisation_id, step.with_whom or step.organisation.name)
    else:
        owner = {"display": step.with_whom}
    return compact(
        {
            "resourceType": "Task",
            "id": f"nextstep-{step.pk}",
            "status": STEP_STATUS[step.status],
            "intent": "plan",
            "code": text(_("Next step")),
            "description": step.purpose,
            "basedOn": [ref("CarePlan", contract.pk)],
            "for": patient_ref(contract.patient),
            "authoredOn": instant(step.created_at),
            "lastModified": instant(step.outcome_recorded_at),
            "executionPeriod": {"start": instant(step.scheduled_at)},
            "owner": owner,
            "location": {"display": step.location} if step.location else None,
            "input": [{"type": text(_("How")), "valueCode": step.channel}],
            "output": [{"type": text(_("Outcome")), "valueString": step.outcome}]
            if step.outcome
            else [],
        }
    )


def commitment_task(commitment: Commitment, contract: Contract) -> dict:
    kind = commitment.owner_kind
    if kind == OwnerKind.PATIENT:
        owner = patient_ref(contract.patient)
    elif kind == OwnerKind.RELATIVE:
        # Relatives are not served as RelatedPerson resources yet: name them only.
        owner = {"type": "RelatedPerson", "display": commitment.owner_relative.name}
    elif kind == OwnerKind.STAFF:
        owner = staff_ref(commitment.owner_staff)
    else:
        owner = org_ref(commitment.owner_organisation)
    return compact(
        {
            "resourceType": "Task",
            "id": f"commitment-{commitment.pk}",
            "status": COMMITMENT_STATUS[commitment.status],
            "intent": "plan",
            "code": text(_("Self-care") if commitment.is_self_care else _("Commitment")),
            "description": commitment.what,
            "basedOn": [ref("CarePlan", contract.pk)],
            "for": patient_ref(contract.patient),
            "authoredOn": instant(commitment.created_at),
            "executionPeriod": {"end": instant(commitment.completed_at)},
            "restriction": {"period": {"end": day(commitment.due_date)}},
            "owner": owner,
        }
    )


def _telecom(contact_paths) -> list:
    return [
        {"system": TELECOM_SYSTEM[path.kind], "value": path.value, "rank": rank}
        for rank, path in enumerate(contact_paths, start=1)
    ]


def team_careteam(patient: Patient, members, contact_paths=()) -> dict:
    """The whole care team: each organisation, and named staff on its behalf."""
    participants = []
    for member in members:
        if not member.active:
            continue
        role = [text(member.responsibility)]
        if member.staff_id:
            participants.append(
                {
                    "role": role,
                    "member": staff_ref(member.staff),
                    "onBehalfOf": org_ref(member.organisation),
                }
            )
        else:
            participants.append({"role": role, "member": org_ref(member.organisation)})
    return compact(
        {
            "resourceType": "CareTeam",
            "id": f"team-{patient.pk}",
            "status": "active",
            "name": _("Care team"),
            "subject": patient_ref(patient),
            "participant": participants,
            "telecom": _telecom(contact_paths),
        }
    )


def contact_careteam(contact: FixedCareContact, patient: Patient, role_id=None) -> dict:
    """The fixed care contact, after Inera's "Fast kontakt" CareTeam profile."""
    if role_id:
        member = ref("PractitionerRole", role_id, contact.staff.get_full_name())
    else:
        member = staff_ref(contact.staff)
    return compact(
        {
            "resourceType": "CareTeam",
            "id": f"contact-{contact.pk}",
            "status": "active" if contact.ended_on is None else "inactive",
            "category": [{"coding": [FAST_KONTAKT_CATEGORY]}],
            "name": _("Fixed care contact"),
            "subject": patient_ref(patient),
            "period": {"start": day(contact.started_on), "end": day(contact.ended_on)},
            "participant": [{"role": [{"coding": [FAST_VARDKONTAKT_ROLE]}], "member": member}],
            "managingOrganization": [org_ref(contact.organisation)],
            "telecom": [{"system": "other", "value": contact.how_to_reach}]
            if contact.how_to_reach
            else [],
        }
    )


def careplan_resource(contract: Contract) -> dict:
    """The patient contract (patientkontrakt) as a CarePlan, from prefetched parts."""
    patient = contract.patient
    contacts = [c for c in contract.care_contacts.all() if c.ended_on is None]
    activities = [ref("Task", f"nextstep-{s.pk}", s.purpose) for s in contract.next_steps.all()]
    activities += [ref("Task", f"commitment-{c.pk}", c.what) for c in contract.commitments.all()]
    return compact(
        {
            "resourceType": "CarePlan",
            "id": str(contract.pk),
            "meta": {
                "versionId": str(contract.version),
                "lastUpdated": instant(contract.updated_at),
            },
            "status": CAREPLAN_STATUS[contract.status],
            "intent": "plan",
            "title": _("Patient contract"),
            "description": contract.what_matters,
            "subject": patient_ref(patient),
            "period": {"start": instant(contract.created_at), "end": instant(contract.closed_at)},
            "created": instant(contract.created_at),
            "careTeam": [ref("CareTeam", f"team-{patient.pk}")]
            + [ref("CareTeam", f"contact-{c.pk}") for c in contacts],
            "goal": [ref("Goal", g.pk, g.text) for g in contract.goals.all()],
            "activity": [{"reference": a} for a in activities],
            # What I keep an eye on, and what I do then.
            "note": [{"text": f"{w.sign}: {w.action}"} for w in contract.warning_signs.all()],
        }
    )


def capability_statement(base_url: str) -> dict:
    def resource(kind, params=(), includes=(), search=True):
        interactions = [{"code": "read"}] + ([{"code": "search-type"}] if search else [])
        return compact(
            {
                "type": kind,
                "interaction": interactions,
                "searchParam": [{"name": name, "type": kind_} for name, kind_ in params],
                "searchInclude": list(includes),
            }
        )

    by_patient = [("patient", "reference")]
    return compact(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.localdate().isoformat(),
            "publisher": "Naravard",
            "kind": "instance",
            "software": {"name": "Naravard"},
            "implementation": {"description": "Naravard FHIR R4, read and search", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/"
                                        "restful-security-service",
                                        "code": "OAuth",
                                    }
                                ]
                            }
                        ],
                        "description": "OAuth2 client credentials at /oauth/token/, scope read.",
                    },
                    "resource": [
                        resource(
                            "CarePlan",
                            [
                                ("patient", "reference"),
                                ("subject", "reference"),
                                ("status", "token"),
                                ("_id", "token"),
                                ("_lastUpdated", "date"),
                            ],
                            CAREPLAN_INCLUDES,
                        ),
                        resource("Goal", by_patient),
                        resource("Task", by_patient),
                        resource("CareTeam", by_patient),
                        resource(
                            "Patient",
                            [("identifier", "token"), ("_id", "token"), ("_lastUpdated", "date")],
                        ),
                        resource("Organization", [("identifier", "token"), ("_id", "token")]),
                        resource("Practitioner", search=False),
                        resource("PractitionerRole", search=False),
                    ],
                }
            ],
        }
    )


# --- search parameters ----------------------------------------------------------------------

CAREPLAN_INCLUDES = (
    "CarePlan:patient",
    "CarePlan:subject",
    "CarePlan:care-team",
    "CarePlan:goal",
    "CarePlan:activity-reference",
)


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
    value = value.removeprefix(f"{kind}/")
    return int(value) if value.isdigit() and len(value) < 19 else None


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
    """What a read or search returns: resources, includes, and whose data they show."""

    matches: list = field(default_factory=list)
    includes: list = field(default_factory=list)
    patient_ids: set = field(default_factory=set)
    next_cursor: str | None = None


def fhir_contracts(organisation):
    return with_parts(visible_contracts(organisation)).select_related("patient")


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
        matches=[careplan_resource(c) for c in page.rows],
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


def read_resource(organisation, kind, resource_id) -> Found:
    """One resource by type and id, or NotFound (missing and not-yours look the same)."""
    found = _read(organisation, kind, resource_id)
    if found is None or not found.matches:
        raise exceptions.NotFound()
    return found


def _read(organisation, kind, resource_id):
    number = int(resource_id) if resource_id.isdigit() and len(resource_id) < 19 else None
    if kind == "CarePlan" and number:
        contract = fhir_contracts(organisation).filter(pk=number).first()
        if contract:
            return Found([careplan_resource(contract)], patient_ids={contract.patient_id})
    elif kind == "Patient" and number:
        patient = patients_visible_to_organisation(organisation).filter(pk=number).first()
        if patient:
            return Found([patient_resource(patient)], patient_ids={patient.pk})
    elif kind == "Goal" and number:
        goal = Goal.objects.filter(pk=number).values_list("contract_id", flat=True).first()
        contract = fhir_contracts(organisation).filter(pk=goal).first() if goal else None
        if contract:
            matches = [goal_resource(g, contract.patient) for g in contract.goals.all()]
            return Found(
                [g for g in matches if g["id"] == resource_id], patient_ids={contract.patient_id}
            )
    elif kind == "Task":
        return _read_task(organisation, resource_id)
    elif kind == "CareTeam":
        prefix, _sep, rest = resource_id.partition("-")
        patient_id = _careteam_patient(prefix, rest)
        patient = patients_visible_to_organisation(organisation).filter(pk=patient_id).first()
        if patient_id and patient:
            return Found(careteams_of(patient, only=resource_id), patient_ids={patient.pk})
    elif kind == "Organization" and number:
        found = Organisation.objects.filter(pk=number).first()
        return Found([organization_resource(found)]) if found else None
    elif kind == "Practitioner" and number:
        # Only people who work somewhere: a patient's login is not a practitioner.
        staff = User.objects.filter(
            Exists(Membership.objects.filter(user=OuterRef("pk"))), pk=number
        ).first()
        return Found([practitioner_resource(staff)]) if staff else None
    elif kind == "PractitionerRole" and number:
        membership = (
            Membership.objects.select_related("user", "organisation").filter(pk=number).first()
        )
        return Found([practitioner_role_resource(membership)]) if membership else None
    return None


def _careteam_patient(prefix, rest):
    if not rest.isdigit() or len(rest) > 18:
        return None
    if prefix == "team":
        return int(rest)
    if prefix == "contact":
        return (
            FixedCareContact.objects.filter(pk=int(rest))
            .values_list("contract__patient_id", flat=True)
            .first()
        )
    return None


def _read_task(organisation, resource_id):
    prefix, _sep, rest = resource_id.partition("-")
    if not rest.isdigit() or len(rest) > 18 or prefix not in ("nextstep", "commitment"):
        return None
    model = NextStep if prefix == "nextstep" else Commitment
    contract_id = model.objects.filter(pk=int(rest)).values_list("contract_id", flat=True).first()
    contract = fhir_contracts(organisation).filter(pk=contract_id).first() if contract_id else None
    if contract is None:
        return None
    tasks = [t for t in contract_tasks([contract]) if t["id"] == resource_id]
    return Found(tasks, patient_ids={contract.patient_id})


SEARCHES = {
    "CarePlan": search_careplans,
    "Goal": search_goals,
    "Task": search_tasks,
    "CareTeam": search_careteams,
    "Patient": search_patients,
    "Organization": search_organizations,
}
RESOURCE_TYPES = (*SEARCHES, "Practitioner", "PractitionerRole")


# --- views ------------------------------------------------------------------------------------


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    415: "not-supported",
    429: "throttled",
}


def operation_outcome_handler(exc, context):
    """Errors as an OperationOutcome, with the same statuses and texts as the REST API."""
    problem = to_problem(exc)
    if problem is None:
        return None
    set_rollback()
    code = ISSUE_CODES.get(problem.status, "processing")
    issues = [
        {"severity": "error", "code": code, "diagnostics": m, "expression": [name]}
        for name, messages in problem.errors.items()
        for m in messages
    ] or [{"severity": "error", "code": code, "diagnostics": problem.detail or problem.title}]
    return Response(
        {"resourceType": "OperationOutcome", "issue": issues},
        status=problem.status,
        headers=problem.headers,
        content_type="application/fhir+json",
    )


class FhirView(IntegratorView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    schema = None  # FHIR describes itself in the CapabilityStatement, not in OpenAPI.

    def get_exception_handler(self):
        return operation_outcome_handler

    def base_url(self):
        return self.request.build_absolute_uri("/fhir/R4/")

    def log_reads(self, found: Found):
        integrator = self.integrator
        if found.patient_ids:
            log_integration_reads(
                integrator.organisation, integrator.client.name, sorted(found.patient_ids)
            )


class FhirRead(FhirView):
    def get(self, request, resource_type, resource_id):
        found = read_resource(self.integrator.organisation, resource_type, resource_id)
        self.log_reads(found)
        resource = found.matches[0]
        response = Response(resource)
        if "versionId" in resource.get("meta", {}):
            response["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
        return response


class FhirSearch(FhirView):
    def get(self, request, resource_type):
        search = SEARCHES.get(resource_type)
        if search is None:
            raise exceptions.MethodNotAllowed("GET", _("Read this resource type by id."))
        params = request.query_params
        found = search(self.integrator.organisation, params)
        self.log_reads(found)
        base = self.base_url()
        links = [{"relation": "self", "url": request.build_absolute_uri()}]
        if found.next_cursor:
            query = params.copy()
            query["_cursor"] = found.next_cursor
            links.append(
                {"relation": "next", "url": f"{base}{resource_type}?{urlencode(query, doseq=True)}"}
            )
        entries = [(r, "match") for r in found.matches] + [(r, "include") for r in found.includes]
        return Response(
            compact(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "timestamp": timezone.now().isoformat(),
                    "link": links,
                    "entry": [
                        {
                            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
                            "resource": r,
                            "search": {"mode": mode},
                        }
                        for r, mode in entries
                    ],
                }
            )
        )


class Metadata(FhirView):
    """The CapabilityStatement: open to anyone, it holds no patient data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response(capability_statement(self.base_url()))


class FhirNotFound(Metadata):
    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound()
