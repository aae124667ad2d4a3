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

import hashlib
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership, Organisation, User
from contracts.models import (
    Commitment,
    ContactPath,
    Contract,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
)
from patients.identity import PERSONNUMMER_OID, RESERVNUMMER_OID, SAMORDNINGSNUMMER_OID
from patients.models import IdentityKind, Patient

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

CAREPLAN_INCLUDES = (
    "CarePlan:patient",
    "CarePlan:subject",
    "CarePlan:care-team",
    "CarePlan:goal",
    "CarePlan:activity-reference",
)

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
    """A time as a FHIR instant, in UTC as the database gives it. ContractOut's local ISO
    strings (with their offset) are parsed first, so both paths write the same text."""
    if not value:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat()


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


def row_meta(row) -> dict:
    """The version of a resource without an event trail: a hash of the row's updated_at,
    which every save moves (see versions.py)."""
    moment = row.updated_at
    return {
        "versionId": hashlib.sha256(moment.isoformat().encode()).hexdigest()[:16],
        "lastUpdated": instant(moment),
    }


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
            "meta": row_meta(patient),
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
            "meta": row_meta(organisation),
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
            "meta": row_meta(user),
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
            "meta": row_meta(membership),
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


def careplan_resource(contract: dict, patient_name: str, closed_at) -> dict:
    """The patient contract (patientkontrakt) as a CarePlan, from its ContractOut JSON (as
    api.reads builds it for a read, and api.serializers.ContractOut for a search page),
    with the two things ContractOut leaves out: the patient's name and when it closed."""
    patient_id = contract["patient"]
    contact = contract["fixed_care_contact"]
    activities = [ref("Task", f"nextstep-{s['id']}", s["purpose"]) for s in contract["next_steps"]]
    activities += [ref("Task", f"commitment-{c['id']}", c["what"]) for c in contract["commitments"]]
    return compact(
        {
            "resourceType": "CarePlan",
            "id": str(contract["id"]),
            "meta": {
                "versionId": str(contract["version"]),
                "lastUpdated": instant(contract["updated_at"]),
            },
            "status": CAREPLAN_STATUS[contract["status"]],
            "intent": "plan",
            "title": _("Patient contract"),
            "description": contract["what_matters"],
            "subject": ref("Patient", patient_id, patient_name),
            "period": {"start": instant(contract["created_at"]), "end": instant(closed_at)},
            "created": instant(contract["created_at"]),
            # One current fixed care contact at most (constraint one_current_contact).
            "careTeam": [ref("CareTeam", f"team-{patient_id}")]
            + ([ref("CareTeam", f"contact-{contact['id']}")] if contact else []),
            "goal": [ref("Goal", g["id"], g["text"]) for g in contract["goals"]],
            "activity": [{"reference": a} for a in activities],
            # What I keep an eye on, and what I do then.
            "note": [{"text": f"{w['sign']}: {w['action']}"} for w in contract["warning_signs"]],
        }
    )


# Versions, history and writes (version_views.py, writes.py): the interactions each type
# offers besides read and search-type. CarePlan and Task have an event trail, so their
# past versions can be read (readHistory) and their type has a history; the others
# list only their current version (versions.py says why).
VERSION_INTERACTIONS = {
    "CarePlan": ("vread", "history-instance", "history-type"),
    "Task": ("vread", "history-instance", "history-type", "update", "create"),
}
CURRENT_ONLY_INTERACTIONS = ("vread", "history-instance")


def version_capability(kind: str) -> dict:
    """The CapabilityStatement's part for versions of one type: its extra interactions,
    versioning, readHistory and conditional reads (If-None-Match, If-Modified-Since)."""
    codes = VERSION_INTERACTIONS.get(kind, CURRENT_ONLY_INTERACTIONS)
    writes = "update" in codes
    return {
        "interaction": [{"code": code} for code in codes],
        "versioning": "versioned-update" if writes else "versioned",
        "readHistory": kind in VERSION_INTERACTIONS,
        "updateCreate": False if writes else None,
        "conditionalRead": "full-support",
        "conditionalCreate": False if writes else None,
        "conditionalUpdate": False if writes else None,
    }


def capability_statement(base_url: str, resource_types, searches: dict, others=()) -> dict:
    """`searches`: each searchable type's part of its entry (searchParam, searchInclude,
    documentation), generated from the table the searches parse with (queries.SEARCHES).
    `others`: whole entries of resources served outside this package (Subscription, by
    push.fhir)."""

    def resource(kind):
        search = searches.get(kind)
        versions = version_capability(kind)
        interactions = [{"code": "read"}] + ([{"code": "search-type"}] if search else [])
        interactions += versions.pop("interaction")
        return compact({"type": kind, **versions, "interaction": interactions, **(search or {})})

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
                        "description": "OAuth2 client credentials at /oauth/token/: scope "
                        "read to read, scope write for the Task writes.",
                    },
                    "resource": [resource(kind) for kind in resource_types] + list(others),
                }
            ],
        }
    )
