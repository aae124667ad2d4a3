"""Reads through the API: lists with cursors, a fixed number of queries, and the change feed."""

import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import jsonschema
import psycopg
import pytest
from api_fixtures import Api, _fresh_rate_limits, etag, integrations, issue_token, vc_api
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from personas import SYSTEM, version
from psycopg import sql

from contracts import services
from contracts.history import Actor
from contracts.models import Commitment, Event
from patients import services as patient_services
from patients.identity import luhn_check_digit
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]


def make_patients(network, doctor, count, *, start=0):
    """`count` fictional patients of the vårdcentral, each with a plan and a few parts."""
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    contracts = []
    for n in range(start, start + count):
        nine = f"5001{1 + n % 28:02d}{100 + n // 28:03d}"
        patient = patient_services.register_patient(
            actor=SYSTEM,
            identity_number=f"19{nine}{luhn_check_digit(nine)}",
            given_name=f"Test{n}",
            family_name="Testsson",
        )
        patient_services.add_to_care_team(
            actor=SYSTEM, patient=patient, organisation=network["vardcentral"], consent=True
        )
        contract = services.create_contract(actor=as_doctor, patient=patient, what_matters="Hem")
        services.add_commitment(
            actor=as_doctor,
            contract=contract,
            expected_version=version(contract),
            what="Väga mig",
            owner_kind="patient",
        )
        services.agree_next_step(
            actor=as_doctor,
            contract=contract,
            expected_version=version(contract),
            scheduled_at=timezone.now() + timedelta(days=2),
            channel="phone",
            purpose="Uppföljning",
        )
        contracts.append(contract)
    return contracts


def test_contract_shows_all_four_parts(vc_api, plan, doctor):
    response = vc_api.get(f"/api/v1/contracts/{plan.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["what_matters"] == "Att kunna gå till affären själv."
    assert body["next_step"]["channel"] == "home_visit"
    assert {c["owner_kind"] for c in body["commitments"]} == {"patient", "organisation", "staff"}
    assert body["fixed_care_contact"]["staff"] == {"id": doctor.pk, "name": "Doris Doktor"}
    assert response["ETag"] == body["etag"]


def iso(moment):
    """A time as the API writes it: ISO 8601 in Stockholm time, with its offset."""
    return None if moment is None else timezone.localtime(moment).isoformat()


def organisation_ref(organisation):
    return {
        "id": organisation.pk,
        "name": organisation.name,
        "kind": organisation.kind,
        "hsa_id": organisation.hsa_id,
    }


def documented(component: str):
    """A validator for one component of the OpenAPI schema the API serves. OpenAPI 3.0
    marks a value that may be null with `nullable`; JSON Schema spells it as a choice."""

    def nulls_allowed(node):
        if isinstance(node, list):
            return [nulls_allowed(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: nulls_allowed(value) for key, value in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node

    components = Api(None).get("/api/v1/schema/", format="json").json()["components"]
    schema = {"$ref": f"#/components/schemas/{component}", "components": nulls_allowed(components)}
    return jsonschema.Draft202012Validator(schema)


def test_contract_read_shows_the_whole_plan(vc_api, plan, tolvan, daughter, doctor, nurse, network):
    vc, home = network["vardcentral"], network["home_health"]
    as_doctor = Actor.staff(doctor, vc)
    services.set_what_matters(
        actor=as_doctor,
        contract=plan,
        text="Att kunna gå till affären själv.",
        goals=["Gå till affären", "Baka bullar"],
        expected_version=version(plan),
    )
    services.set_warning_signs(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        signs=[("Svullna ben", "Ring vårdcentralen")],
    )
    services.set_contact_paths(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        paths=[{"kind": "phone", "label": "Vårdcentralen", "value": "010-123 45 67"}],
    )
    today, done_at = timezone.localdate(), timezone.now().replace(microsecond=0)
    weigh = plan.commitments.get(what="Väga mig varje morgon")
    Commitment.objects.filter(pk=weigh.pk).update(
        owner_kind="relative",
        owner_relative=daughter,
        due_date=today + timedelta(days=2),
        completed_at=done_at,
    )
    Commitment.objects.filter(what="Hjälpa till med kompressionsstrumpor").update(due_date=today)
    plan.refresh_from_db()
    goals = list(plan.goals.order_by("position"))
    step = plan.next_steps.get()
    contact = plan.care_contacts.get()
    sign, path = plan.warning_signs.get(), plan.contact_paths.get()
    medicines = plan.commitments.get(what="Se över medicinlistan")
    stockings = plan.commitments.get(what="Hjälpa till med kompressionsstrumpor")
    next_step = {
        "id": step.pk,
        "contract": plan.pk,
        "scheduled_at": iso(step.scheduled_at),
        "channel": "home_visit",
        "location": "",
        # Agreed by the doctor: her unit, as the service sets it.
        "organisation": organisation_ref(vc),
        "staff": None,
        "with_whom": "Distriktssköterskan",
        "purpose": "Följa upp vikt och andning",
        "status": "planned",
        "outcome": "",
        "outcome_recorded_at": None,
        "follows": None,
    }

    def commitment(row, **owner):
        return {
            "id": row.pk,
            "contract": plan.pk,
            "what": row.what,
            "owner_kind": row.owner_kind,
            "owner_organisation": None,
            "owner_staff": None,
            "owner_relative": None,
            "due_date": None,
            "status": "open",
            "completed_at": None,
            "created_at": iso(row.created_at),
            **owner,
        }

    expected = {
        "id": plan.pk,
        "patient": tolvan.pk,
        "status": "active",
        "version": plan.version,
        "etag": f'"contract-{plan.pk}-v{plan.version}"',
        "what_matters": "Att kunna gå till affären själv.",
        "goals": [
            {"id": goals[0].pk, "text": "Gå till affären", "position": 0, "achieved_at": None},
            {"id": goals[1].pk, "text": "Baka bullar", "position": 1, "achieved_at": None},
        ],
        "next_step": next_step,
        "next_steps": [next_step],
        # By due date, those without one last (the reverse of the order they were made in).
        "commitments": [
            commitment(
                stockings,
                owner_organisation=organisation_ref(home),
                owner_staff={"id": nurse.pk, "name": "Nils Nurse"},
                due_date=today.isoformat(),
            ),
            commitment(
                weigh,
                owner_kind="relative",
                owner_relative={"id": daughter.pk, "name": "Tova Tolvansson", "relation": "dotter"},
                due_date=(today + timedelta(days=2)).isoformat(),
                completed_at=iso(done_at),
            ),
            commitment(medicines, owner_organisation=organisation_ref(vc)),
        ],
        "fixed_care_contact": {
            "id": contact.pk,
            "staff": {"id": doctor.pk, "name": "Doris Doktor"},
            "organisation": organisation_ref(vc),
            "started_on": contact.started_on.isoformat(),
            "ended_on": None,
            "how_to_reach": "",
        },
        "warning_signs": [{"id": sign.pk, "sign": "Svullna ben", "action": "Ring vårdcentralen"}],
        "contact_paths": [
            {
                "id": path.pk,
                "kind": "phone",
                "label": "Vårdcentralen",
                "value": "010-123 45 67",
                "hours": "",
                "organisation": None,
            }
        ],
        "agreed_version": None,
        "agreed_at": None,
        "changed_since_agreed": False,
        "review_due": plan.review_due.isoformat(),
        "created_at": iso(plan.created_at),
        "updated_at": iso(plan.updated_at),
    }

    response = vc_api.get(f"/api/v1/contracts/{plan.pk}/")
    assert response.json() == expected
    assert response["ETag"] == expected["etag"]
    # The list writes each plan the same way.
    listed = vc_api.get("/api/v1/contracts/", patient=plan.patient_id).json()["results"]
    assert listed == [expected]
    documented("ContractOut").validate(expected)


def test_patient_and_care_team_reads(vc_api, tolvan, network):
    patient = vc_api.get(f"/api/v1/patients/{tolvan.pk}/").json()
    assert patient["identity_number"] == "191212121212"
    team = vc_api.get(f"/api/v1/patients/{tolvan.pk}/care-team/").json()
    assert {m["organisation"]["name"]: m["consent"] for m in team} == {
        "Vårdcentralen Tierp": "given",
        "Hemsjukvården Tierp": "given",
    }


def test_contract_list_pages_with_a_cursor(vc_api, network, doctor):
    contracts = make_patients(network, doctor, 5)
    seen, url, params = [], "/api/v1/contracts/", {"page_size": 2}
    while True:
        page = vc_api.get(url, **params).json()
        seen += [c["id"] for c in page["results"]]
        if not page["has_more"]:
            break
        params = {"page_size": 2, "cursor": page["next_cursor"]}
    assert sorted(seen) == sorted(c.pk for c in contracts)
    assert len(seen) == len(set(seen))


def test_updated_since_returns_only_changed_plans(vc_api, network, doctor):
    old, changed = make_patients(network, doctor, 2)
    since = timezone.now()
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=changed,
        text="Nytt",
        expected_version=version(changed),
    )
    body = vc_api.get("/api/v1/contracts/", updated_since=since.isoformat()).json()
    assert [c["id"] for c in body["results"]] == [changed.pk]


@pytest.mark.parametrize(
    "params",
    [{"updated_since": "yesterday"}, {"cursor": "bm9wZQ"}, {"cursor": "%%%"}, {"page_size": 0}],
)
def test_bad_list_parameters_are_a_400(vc_api, plan, params):
    response = vc_api.get("/api/v1/contracts/", **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_a_list_page_logs_one_read_per_patient(vc_api, network, doctor):
    contracts = make_patients(network, doctor, 3)
    vc_api.get("/api/v1/contracts/")
    logged = AccessLogEntry.objects.filter(action="api_read")
    assert sorted(logged.values_list("patient_id", flat=True)) == sorted(
        c.patient_id for c in contracts
    )


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/contracts/",
        "/api/v1/patients/",
        # The feed serves only committed transactions: the test must not hold one open.
        pytest.param("/api/v1/changes/", marks=pytest.mark.django_db(transaction=True)),
    ],
)
def test_lists_use_a_fixed_number_of_queries(
    integrations, network, doctor, url, django_assert_num_queries
):
    api = Api(issue_token(integrations["vardcentral"]))
    make_patients(network, doctor, 20)
    size = "limit" if "changes" in url else "page_size"
    if "changes" in url:
        feed_until(api, None, lambda events: len(events) >= 20, limit=20)
    api.get(url, **{size: 1})  # warm up: content types, translations
    with CaptureQueriesContext(connection) as small:
        assert len(rows(api.get(url, **{size: 2}))) == 2
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(rows(api.get(url, **{size: 20}))) == 20


def rows(response):
    body = response.json()
    return body["events"] if "events" in body else body["results"]


def test_contract_read_uses_a_fixed_number_of_queries(
    vc_api, plan, network, doctor, django_assert_num_queries
):
    small, big = plan, make_patients(network, doctor, 1)[0]
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    for n in range(15):
        services.add_commitment(
            actor=as_doctor,
            contract=big,
            expected_version=version(big),
            what=f"Sak {n}",
            owner_kind="organisation",
            owner_organisation=network["vardcentral"],
        )
    vc_api.get(f"/api/v1/contracts/{small.pk}/")
    with CaptureQueriesContext(connection) as reading_small:
        vc_api.get(f"/api/v1/contracts/{small.pk}/")
    with django_assert_num_queries(len(reading_small.captured_queries)):
        assert len(vc_api.get(f"/api/v1/contracts/{big.pk}/").json()["commitments"]) == 16


@contextmanager
def access_log_refused():
    """While inside, the database refuses new access-log rows: the owner takes INSERT on
    the log away from the app's role (another connection, so at once), and gives it back."""
    role = sql.Identifier(connection.settings_dict["USER"])
    with psycopg.connect(settings.MIGRATION_DATABASE_URL, autocommit=True) as owner:
        owner.execute(sql.SQL("REVOKE INSERT ON patients_accesslogentry FROM {}").format(role))
        try:
            yield
        finally:
            owner.execute(sql.SQL("GRANT INSERT ON patients_accesslogentry TO {}").format(role))


@pytest.mark.parametrize("url", ["/api/v1/contracts/{pk}/", "/api/v1/contracts/"])
def test_a_read_whose_log_row_cannot_be_written_is_not_served(vc_api, plan, url):
    logged = AccessLogEntry.objects.count()
    # The test client re-raises what would be a 500: no plan data goes out.
    with (
        access_log_refused(),
        pytest.raises(DatabaseError, match="permission denied for table patients_accesslogentry"),
        transaction.atomic(),
    ):
        vc_api.get(url.format(pk=plan.pk))
    assert AccessLogEntry.objects.count() == logged


@pytest.mark.django_db(transaction=True)
def test_a_change_feed_page_that_cannot_be_logged_is_not_served(integrations, plan):
    api = Api(issue_token(integrations["vardcentral"]))
    events, _cursor = feed_until(api, None, bool)
    assert events, "the plan's committed events are in the feed"
    logged = AccessLogEntry.objects.count()
    with (
        access_log_refused(),
        pytest.raises(DatabaseError, match="permission denied for table patients_accesslogentry"),
    ):
        api.get("/api/v1/changes/")
    assert AccessLogEntry.objects.count() == logged


def test_contract_history_lists_its_events(vc_api, plan):
    events = vc_api.get(f"/api/v1/contracts/{plan.pk}/events/").json()["results"]
    assert [e["kind"] for e in events][:2] == ["contract_created", "next_step_agreed"]
    assert all(e["contract"] == plan.pk for e in events)


# --- the change feed ---------------------------------------------------------------------


def feed(api, cursor=None, **params):
    if cursor:
        params["since"] = cursor
    response = api.get("/api/v1/changes/", **params)
    assert response.status_code == 200, response.content
    return response.json()


def feed_until(api, cursor, done, timeout=30, **params):
    """Poll the feed until `done(events so far)`; return the events and the last cursor.

    Transaction ids are shared by every database on the server, so another test run's
    open transaction can hold the feed back for a moment: it lags, it never skips."""
    events, deadline = [], time.monotonic() + timeout
    while True:
        page = feed(api, cursor, **params)
        events += page["events"]
        cursor = page["next_cursor"]
        if done(events) or time.monotonic() > deadline:
            return events, cursor
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_change_feed_pages_through_every_change_once(integrations, plan, network, doctor):
    api = Api(issue_token(integrations["vardcentral"]))
    first, cursor = feed_until(api, None, lambda e: any(x["contract"] == plan.pk for x in e))
    assert plan.pk in {e["contract"] for e in first}
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text="Nytt",
        expected_version=version(plan),
    )
    second, cursor = feed_until(api, cursor, bool)
    assert [e["kind"] for e in second] == ["what_matters_changed"]
    assert feed(api, cursor)["events"] == []


@pytest.mark.django_db(transaction=True)
def test_change_feed_shows_each_event_and_logs_each_patient(integrations, plan, network, doctor):
    api = Api(issue_token(integrations["vardcentral"]))
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text="Att orka gå till affären.",
        expected_version=version(plan),
    )
    events, _cursor = feed_until(
        api, None, lambda e: any(x["kind"] == "what_matters_changed" for x in e)
    )
    # Tolvan's own events (no plan), then her plan's, in the order they were written.
    assert [(e["kind"], e["contract"]) for e in events] == [
        ("patient_registered", None),
        ("consent_given", None),
        ("care_team_joined", None),
        ("consent_given", None),
        ("care_team_joined", None),
        ("contract_created", plan.pk),
        ("next_step_agreed", plan.pk),
        ("commitment_added", plan.pk),
        ("commitment_added", plan.pk),
        ("commitment_added", plan.pk),
        ("care_contact_assigned", plan.pk),
        ("what_matters_changed", plan.pk),
    ]
    changed = events[-1]
    stored = Event.objects.get(pk=changed["id"])
    assert changed == {
        "id": stored.pk,
        "patient": plan.patient_id,
        "contract": plan.pk,
        "version": version(plan),
        "at": iso(stored.at),
        "kind": "what_matters_changed",
        "actor_kind": "staff",
        "organisation": network["vardcentral"].pk,
        "before": {"what_matters": "Att kunna gå till affären själv."},
        "after": {"what_matters": "Att orka gå till affären."},
    }
    page = feed(api)
    documented("ChangesOut").validate(page)
    assert page["patients"] == [plan.patient_id]
    assert page["contracts"] == [plan.pk]
    logged = AccessLogEntry.objects.filter(api_client=integrations["vardcentral"].name)
    assert set(logged.values_list("patient_id", flat=True)) == {plan.patient_id}


def test_change_feed_shows_nothing_of_other_organisations_patients(integrations, plan):
    api = Api(issue_token(integrations["cardiology"]))
    assert feed(api)["events"] == []


def write_in_thread(contract_id, started, release, done, actor, text):
    """A plan write in its own connection that holds its transaction open until released."""
    try:
        from contracts.models import Contract

        with transaction.atomic():
            contract = Contract.objects.get(pk=contract_id)
            services.set_what_matters(
                actor=actor, contract=contract, text=text, expected_version=contract.version
            )
            started.set()
            release.wait(timeout=30)
    finally:
        done.set()
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_change_feed_misses_nothing_under_concurrent_writes(integrations, network, doctor):
    early, late = make_patients(network, doctor, 2)
    api = Api(issue_token(integrations["vardcentral"]))
    _events, cursor = feed_until(api, None, lambda events: len(events) >= 12)
    actor = Actor.staff(doctor, network["vardcentral"])

    # Writer A starts first (smaller transaction id) and stays open.
    a_started, a_release, a_done = threading.Event(), threading.Event(), threading.Event()
    writer_a = threading.Thread(
        target=write_in_thread, args=(early.pk, a_started, a_release, a_done, actor, "A")
    )
    writer_a.start()
    assert a_started.wait(timeout=30)
    # Writer B starts later and commits first.
    b_started, b_release, b_done = threading.Event(), threading.Event(), threading.Event()
    b_release.set()
    writer_b = threading.Thread(
        target=write_in_thread, args=(late.pk, b_started, b_release, b_done, actor, "B")
    )
    writer_b.start()
    assert b_done.wait(timeout=30)
    assert Event.objects.filter(contract=late, kind="what_matters_changed").exists()

    # B is committed but sits behind A, which is still running: not served yet.
    while_a_runs = feed(api, cursor)
    assert all(e["contract"] != late.pk for e in while_a_runs["events"])
    a_release.set()
    writer_a.join(timeout=30)
    writer_b.join(timeout=30)

    wanted = {(early.pk, "what_matters_changed"), (late.pk, "what_matters_changed")}
    events, cursor = feed_until(
        api,
        while_a_runs["next_cursor"],
        lambda events: wanted <= {(e["contract"], e["kind"]) for e in events},
    )
    events += while_a_runs["events"]
    assert sorted((e["contract"], e["kind"]) for e in events) == sorted(wanted)
    assert feed(api, cursor)["events"] == []


def test_change_feed_rejects_a_broken_cursor(vc_api, plan):
    response = vc_api.get("/api/v1/changes/", since="not-a-cursor")
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_unknown_api_path_is_a_problem_document(vc_api):
    response = vc_api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_etag_helper_matches_the_header(vc_api, plan):
    assert (
        etag(vc_api.get(f"/api/v1/contracts/{plan.pk}/")) == f'"contract-{plan.pk}-v{plan.version}"'
    )
