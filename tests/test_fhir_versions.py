"""FHIR versions and history: meta.versionId, meta.lastUpdated, ETag and Last-Modified on
every resource, conditional reads, vread and _history (instance and type), built from the
event history. Every answer is checked against R4 (via R4B) as in test_fhir.py."""

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token, vc_api
from django.utils.http import http_date
from personas import version
from test_fhir import fhir_get, valid

from contracts import services
from contracts.history import Actor
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]


def as_doctor(doctor, network):
    return Actor.staff(doctor, network["vardcentral"])


def commitment_of(plan, owner_kind):
    return plan.commitments.get(owner_kind=owner_kind)


def every_resource(plan, doctor, network):
    """A URL of each resource type the facade serves, on Tolvan's plan."""
    contact = plan.care_contacts.get(ended_on__isnull=True)
    return [
        f"CarePlan/{plan.pk}",
        f"Goal/{plan.goals.first().pk}",
        f"Task/nextstep-{plan.next_steps.get().pk}",
        f"Task/commitment-{commitment_of(plan, 'organisation').pk}",
        f"CareTeam/team-{plan.patient_id}",
        f"CareTeam/contact-{contact.pk}",
        f"Patient/{plan.patient_id}",
        f"Organization/{network['vardcentral'].pk}",
        f"Practitioner/{doctor.pk}",
        f"PractitionerRole/{doctor.memberships.get().pk}",
    ]


@pytest.fixture
def goals(plan, doctor, network):
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text=plan.what_matters,
        goals=["Gå till affären"],
        expected_version=version(plan),
    )
    return plan


def test_every_resource_has_a_version_an_etag_and_last_modified(vc_api, goals, doctor, network):
    for url in every_resource(goals, doctor, network):
        response = vc_api.get(f"/fhir/R4/{url}")
        assert response.status_code == 200, url
        resource = valid(response.json())
        meta = resource["meta"]
        assert meta["versionId"] and meta["lastUpdated"], url
        assert response["ETag"] == f'"{meta["versionId"]}"'
        assert response["Last-Modified"]


def test_searches_show_the_same_versions_as_reads(vc_api, goals):
    for kind in ("Task", "Goal", "CareTeam"):
        bundle = fhir_get(vc_api, f"/fhir/R4/{kind}", patient=str(goals.patient_id))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            read = vc_api.get(f"/fhir/R4/{kind}/{resource['id']}").json()
            assert resource["meta"] == read["meta"]


def test_if_none_match_with_the_current_etag_is_304(vc_api, goals, doctor, network):
    for url in every_resource(goals, doctor, network):
        first = vc_api.get(f"/fhir/R4/{url}")
        again = vc_api.get(f"/fhir/R4/{url}", headers={"If-None-Match": first["ETag"]})
        assert again.status_code == 304, url
        assert again.content == b""
        assert again["ETag"] == first["ETag"]


def test_a_changed_plan_is_sent_again(vc_api, plan, doctor, network):
    first = vc_api.get(f"/fhir/R4/CarePlan/{plan.pk}")
    modified = first["Last-Modified"]
    assert (
        vc_api.get(
            f"/fhir/R4/CarePlan/{plan.pk}", headers={"If-Modified-Since": modified}
        ).status_code
        == 304
    )
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text="Att orka gå i trappor.",
        expected_version=version(plan),
    )
    again = vc_api.get(f"/fhir/R4/CarePlan/{plan.pk}", headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 200
    assert again.json()["description"] == "Att orka gå i trappor."
    earlier = http_date(0)
    assert (
        vc_api.get(
            f"/fhir/R4/CarePlan/{plan.pk}", headers={"If-Modified-Since": earlier}
        ).status_code
        == 200
    )


def test_a_conditional_read_is_logged_like_a_read(vc_api, plan):
    first = vc_api.get(f"/fhir/R4/Patient/{plan.patient_id}")
    before = AccessLogEntry.objects.count()
    vc_api.get(f"/fhir/R4/Patient/{plan.patient_id}", headers={"If-None-Match": first["ETag"]})
    assert AccessLogEntry.objects.count() == before + 1


def without_last_updated(resource):
    return {**resource, "meta": {"versionId": resource["meta"]["versionId"]}}


def test_vread_gives_the_current_and_an_earlier_careplan(vc_api, plan, doctor, network):
    as_it_was = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}")
    old = as_it_was["meta"]["versionId"]
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text="Att orka gå i trappor.",
        goals=["Gå i trappor"],
        expected_version=version(plan),
    )
    services.set_warning_signs(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=version(plan),
        signs=[("Svullna ben", "Ring hemsjukvården")],
    )
    services.update_commitment(
        actor=as_doctor(doctor, network),
        commitment=commitment_of(plan, "organisation"),
        expected_version=version(plan),
        what="Se över medicinlistan med apotekaren",
    )
    current = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}")
    assert current["meta"]["versionId"] == str(version(plan)) != old

    assert fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}/_history/{version(plan)}") == current
    rebuilt = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}/_history/{old}")
    assert without_last_updated(rebuilt) == without_last_updated(as_it_was)

    # The first version: the plan as it was started, with none of its parts yet.
    first = fhir_get(vc_api, f"/fhir/R4/CarePlan/{plan.pk}/_history/1")
    assert first["description"] == "Att kunna gå till affären själv."
    assert "activity" not in first and "note" not in first
    assert first["careTeam"] == [{"reference": f"CareTeam/team-{plan.patient_id}"}]


def test_vread_of_a_version_that_never_was_is_an_operation_outcome(vc_api, plan):
    response = vc_api.get(f"/fhir/R4/CarePlan/{plan.pk}/_history/{version(plan) + 1}")
    assert response.status_code == 404
    assert valid(response.json())["resourceType"] == "OperationOutcome"


def test_replaced_goals_are_shown_by_their_words(vc_api, goals, doctor, network):
    with_goal = version(goals)
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=goals,
        text=goals.what_matters,
        goals=["Laga mat själv"],
        expected_version=version(goals),
    )
    then = fhir_get(vc_api, f"/fhir/R4/CarePlan/{goals.pk}/_history/{with_goal}")
    now = fhir_get(vc_api, f"/fhir/R4/CarePlan/{goals.pk}")
    # The Goal it linked to was replaced; the version still says which goal it was.
    assert then["goal"] == [{"display": "Gå till affären"}]
    assert now["goal"][0]["display"] == "Laga mat själv"


def test_careplan_history_is_newest_first_and_paged(vc_api, plan):
    latest = version(plan)
    url = f"/fhir/R4/CarePlan/{plan.pk}/_history"
    page = fhir_get(vc_api, url, _count="4")
    assert page["type"] == "history"
    assert page["total"] == latest
    seen = [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    while next_link := [link["url"] for link in page["link"] if link["relation"] == "next"]:
        page = fhir_get(vc_api, next_link[0])
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    assert seen == [str(v) for v in range(latest, 0, -1)]
    first = fhir_get(vc_api, url, _count="100")["entry"][-1]
    assert first["request"] == {"method": "POST", "url": "CarePlan"}
    assert first["response"]["status"] == "201 Created"
    assert first["response"]["etag"] == '"1"'


def test_history_refuses_parameters_it_does_not_support(vc_api, plan):
    response = vc_api.get(f"/fhir/R4/CarePlan/{plan.pk}/_history", _since="2025-01-01")
    assert response.status_code == 400
    assert valid(response.json())["issue"][0]["expression"] == ["_since"]


def test_careplan_type_history_holds_what_the_organisation_may_see(integrations, plan):
    vc = Api(issue_token(integrations["vardcentral"]))
    page = fhir_get(vc, "/fhir/R4/CarePlan/_history", _count="3")
    assert [e["resource"]["meta"]["versionId"] for e in page["entry"]] == [
        str(v) for v in range(version(plan), version(plan) - 3, -1)
    ]
    assert page["total"] == version(plan)
    following = fhir_get(
        vc, [link["url"] for link in page["link"] if link["relation"] == "next"][0]
    )
    assert following["entry"][0]["resource"]["meta"]["versionId"] == str(version(plan) - 3)

    cardiology = Api(issue_token(integrations["cardiology"]))
    assert "entry" not in fhir_get(cardiology, "/fhir/R4/CarePlan/_history")


def test_a_task_has_a_version_per_change(vc_api, plan, doctor, network):
    commitment = commitment_of(plan, "organisation")
    url = f"/fhir/R4/Task/commitment-{commitment.pk}"
    added = fhir_get(vc_api, url)
    assert added["meta"]["versionId"] == "1"
    services.complete_commitment(
        actor=as_doctor(doctor, network), commitment=commitment, expected_version=version(plan)
    )
    # A change to another part of the plan is no new version of this Task.
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text="Annat",
        expected_version=version(plan),
    )
    done = fhir_get(vc_api, url)
    assert (done["meta"]["versionId"], done["status"]) == ("2", "completed")
    assert fhir_get(vc_api, f"{url}/_history/1") == added
    history = fhir_get(vc_api, f"{url}/_history")
    assert [e["resource"]["status"] for e in history["entry"]] == ["completed", "ready"]


def test_a_replaced_next_step_keeps_its_versions(vc_api, plan, doctor, network):
    from datetime import timedelta

    from django.utils import timezone

    step = plan.next_steps.get()
    services.agree_next_step(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=version(plan),
        scheduled_at=timezone.now() + timedelta(days=5),
        channel="phone",
        purpose="Prata om provsvaren",
    )
    url = f"/fhir/R4/Task/nextstep-{step.pk}"
    assert fhir_get(vc_api, url)["status"] == "cancelled"
    assert fhir_get(vc_api, f"{url}/_history/1")["status"] == "accepted"
    tasks = fhir_get(vc_api, "/fhir/R4/Task/_history", _count="1")
    # The newest change made two versions: the new step and the one it replaced.
    assert [e["resource"]["id"] for e in tasks["entry"]] == [
        f"nextstep-{plan.next_steps.planned().get().pk}",
        f"nextstep-{step.pk}",
    ]


def test_resources_without_an_event_trail_list_only_their_current_version(vc_api, plan, network):
    url = f"/fhir/R4/Organization/{network['vardcentral'].pk}"
    current = fhir_get(vc_api, url)
    history = fhir_get(vc_api, f"{url}/_history")
    assert history["total"] == 1
    assert history["entry"][0]["resource"] == current
    assert fhir_get(vc_api, f"{url}/_history/{current['meta']['versionId']}") == current
    missing = vc_api.get(f"{url}/_history/1", headers={"Accept-Language": "en"})
    assert missing.status_code == 404
    assert "not kept" in valid(missing.json())["issue"][0]["diagnostics"]
    assert vc_api.get("/fhir/R4/Organization/_history").status_code == 405


def test_an_organisation_gets_a_new_version_when_it_changes(vc_api, network):
    organisation = network["home_health"]
    url = f"/fhir/R4/Organization/{organisation.pk}"
    before = fhir_get(vc_api, url)["meta"]["versionId"]
    organisation.phone = "0293-55 55 55"
    organisation.save()
    assert fhir_get(vc_api, url)["meta"]["versionId"] != before


def test_the_capability_statement_lists_versions_and_writes(db):
    statement = fhir_get(Api(None), "/fhir/R4/metadata")
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    codes = {kind: {i["code"] for i in r["interaction"]} for kind, r in by_type.items()}
    assert {"vread", "history-instance", "history-type", "update", "create"} <= codes["Task"]
    assert {"vread", "history-instance", "history-type"} <= codes["CarePlan"]
    assert "history-type" not in codes["Patient"]
    assert by_type["CarePlan"]["conditionalRead"] == "full-support"
    assert by_type["Task"]["versioning"] == "versioned-update"
