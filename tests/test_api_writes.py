"""Writes through the API: each use case, If-Match, and bodies that change nothing."""

from datetime import timedelta

import pytest
from api_fixtures import _fresh_rate_limits, etag, integrations, vc_api
from django.utils import timezone

from contracts.models import Commitment, Contract, Event, NextStep, Notification
from naravard.integrator import MAX_BODY_BYTES
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]


def current(api, plan):
    return api.get(f"/api/v1/contracts/{plan.pk}/")


def test_integration_updates_what_matters_with_if_match(vc_api, plan):
    read = current(vc_api, plan)
    assert read["ETag"] == f'"contract-{plan.pk}-v{plan.version}"'
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Kunna gå till affären.", "goals": ["Gå 500 meter", "Laga mat"]},
        headers={"If-Match": etag(read)},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == plan.version + 1
    assert response["ETag"] == body["etag"] == f'"contract-{plan.pk}-v{plan.version + 1}"'
    assert [g["text"] for g in body["goals"]] == ["Gå 500 meter", "Laga mat"]
    event = Event.objects.filter(contract=plan).first()
    assert (event.kind, event.actor_kind) == ("what_matters_changed", "integration")
    assert event.organisation.name == "Vårdcentralen Tierp"
    # The history names the integration that wrote, not only its organisation.
    assert event.actor_label == "Journal Vårdcentralen Tierp"


def test_integration_adds_and_completes_its_own_commitment(vc_api, plan, network):
    response = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/commitments/",
        {
            "what": "Ringa efter provsvar",
            "owner_kind": "organisation",
            "owner_organisation": network["vardcentral"].pk,
            "due_date": (timezone.localdate() + timedelta(days=7)).isoformat(),
        },
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert response["Location"] == f"/api/v1/commitments/{created['id']}/"
    assert created["owner_organisation"]["id"] == network["vardcentral"].pk

    done = vc_api.patch(
        f"/api/v1/commitments/{created['id']}/",
        {"status": "done"},
        headers={"If-Match": response["ETag"]},
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "done"
    assert Commitment.objects.get(pk=created["id"]).completed_at is not None


def test_integration_cannot_tick_off_another_organisations_commitment(vc_api, plan, network):
    theirs = plan.commitments.get(owner_organisation=network["home_health"])
    response = vc_api.patch(
        f"/api/v1/commitments/{theirs.pk}/",
        {"status": "done"},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_integration_agrees_next_step_and_records_its_outcome(vc_api, plan, doctor):
    when = timezone.now() + timedelta(days=10)
    agreed = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/next-steps/",
        {
            "scheduled_at": when.isoformat(),
            "channel": "video",
            "purpose": "Gå igenom provsvaren",
            "staff": doctor.pk,
        },
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert agreed.status_code == 201, agreed.json()
    step = agreed.json()
    assert step["status"] == "planned" and step["staff"]["name"] == "Doris Doktor"
    # The earlier planned step was replaced.
    assert plan.next_steps.filter(status="cancelled").count() == 1

    outcome = vc_api.post(
        f"/api/v1/next-steps/{step['id']}/outcome/",
        {"outcome": "Proverna var bra.", "happened": True},
        headers={"If-Match": agreed["ETag"]},
    )
    assert outcome.status_code == 200, outcome.json()
    assert outcome.json()["status"] == "done"
    assert NextStep.objects.get(pk=step["id"]).outcome == "Proverna var bra."


def test_integration_assigns_the_fixed_care_contact_and_both_are_told(
    vc_api, plan, coordinator, network, tolvan
):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/care-contact/",
        {
            "staff": coordinator.pk,
            "organisation": network["vardcentral"].pk,
            "how_to_reach": "0293-123 45",
        },
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 200, response.json()
    contact = response.json()["fixed_care_contact"]
    assert contact["staff"]["id"] == coordinator.pk
    assert contact["how_to_reach"] == "0293-123 45"
    # As from the coordinators' page: the new contact and the patient get a message.
    told = Notification.objects.filter(kind="care_contact_assigned", contract=plan)
    assert {(n.recipient_user, n.recipient_patient) for n in told} == {
        (coordinator, None),
        (None, tolvan),
    }


# --- If-Match ------------------------------------------------------------------------


def test_a_write_without_if_match_is_refused_with_428(vc_api, plan):
    response = vc_api.put(f"/api/v1/contracts/{plan.pk}/what-matters/", {"what_matters": "X"})
    assert response.status_code == 428
    assert response.json()["type"].endswith("precondition-required")
    plan.refresh_from_db()
    assert plan.what_matters != "X"


def test_if_match_star_is_not_enough(vc_api, plan):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "X"},
        headers={"If-Match": "*"},
    )
    assert response.status_code == 428


def test_a_stale_if_match_is_refused_with_412_and_the_current_version(vc_api, plan):
    stale = etag(current(vc_api, plan))
    first = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Först"},
        headers={"If-Match": stale},
    )
    assert first.status_code == 200
    events = Event.objects.count()
    second = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Sen"},
        headers={"If-Match": stale},
    )
    assert second.status_code == 412
    problem = second.json()
    assert second["Content-Type"] == "application/problem+json"
    assert problem["current_version"] == plan.version + 1
    assert problem["etag"] == second["ETag"] == first["ETag"]
    assert Event.objects.count() == events
    plan.refresh_from_db()
    assert plan.what_matters == "Först"


def test_an_etag_of_another_plan_does_not_match(vc_api, plan):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "X"},
        headers={"If-Match": f'"contract-{plan.pk + 1}-v{plan.version}"'},
    )
    assert response.status_code == 412


def test_if_none_match_with_the_current_etag_gives_304(vc_api, plan):
    tag = etag(current(vc_api, plan))
    assert (
        vc_api.get(f"/api/v1/contracts/{plan.pk}/", headers={"If-None-Match": tag}).status_code
        == 304
    )


# --- bodies that change nothing ------------------------------------------------------------


def counts(plan):
    plan.refresh_from_db()
    return (
        plan.version,
        plan.what_matters,
        Event.objects.count(),
        Commitment.objects.count(),
        NextStep.objects.count(),
    )


BAD_BODIES = [
    ("what-matters", "put", {"what_matters": 42}, "what_matters"),
    ("what-matters", "put", {"what_matters": ["a"]}, "what_matters"),
    ("what-matters", "put", {"what_matters": "Ok", "goals": "not a list"}, "goals"),
    ("what-matters", "put", {"what_matters": "Ok", "goals": [1, 2]}, "goals.0"),
    ("what-matters", "put", {"what_matters": "Ok", "mood": "glad"}, "mood"),
    ("what-matters", "put", {"what_matters": "x" * 5001}, "what_matters"),
    ("what-matters", "put", ["what_matters"], "non_field_errors"),
    ("commitments", "post", {"what": "Ok", "owner_kind": "patient", "due": "2030"}, "due"),
    ("commitments", "post", {"what": "Ok", "owner_kind": "boss"}, "owner_kind"),
    (
        "commitments",
        "post",
        {"what": "Ok", "owner_kind": "organisation", "owner_organisation": "1"},
        "owner_organisation",
    ),
    (
        "commitments",
        "post",
        {"what": "Ok", "owner_kind": "patient", "due_date": 20300101},
        "due_date",
    ),
    ("commitments", "post", {"what": "", "owner_kind": "patient"}, "what"),
    (
        "next-steps",
        "post",
        {"scheduled_at": "tomorrow", "channel": "video", "purpose": "x"},
        "scheduled_at",
    ),
    (
        "next-steps",
        "post",
        {"scheduled_at": "2030-01-01T10:00+01:00", "channel": "fax", "purpose": "x"},
        "channel",
    ),
    ("care-contact", "put", {"staff": True, "organisation": 1}, "staff"),
    ("care-contact", "put", {"staff": 1.5, "organisation": 1}, "staff"),
]


@pytest.mark.parametrize(("part", "method", "body", "field"), BAD_BODIES)
def test_a_malformed_body_is_refused_and_nothing_changes(vc_api, plan, part, method, body, field):
    before = counts(plan)
    response = getattr(vc_api, method)(
        f"/api/v1/contracts/{plan.pk}/{part}/",
        body,
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 400, response.content
    problem = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in problem["errors"], problem
    assert counts(plan) == before


def test_invalid_json_is_refused(vc_api, plan):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        '{"what_matters": "unterminated',
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 400
    assert counts(plan) == before


def test_an_oversize_body_is_refused_with_413(vc_api, plan):
    before = counts(plan)
    huge = {"what_matters": "x" * (MAX_BODY_BYTES + 10)}
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        huge,
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("body-too-large")
    assert counts(plan) == before


def test_a_body_that_is_not_json_is_refused_with_415(vc_api, plan):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        "what_matters=X",
        content_type="application/x-www-form-urlencoded",
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 415
    assert counts(plan) == before


def test_a_service_rule_shows_as_a_field_error(vc_api, plan):
    before = counts(plan)
    response = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/commitments/",
        {"what": "Ok", "owner_kind": "organisation", "owner_organisation": 999999},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 400
    assert "owner_organisation" in response.json()["errors"]
    assert counts(plan) == before


def test_a_closed_plan_answers_409(vc_api, plan):
    Contract.objects.filter(pk=plan.pk).update(status=Contract.Status.CLOSED)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "X"},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 409
    assert response.json()["detail"]


def test_problem_titles_follow_the_request_language(vc_api, plan):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "X"},
        headers={"Accept-Language": "en"},
    )
    assert response.json()["title"] == "Say which version you are changing"


def test_a_write_logs_the_read_of_its_answer(vc_api, plan):
    before = AccessLogEntry.objects.count()
    vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "X"},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    # One row for the GET that fetched the ETag, one for the answer to the write.
    assert AccessLogEntry.objects.count() == before + 2
