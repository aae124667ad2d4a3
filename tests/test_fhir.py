"""FHIR R4 read and search: every resource served is checked against the R4 structure.

fhir.resources 8.x models FHIR R5 at its top level and R4B (4.3.0) under
`fhir.resources.R4B`; it has no 4.0.1 package. R4B is the R4 line: for the resources
served here (CarePlan, Goal, Task, CareTeam, Patient, Organization, Practitioner,
PractitionerRole, Bundle, OperationOutcome, CapabilityStatement) it has the same elements
and types as 4.0.1, so it is the closest validator the package offers. The models check
structure and types, not value sets, so the codes are checked here by hand.
"""

from datetime import UTC, timedelta

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token, vc_api
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from personas import SYSTEM, version

from contracts import services
from contracts.history import Actor
from contracts.models import Contract
from patients import services as patient_services
from patients.access import patients_visible_to_organisation
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]

# The R4 value sets for the codes we send.
CAREPLAN_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error"}
CAREPLAN_INTENT = {"proposal", "plan", "order", "option"}
TASK_STATUS = {
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
    "in-progress", "on-hold", "failed", "completed", "entered-in-error",
}  # fmt: skip
TASK_INTENT = {
    "unknown", "proposal", "plan", "order", "original-order", "reflex-order",
    "filler-order", "instance-order", "option",
}  # fmt: skip
GOAL_LIFECYCLE = {
    "proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled",
    "entered-in-error", "rejected",
}  # fmt: skip
CARETEAM_STATUS = {"proposed", "active", "suspended", "inactive", "entered-in-error"}
PERSONNUMMER = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER = "urn:oid:1.2.752.129.2.1.3.3"
HSA_ID = "urn:oid:1.2.752.29.4.19"


def check_codes(resource):
    kind = resource["resourceType"]
    if kind == "CarePlan":
        assert resource["status"] in CAREPLAN_STATUS
        assert resource["intent"] in CAREPLAN_INTENT
    elif kind == "Task":
        assert resource["status"] in TASK_STATUS
        assert resource["intent"] in TASK_INTENT
        assert "owner" in resource
    elif kind == "Goal":
        assert resource["lifecycleStatus"] in GOAL_LIFECYCLE
        assert resource["expressedBy"]["reference"].startswith("Patient/")
    elif kind == "CareTeam":
        assert resource["status"] in CARETEAM_STATUS
        for participant in resource.get("participant", []):
            # ctm-1: onBehalfOf only when the member is a practitioner.
            if "onBehalfOf" in participant:
                assert participant["member"]["reference"].startswith("Practitioner/")
    elif kind == "Patient":
        assert {i["system"] for i in resource["identifier"]} <= {PERSONNUMMER, SAMORDNINGSNUMMER}
    elif kind == "Organization":
        assert {i["system"] for i in resource.get("identifier", [])} <= {HSA_ID}


def valid(resource):
    """The resource, after checking it against R4 (via R4B) and our codes."""
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)
    if resource["resourceType"] == "Bundle":
        for entry in resource.get("entry", []):
            check_codes(entry["resource"])
    else:
        check_codes(resource)
    return resource


def fhir_get(api, url, expect=200, **params):
    response = api.get(url, **params)
    assert response.status_code == expect, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return valid(response.json())


def test_metadata_is_a_capability_statement(db):
    statement = fhir_get(Api(None), "/fhir/R4/metadata")
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"CarePlan", "Goal", "Task", "CareTeam", "Patient", "Organization"} <= types


def utc(moment):
    """A time as the CarePlan writes it: ISO 8601 in UTC, as the database gives it."""
    return moment.astimezone(UTC).isoformat() if moment else None


def test_careplan_read_has_the_whole_contract(vc_api, plan, doctor, network):
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    services.set_what_matters(
        actor=as_doctor,
        contract=plan,
        text=plan.what_matters,
        goals=["Gå till affären", "Laga mat själv"],
        expected_version=version(plan),
    )
    services.set_warning_signs(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        signs=[("Svullna ben", "Ring vårdcentralen")],
    )
    plan.refresh_from_db()
    careplan = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}")

    goals = list(plan.goals.all())
    (step,) = plan.next_steps.all()
    commitments = list(plan.commitments.all())
    contact = plan.care_contacts.get(ended_on__isnull=True)
    assert careplan == {
        "resourceType": "CarePlan",
        "id": str(plan.pk),
        "meta": {"versionId": str(plan.version), "lastUpdated": utc(plan.updated_at)},
        "status": "active",
        "intent": "plan",
        "title": "Patientkontrakt",
        "description": "Att kunna gå till affären själv.",
        "subject": {"reference": f"Patient/{plan.patient_id}", "display": "Tolvan Tolvansson"},
        "period": {"start": utc(plan.created_at)},
        "created": utc(plan.created_at),
        "careTeam": [
            {"reference": f"CareTeam/team-{plan.patient_id}"},
            {"reference": f"CareTeam/contact-{contact.pk}"},
        ],
        "goal": [
            {"reference": f"Goal/{goals[0].pk}", "display": "Gå till affären"},
            {"reference": f"Goal/{goals[1].pk}", "display": "Laga mat själv"},
        ],
        "activity": [
            {
                "reference": {
                    "reference": f"Task/nextstep-{step.pk}",
                    "display": "Följa upp vikt och andning",
                }
            }
        ]
        + [
            {"reference": {"reference": f"Task/commitment-{c.pk}", "display": c.what}}
            for c in commitments
        ],
        "note": [{"text": "Svullna ben: Ring vårdcentralen"}],
    }
    assert [c.what for c in commitments] == [
        "Väga mig varje morgon",
        "Se över medicinlistan",
        "Hjälpa till med kompressionsstrumpor",
    ]
    assert careplan["created"].endswith("+00:00")
    assert AccessLogEntry.objects.filter(patient=plan.patient, action="api_read").count() == 1


def test_careplan_read_and_search_build_the_same_careplan(vc_api, plan):
    """One builder: the read (ContractOut JSON from SQL) and a search page (ContractOut
    through its serializer) give the same resource, closing time included."""
    closed = timezone.now().replace(microsecond=0)
    Contract.objects.filter(pk=plan.pk).update(status=Contract.Status.CLOSED, closed_at=closed)
    read = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}")
    assert read["status"] == "completed"
    assert read["period"] == {"start": utc(plan.created_at), "end": utc(closed)}
    bundle = fhir_get(vc_api, "/fhir/R4/CarePlan", _id=str(plan.pk))
    assert [e["resource"] for e in bundle["entry"]] == [read]


def test_careplan_read_takes_three_queries(vc_api, plan, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        response = vc_api.get(f"/fhir/R4/CarePlan/{plan.pk}")
    assert response.status_code == 200
    assert response["ETag"] == f'"{plan.version}"'
    assert AccessLogEntry.objects.filter(patient=plan.patient, action="api_read").count() == 1


def test_careplan_read_without_a_care_relationship_is_not_found_and_logged_as_refused(
    integrations, plan, network, tolvan
):
    """Home health care had consent until Tolvan withdrew it; cardiology never did."""
    visible = patients_visible_to_organisation(network["home_health"])
    assert visible.filter(pk=tolvan.pk).exists()
    home_health = Api(issue_token(integrations["home_health"]))
    cardiology = Api(issue_token(integrations["cardiology"]))
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["home_health"]
    )
    for api in (home_health, cardiology):
        fhir_get(api, f"/fhir/R4/CarePlan/{plan.pk}", expect=404)
    # The patient sees both attempts; neither read anything.
    refused = AccessLogEntry.objects.filter(patient=plan.patient).order_by("pk")
    assert [(row.organisation, row.action, row.assurance_level) for row in refused] == [
        (network["home_health"], "denied", None),
        (network["cardiology"], "denied", None),
    ]


def test_every_resource_the_plan_links_to_is_valid(vc_api, plan, doctor, network):
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text=plan.what_matters,
        goals=["Gå till affären"],
        expected_version=version(plan),
    )
    careplan = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}")
    references = [careplan["subject"]["reference"]]
    references += [r["reference"] for r in careplan["careTeam"] + careplan["goal"]]
    references += [a["reference"]["reference"] for a in careplan["activity"]]
    for reference in references:
        resource = fhir_get(vc_api, f"/fhir/R4/{reference}")
        for key in ("owner", "member", "practitioner", "organization"):
            target = resource.get(key, {}).get("reference")
            if target:
                fhir_get(vc_api, f"/fhir/R4/{target}")
        for participant in resource.get("participant", []):
            fhir_get(vc_api, f"/fhir/R4/{participant['member']['reference']}")


def test_patient_has_the_personnummer_identifier(vc_api, tolvan):
    patient = fhir_get(vc_api, f"/fhir/R4/Patient/{tolvan.pk}")
    assert patient["identifier"] == [
        {"use": "official", "system": PERSONNUMMER, "value": "191212121212"}
    ]
    assert patient["birthDate"] == "1912-12-12"


def test_patient_search_by_identifier(vc_api, tolvan):
    bundle = fhir_get(vc_api, "/fhir/R4/Patient", identifier=f"{PERSONNUMMER}|191212121212")
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(tolvan.pk)]
    none = fhir_get(vc_api, "/fhir/R4/Patient", identifier=f"{SAMORDNINGSNUMMER}|191212121212")
    assert "entry" not in none


def test_organization_has_the_hsa_id(vc_api, network):
    organisation = fhir_get(vc_api, f"/fhir/R4/Organization/{network['vardcentral'].pk}")
    assert organisation["identifier"][0] == {
        "use": "official",
        "system": HSA_ID,
        "value": "SE2321000032-vc01",
    }
    assert organisation["partOf"]["reference"] == f"Organization/{network['region'].pk}"


def test_fixed_care_contact_follows_the_swedish_careteam_shape(vc_api, plan, doctor):
    contact = plan.care_contacts.get(ended_on__isnull=True)
    careteam = fhir_get(vc_api, f"/fhir/R4/CareTeam/contact-{contact.pk}")
    assert careteam["category"][0]["coding"][0]["code"] == "fast-kontakt"
    (participant,) = careteam["participant"]
    assert participant["role"][0]["coding"][0]["display"] == "fast vårdkontakt"
    assert participant["member"]["reference"].startswith("PractitionerRole/")
    role = fhir_get(vc_api, f"/fhir/R4/{participant['member']['reference']}")
    assert role["practitioner"]["reference"] == f"Practitioner/{doctor.pk}"


def test_tasks_have_owners_and_statuses(vc_api, plan, network, nurse):
    bundle = fhir_get(vc_api, "/fhir/R4/Task", patient=str(plan.patient_id))
    tasks = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    step = plan.next_steps.get()
    assert tasks[f"nextstep-{step.pk}"]["status"] == "accepted"
    owners = {t["description"]: t["owner"] for t in tasks.values()}
    assert owners["Väga mig varje morgon"]["reference"] == f"Patient/{plan.patient_id}"
    assert owners["Hjälpa till med kompressionsstrumpor"]["reference"] == f"Practitioner/{nurse.pk}"
    assert owners["Se över medicinlistan"]["reference"] == (
        f"Organization/{network['vardcentral'].pk}"
    )


def test_careplan_search_with_includes(vc_api, plan):
    bundle = fhir_get(
        vc_api,
        "/fhir/R4/CarePlan",
        patient=f"Patient/{plan.patient_id}",
        status="active",
        _include=["CarePlan:patient", "CarePlan:care-team", "CarePlan:activity-reference"],
    )
    assert bundle["type"] == "searchset"
    modes = {}
    for entry in bundle["entry"]:
        modes.setdefault(entry["search"]["mode"], []).append(entry["resource"]["resourceType"])
    assert modes["match"] == ["CarePlan"]
    assert sorted(set(modes["include"])) == ["CareTeam", "Patient", "Task"]


def test_careplan_search_by_status_and_last_updated(vc_api, plan):
    assert "entry" not in fhir_get(vc_api, "/fhir/R4/CarePlan", status="completed")
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert "entry" not in fhir_get(vc_api, "/fhir/R4/CarePlan", _lastUpdated=f"gt{later}")
    found = fhir_get(vc_api, "/fhir/R4/CarePlan", _lastUpdated=f"le{later}")
    assert [e["resource"]["id"] for e in found["entry"]] == [str(plan.pk)]
    today = timezone.localdate().isoformat()
    found = fhir_get(vc_api, "/fhir/R4/CarePlan", _lastUpdated=today)
    assert len(found["entry"]) == 1


def test_careplan_search_pages_with_next_links(integrations, network, doctor):
    from test_api_reads import make_patients

    make_patients(network, doctor, 5)
    api = Api(issue_token(integrations["vardcentral"]))
    bundle = fhir_get(api, "/fhir/R4/CarePlan", _count="2")
    seen = []
    while True:
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = fhir_get(api, following[0].removeprefix("http://testserver"))
    assert len(seen) == len(set(seen)) == 5


def make_rich_plans(network, doctor, count):
    """`count` plans with goals, commitments, a next step, warning signs and a fixed care
    contact each: every part an `_include` follows."""
    from test_api_reads import make_patients

    as_doctor = Actor.staff(doctor, network["vardcentral"])
    contracts = make_patients(network, doctor, count)
    for contract in contracts:
        services.set_what_matters(
            actor=as_doctor,
            contract=contract,
            text="Hem",
            goals=["Gå ut", "Laga mat"],
            expected_version=version(contract),
        )
        services.set_warning_signs(
            actor=as_doctor,
            contract=contract,
            expected_version=version(contract),
            signs=[("Andfådd", "Ring")],
        )
        services.assign_fixed_care_contact(
            actor=as_doctor,
            contract=contract,
            expected_version=version(contract),
            staff=doctor,
            organisation=network["vardcentral"],
        )
    return contracts


@pytest.mark.parametrize(
    "includes",
    [
        [],
        ["CarePlan:patient"],
        ["CarePlan:subject"],
        ["CarePlan:care-team"],
        ["CarePlan:goal"],
        ["CarePlan:activity-reference"],
        [
            "CarePlan:patient",
            "CarePlan:care-team",
            "CarePlan:goal",
            "CarePlan:activity-reference",
        ],
    ],
)
def test_careplan_search_uses_a_fixed_number_of_queries(
    integrations, network, doctor, includes, django_assert_num_queries
):
    make_rich_plans(network, doctor, 6)
    api = Api(issue_token(integrations["vardcentral"]))
    api.get("/fhir/R4/CarePlan", _count="1", _include=includes)
    with CaptureQueriesContext(connection) as one:
        fhir_get(api, "/fhir/R4/CarePlan", _count="1", _include=includes)
    with django_assert_num_queries(len(one.captured_queries)):
        bundle = fhir_get(api, "/fhir/R4/CarePlan", _count="6", _include=includes)
    assert sum(e["search"]["mode"] == "match" for e in bundle["entry"]) == 6
    assert len(bundle["entry"]) > 6 or not includes


@pytest.mark.parametrize("kind", ["Goal", "Task", "CareTeam"])
def test_searches_by_patient_use_a_fixed_number_of_queries(
    integrations, network, doctor, nurse, kind, django_assert_num_queries
):
    """A patient with one of each part and one with several cost the same."""
    small, large = make_rich_plans(network, doctor, 2)
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    services.set_what_matters(
        actor=as_doctor,
        contract=large,
        text="Hem",
        goals=["Gå ut", "Laga mat", "Träffa vänner", "Sova bättre"],
        expected_version=version(large),
    )
    for what in ("Promenera", "Ta medicinen", "Skriva dagbok"):
        services.add_commitment(
            actor=as_doctor,
            contract=large,
            expected_version=version(large),
            what=what,
            owner_kind="patient",
        )
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=large.patient, organisation=network["home_health"], consent=True
    )
    services.assign_fixed_care_contact(
        actor=as_doctor,
        contract=large,
        expected_version=version(large),
        staff=nurse,
        organisation=network["home_health"],
    )
    api = Api(issue_token(integrations["vardcentral"]))
    api.get(f"/fhir/R4/{kind}", patient=str(small.patient_id))
    with CaptureQueriesContext(connection) as one_each:
        few = fhir_get(api, f"/fhir/R4/{kind}", patient=str(small.patient_id))
    with django_assert_num_queries(len(one_each.captured_queries)):
        many = fhir_get(api, f"/fhir/R4/{kind}", patient=str(large.patient_id))
    assert len(many["entry"]) > len(few["entry"])


def test_other_organisations_cannot_read_the_careplan(integrations, plan):
    api = Api(issue_token(integrations["cardiology"]))
    outcome = fhir_get(api, f"/fhir/R4/CarePlan/{plan.pk}", expect=404)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert "entry" not in fhir_get(api, "/fhir/R4/CarePlan", patient=str(plan.patient_id))
    fhir_get(api, f"/fhir/R4/Patient/{plan.patient_id}", expect=404)
    fhir_get(api, f"/fhir/R4/CareTeam/team-{plan.patient_id}", expect=404)
    # Each read of a patient by id is logged as refused; a search that finds nothing is not.
    actions = AccessLogEntry.objects.filter(patient=plan.patient).values_list("action", flat=True)
    assert list(actions) == ["denied"] * 3


def test_a_patient_login_is_not_a_practitioner(vc_api, tolvan, doctor):
    fhir_get(vc_api, f"/fhir/R4/Practitioner/{tolvan.user_id}", expect=404)
    fhir_get(vc_api, f"/fhir/R4/Practitioner/{doctor.pk}")


@pytest.mark.parametrize(
    ("url", "params", "status", "code"),
    [
        ("/fhir/R4/CarePlan", {"_lastUpdated": "gtyesterday"}, 400, "invalid"),
        ("/fhir/R4/CarePlan", {"_lastUpdated": "ge9999-12-31"}, 400, "invalid"),
        ("/fhir/R4/CarePlan", {"_lastUpdated": "2025-03-01T10:00"}, 400, "invalid"),
        ("/fhir/R4/CarePlan", {"_count": "1000"}, 400, "invalid"),
        ("/fhir/R4/CarePlan", {"_cursor": "broken"}, 400, "invalid"),
        ("/fhir/R4/Task", {}, 400, "invalid"),
        ("/fhir/R4/Practitioner", {}, 405, "not-supported"),
        ("/fhir/R4/Observation", {}, 404, "not-found"),
        ("/fhir/R4/Task/commitment-abc", {}, 404, "not-found"),
    ],
)
def test_errors_are_operation_outcomes(vc_api, plan, url, params, status, code):
    outcome = fhir_get(vc_api, url, expect=status, **params)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code


def test_fhir_needs_a_token(db):
    outcome = fhir_get(Api(None), "/fhir/R4/CarePlan", expect=401)
    assert outcome["issue"][0]["code"] == "login"
