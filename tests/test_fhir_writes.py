"""FHIR writes an integration needs: a commitment's status changed with `PUT Task/[id]`,
a commitment added with `POST Task` and cancelled again, each through the same service as
the plan page (tests/test_doors.py checks the events and outbox rows door by door), with
a strong If-Match."""

from datetime import timedelta

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token, vc_api
from django.utils import timezone
from personas import version
from test_fhir import valid

from contracts import services
from contracts.history import Actor
from contracts.models import Commitment, Event

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]

FHIR_JSON = "application/fhir+json"


def task_url(commitment):
    return f"/fhir/R4/Task/commitment-{commitment.pk}"


def put_status(api, commitment, status, if_match=None):
    read = api.get(task_url(commitment))
    task = read.json()
    tag = if_match if if_match is not None else f'"{task["meta"]["versionId"]}"'
    headers = {"If-Match": tag} if tag else {}
    return api.put(
        task_url(commitment), {**task, "status": status}, headers=headers, content_type=FHIR_JSON
    )


def new_task(plan, owner, what="Ringa efter provsvar", due=None):
    due = due or (timezone.localdate() + timedelta(days=7))
    return {
        "resourceType": "Task",
        "status": "ready",
        "intent": "plan",
        "basedOn": [{"reference": f"CarePlan/{plan.pk}"}],
        "for": {"reference": f"Patient/{plan.patient_id}"},
        "description": what,
        "owner": {"reference": owner},
        "restriction": {"period": {"end": due.isoformat()}},
    }


def plan_tag(plan):
    return f'"{version(plan)}"'


def events_of(plan):
    return list(Event.objects.filter(contract=plan).order_by("pk").values_list("kind", flat=True))


def test_integration_ticks_off_its_commitment_with_put(vc_api, plan):
    commitment = plan.commitments.get(owner_kind="organisation")
    response = put_status(vc_api, commitment, "completed")
    assert response.status_code == 200, response.json()
    task = valid(response.json())
    assert (task["status"], task["meta"]["versionId"]) == ("completed", "2")
    assert response["ETag"] == '"2"'
    event = Event.objects.filter(contract=plan).latest("pk")
    assert (event.kind, event.actor_kind) == ("commitment_completed", "integration")
    commitment.refresh_from_db()
    assert commitment.status == Commitment.Status.DONE

    reopened = put_status(vc_api, commitment, "ready")
    assert valid(reopened.json())["status"] == "ready"
    assert Event.objects.filter(contract=plan).latest("pk").kind == "commitment_reopened"


def test_putting_the_same_status_changes_nothing(vc_api, plan):
    commitment = plan.commitments.get(owner_kind="organisation")
    before = events_of(plan)
    response = put_status(vc_api, commitment, "ready")
    assert response.status_code == 200
    assert events_of(plan) == before


@pytest.mark.parametrize(
    "if_match, status",
    [("", 428), ('W/"1"', 412), ('"2"', 412), ("*", 428), ("1", 412)],
    ids=["missing", "weak", "stale", "star", "unquoted"],
)
def test_put_needs_the_current_version_as_a_strong_etag(vc_api, plan, if_match, status):
    commitment = plan.commitments.get(owner_kind="organisation")
    before = events_of(plan)
    response = put_status(vc_api, commitment, "completed", if_match=if_match or False)
    assert response.status_code == status
    assert valid(response.json())["resourceType"] == "OperationOutcome"
    assert events_of(plan) == before


def test_put_may_change_only_the_status(vc_api, plan):
    commitment = plan.commitments.get(owner_kind="organisation")
    task = vc_api.get(task_url(commitment)).json()
    response = vc_api.put(
        task_url(commitment),
        {**task, "status": "completed", "description": "Något annat"},
        headers={"If-Match": f'"{task["meta"]["versionId"]}"'},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 422
    assert "Task.description" in valid(response.json())["issue"][0]["diagnostics"]
    commitment.refresh_from_db()
    assert commitment.status == Commitment.Status.OPEN


def test_put_of_something_that_is_not_a_task_is_400(vc_api, plan):
    commitment = plan.commitments.get(owner_kind="organisation")
    response = vc_api.put(
        task_url(commitment),
        {"resourceType": "Task", "id": f"commitment-{commitment.pk}", "status": 7},
        headers={"If-Match": '"1"'},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 400
    assert valid(response.json())["resourceType"] == "OperationOutcome"


def test_integration_cannot_tick_off_another_organisations_commitment(vc_api, plan):
    theirs = plan.commitments.get(owner_kind="staff")  # the home health nurse's
    response = put_status(vc_api, theirs, "completed")
    assert response.status_code == 403
    assert valid(response.json())["issue"][0]["code"] == "forbidden"


def test_integration_adds_a_commitment_with_post(vc_api, plan, network):
    before = version(plan)
    response = vc_api.post(
        "/fhir/R4/Task",
        new_task(plan, f"Organization/{network['home_health'].pk}"),
        headers={"If-Match": plan_tag(plan)},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 201, response.json()
    task = valid(response.json())
    assert task["meta"]["versionId"] == "1"
    assert response["Location"].endswith(f"/fhir/R4/Task/{task['id']}/_history/1")
    commitment = Commitment.objects.get(pk=int(task["id"].removeprefix("commitment-")))
    assert commitment.owner_organisation == network["home_health"]
    assert commitment.due_date == timezone.localdate() + timedelta(days=7)
    assert version(plan) == before + 1
    event = Event.objects.filter(contract=plan).latest("pk")
    assert (event.kind, event.actor_kind) == ("commitment_added", "integration")


def test_integration_cancels_a_commitment_it_added_for_another_organisation(vc_api, plan, network):
    response = vc_api.post(
        "/fhir/R4/Task",
        new_task(plan, f"Organization/{network['home_health'].pk}"),
        headers={"If-Match": plan_tag(plan)},
        content_type=FHIR_JSON,
    )
    commitment = Commitment.objects.get(pk=int(response.json()["id"].removeprefix("commitment-")))
    # Owned by home health: the vårdcentral may not tick it off, but may take it back.
    assert put_status(vc_api, commitment, "completed").status_code == 403
    cancelled = put_status(vc_api, commitment, "cancelled")
    assert cancelled.status_code == 200, cancelled.json()
    assert valid(cancelled.json())["status"] == "cancelled"


def test_integration_cannot_cancel_another_organisations_commitment(vc_api, plan, nurse, network):
    theirs = services.add_commitment(
        actor=Actor.staff(nurse, network["home_health"]),
        contract=plan,
        expected_version=version(plan),
        what="Byta förband",
        owner_kind="organisation",
        owner_organisation=network["home_health"],
    )
    before = events_of(plan)
    response = put_status(vc_api, theirs, "cancelled")
    assert response.status_code == 403
    assert events_of(plan) == before
    theirs.refresh_from_db()
    assert theirs.status == Commitment.Status.OPEN


def test_an_organisation_off_the_team_cannot_see_the_task(integrations, plan):
    cardiology = Api(issue_token(integrations["cardiology"]))
    commitment = plan.commitments.get(owner_kind="organisation")
    response = cardiology.put(
        task_url(commitment),
        {"resourceType": "Task", "status": "cancelled", "intent": "plan"},
        headers={"If-Match": '"1"'},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda t, p: {**t, "basedOn": [{"reference": "CarePlan/999999"}]}, "Task.basedOn"),
        (lambda t, p: {**t, "owner": {"reference": "Organization/999999"}}, "Task.owner"),
        (lambda t, p: {**t, "owner": {"reference": "Practitioner/1"}}, "Task.owner"),
        (lambda t, p: {**t, "description": ""}, "Task.description"),
        (lambda t, p: {**t, "restriction": {"period": {"end": "snart"}}}, "Task.restriction"),
    ],
    ids=["unknown plan", "unknown owner", "practitioner without organisation", "no text", "date"],
)
def test_a_task_that_cannot_be_added_is_refused_and_nothing_changes(
    vc_api, plan, network, change, field
):
    before = version(plan)
    body = change(new_task(plan, f"Organization/{network['vardcentral'].pk}"), plan)
    response = vc_api.post(
        "/fhir/R4/Task", body, headers={"If-Match": plan_tag(plan)}, content_type=FHIR_JSON
    )
    assert response.status_code == 400, response.json()
    issues = valid(response.json())["issue"]
    assert any(field in " ".join(i.get("expression", [])) for i in issues), issues
    assert version(plan) == before


def test_adding_a_task_needs_the_plans_current_version(vc_api, plan, network):
    body = new_task(plan, f"Organization/{network['vardcentral'].pk}")
    stale = vc_api.post("/fhir/R4/Task", body, headers={"If-Match": '"1"'}, content_type=FHIR_JSON)
    assert stale.status_code == 412
    missing = vc_api.post("/fhir/R4/Task", body, content_type=FHIR_JSON)
    assert missing.status_code == 428
    assert not plan.commitments.filter(what="Ringa efter provsvar").exists()


def test_writes_need_the_write_scope(integrations, plan, network):
    reader = Api(issue_token(integrations["vardcentral"], scope="read"))
    response = reader.post(
        "/fhir/R4/Task",
        new_task(plan, f"Organization/{network['vardcentral'].pk}"),
        headers={"If-Match": plan_tag(plan)},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 403
    assert valid(response.json())["resourceType"] == "OperationOutcome"


def test_other_resources_are_not_written(vc_api, plan):
    response = vc_api.put(
        f"/fhir/R4/CarePlan/{plan.pk}",
        {"resourceType": "CarePlan"},
        headers={"If-Match": plan_tag(plan)},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 405
    step = plan.next_steps.get()
    response = vc_api.put(
        f"/fhir/R4/Task/nextstep-{step.pk}",
        {"resourceType": "Task"},
        headers={"If-Match": '"1"'},
        content_type=FHIR_JSON,
    )
    assert response.status_code == 405
