"""The coordinators' queues: what each shows, the filters, the counts in the menu, who may
see them, the access log, the fixed query count, and assigning a fixed care contact."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, make_staff, version

from actors.models import Role
from contracts import services
from contracts.days import STOCKHOLM
from contracts.history import Actor
from contracts.models import Commitment, Contract, Event, FixedCareContact, NextStep, Notification
from patients import services as patient_services
from patients.models import AccessLogEntry
from reminders import messages, notify

pytestmark = pytest.mark.django_db
pytest_plugins = ["coordination_fixtures"]

CARE_CONTACTS = "/coordination/care-contacts/"
QUEUE_URLS = [
    "/coordination/",
    CARE_CONTACTS,
    "/coordination/next-steps/",
    "/coordination/outcomes/",
    "/coordination/commitments/",
    "/coordination/reviews/",
    "/coordination/discharges/",
    "/coordination/failed-reminders/",
    "/coordination/figures/",
    "/coordination/figures.csv",
]


def sthlm(*args) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


def names(response):
    return [row.patient.given_name for row in response.context["rows"]]


def assign_url(contract):
    return reverse("coordination:assign_care_contact", args=[contract.pk])


# --- who may see the queues ---------------------------------------------------------------------


@pytest.mark.parametrize("url", QUEUE_URLS)
def test_only_coordinators_see_the_queues(client, url, doctor, nurse, tolvan, daughter, plan):
    assert client.get(url).status_code == 302  # to the login page
    for user in (doctor, nurse, tolvan.user, daughter.user):
        client.force_login(user)
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", QUEUE_URLS)
def test_queue_pages_load_for_a_coordinator(client, url, coordinator, plan):
    client.force_login(coordinator)
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_coordinator_sees_only_patients_visible_to_them(client, new_plan, doctor, network):
    new_plan(1, teams=("vardcentral",))
    new_plan(2, teams=("cardiology",))
    cardiology_coordinator = make_staff(
        "kard-samordnare@example.org", network["cardiology"], "coordinator"
    )
    vc_coordinator = make_staff("vc-samordnare@example.org", network["vardcentral"], "coordinator")
    client.force_login(vc_coordinator)
    assert names(client.get(CARE_CONTACTS)) == ["Person1"]
    client.force_login(cardiology_coordinator)
    assert names(client.get(CARE_CONTACTS)) == ["Person2"]


def test_a_withdrawn_consent_takes_the_patient_out_of_the_queue(
    client, new_plan, coordinator, network
):
    patient, _plan = new_plan(1)
    client.force_login(coordinator)
    assert names(client.get(CARE_CONTACTS)) == ["Person1"]
    patient_services.withdraw_consent(
        actor=SYSTEM, patient=patient, organisation=network["vardcentral"]
    )
    assert names(client.get(CARE_CONTACTS)) == []


# --- plans without a fixed care contact -------------------------------------------------


def test_plans_without_a_contact_are_listed_oldest_first_with_working_days_waiting(
    client, new_plan, coordinator, plan
):
    # Maundy Thursday 2026; the next working day is the Tuesday after Easter.
    with time_machine.travel(sthlm(2026, 4, 2, 10, 0), tick=False) as clock:
        new_plan(1)
        clock.move_to(sthlm(2026, 4, 7, 10, 0))
        new_plan(2)
        clock.move_to(sthlm(2026, 4, 9, 10, 0))
        client.force_login(coordinator)
        rows = client.get(CARE_CONTACTS).context["rows"]
        # Tolvan's plan has a contact and is not listed.
        assert [row.patient.given_name for row in rows] == ["Person1", "Person2"]
        # Whole working days: Good Friday and Easter Monday do not count, today is not over.
        assert [row.days_waiting for row in rows] == [2, 1]
        assert [row.overdue for row in rows] == [False, False]
        # Three working days after Maundy Thursday end with Thursday 9 April.
        clock.move_to(sthlm(2026, 4, 10, 0, 0))
        client.force_login(coordinator)
        rows = client.get(CARE_CONTACTS).context["rows"]
        assert [row.overdue for row in rows] == [True, False]
        assert [row.days_waiting for row in rows] == [3, 2]
        html = client.get(CARE_CONTACTS).content.decode()
        assert "Overdue" in html  # said in words, not only in red


def test_a_coordinator_assigns_a_contact_in_one_step_and_both_are_told(
    client, new_plan, coordinator, doctor, network
):
    patient, contract = new_plan(1)
    client.force_login(coordinator)
    page = client.get(CARE_CONTACTS)
    form = page.context["rows"][0].form
    membership = doctor.memberships.get()
    assert (membership.pk, f"{doctor}, {network['vardcentral']}") in [
        (value, label) for value, label in form.fields["membership"].choices
    ]
    response = client.post(
        assign_url(contract), {"version": version(contract), "membership": membership.pk}
    )
    assert response.status_code == 302
    assert response["Location"] == CARE_CONTACTS
    current = FixedCareContact.objects.get(contract=contract, ended_on__isnull=True)
    assert (current.staff, current.organisation, current.assigned_by) == (
        doctor,
        network["vardcentral"],
        coordinator,
    )
    event = Event.objects.get(contract=contract, kind="care_contact_assigned")
    assert event.actor == coordinator
    told = Notification.objects.filter(kind="care_contact_assigned", contract=contract)
    assert {(n.recipient_user, n.recipient_patient) for n in told} == {
        (doctor, None),
        (None, patient),
    }
    assert names(client.get(CARE_CONTACTS)) == []


def test_the_assignment_notifications_are_written_once_per_assignment(
    new_plan, coordinator, doctor, network
):
    _patient, contract = new_plan(1)
    assignment = services.assign_fixed_care_contact(
        actor=Actor.staff(coordinator, network["vardcentral"]),
        contract=contract,
        expected_version=version(contract),
        staff=doctor,
        organisation=network["vardcentral"],
    )
    notify.care_contact_assigned(assignment)  # a retry
    assert Notification.objects.filter(kind="care_contact_assigned").count() == 2


def test_the_assignment_message_names_no_one(new_plan, coordinator, doctor, network):
    _patient, contract = new_plan(1, teams=("vardcentral", "home_health"))
    as_coordinator = Actor.staff(coordinator, network["vardcentral"])
    services.assign_fixed_care_contact(
        actor=as_coordinator,
        contract=contract,
        expected_version=version(contract),
        staff=doctor,
        organisation=network["vardcentral"],
    )
    to_patient = Notification.objects.get(recipient_patient__isnull=False)
    to_doctor = Notification.objects.get(recipient_user=doctor)
    text = messages.render(to_patient, timezone.now())
    assert text.address == "+46700000001" and "http" in text.body
    assert "Doris" not in text.body and "Vårdcentralen" not in text.body
    to_doctor_text = messages.render(to_doctor, timezone.now())
    assert to_doctor_text.address == doctor.email and "Person1" not in to_doctor_text.body


def test_assigning_with_htmx_swaps_the_row_for_a_confirmation(
    client, new_plan, coordinator, doctor
):
    _patient, contract = new_plan(1)
    client.force_login(coordinator)
    response = client.post(
        assign_url(contract),
        {"version": version(contract), "membership": doctor.memberships.get().pk},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<tr id="plan-{contract.pk}">' in html and "Assigned" in html and "Doris" in html
    assert "<html" not in html


def test_assigning_on_a_plan_changed_meanwhile_is_refused_and_shows_the_row_again(
    client, new_plan, coordinator, doctor, network
):
    _patient, contract = new_plan(1)
    seen = version(contract)
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=contract,
        text="Att klara trappan",
        expected_version=seen,
    )
    client.force_login(coordinator)
    response = client.post(
        assign_url(contract),
        {"version": seen, "membership": doctor.memberships.get().pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone changed this plan" in html
    assert f'name="version" value="{seen + 1}"' in html  # the row now names the current version
    assert not FixedCareContact.objects.filter(contract=contract).exists()


def test_only_staff_of_the_care_team_can_be_assigned(
    client, new_plan, coordinator, cardiologist, nurse
):
    _patient, contract = new_plan(1)  # on the vårdcentral's team only
    client.force_login(coordinator)
    for outsider in (cardiologist, nurse):
        response = client.post(
            assign_url(contract),
            {"version": version(contract), "membership": outsider.memberships.get().pk},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 400
    assert not FixedCareContact.objects.filter(contract=contract).exists()


def test_a_plan_the_coordinator_cannot_see_cannot_be_assigned(
    client, new_plan, network, coordinator
):
    _patient, contract = new_plan(1, teams=("cardiology",))
    cardiologist = make_staff("kardiolog2@example.org", network["cardiology"], Role.CLINICIAN)
    client.force_login(coordinator)
    response = client.post(
        assign_url(contract),
        {"version": version(contract), "membership": cardiologist.memberships.get().pk},
    )
    assert response.status_code == 404


# --- the other queues ---------------------------------------------------------------------


def test_plans_without_a_next_step_are_overdue_next_steps(
    client, plan, new_plan, coordinator, doctor, network
):
    new_plan(1)
    step = plan.next_steps.get(status="planned")
    client.force_login(coordinator)
    assert names(client.get("/coordination/next-steps/")) == ["Person1"]
    services.record_next_step_outcome(
        actor=Actor.staff(doctor, network["vardcentral"]),
        step=step,
        expected_version=version(plan),
        outcome="Vikten stabil",
    )
    rows = client.get("/coordination/next-steps/").context["rows"]
    assert [row.patient.given_name for row in rows] == ["Tolvan", "Person1"]
    assert rows[0].last_step_at == step.scheduled_at


def test_next_steps_without_an_outcome_turn_overdue_after_24_hours(client, plan, coordinator):
    step = plan.next_steps.get(status="planned")
    with time_machine.travel(step.scheduled_at - timedelta(minutes=1), tick=False) as clock:
        client.force_login(coordinator)
        assert client.get("/coordination/outcomes/").context["rows"].paginator.count == 0
        clock.move_to(step.scheduled_at + timedelta(hours=23, minutes=59))
        client.force_login(coordinator)
        [row] = client.get("/coordination/outcomes/").context["rows"]
        assert (row.pk, row.overdue, row.hours_passed) == (step.pk, False, 23)
        clock.move_to(step.scheduled_at + timedelta(hours=24))
        client.force_login(coordinator)
        response = client.get("/coordination/outcomes/")
        assert response.context["rows"][0].overdue is True
        assert "Outcome overdue" in response.content.decode()


def test_overdue_commitments_are_listed_and_counted_by_organisation(
    client, plan, coordinator, network
):
    today = timezone.localdate()
    Commitment.objects.filter(contract=plan).update(due_date=today - timedelta(days=2))
    client.force_login(coordinator)
    response = client.get("/coordination/commitments/")
    rows = response.context["rows"]
    # The patient's own commitment (self-care) is not a unit's to chase.
    assert [row.owner_organisation.name for row in rows] == [
        "Hemsjukvården Tierp",
        "Vårdcentralen Tierp",
    ]
    assert {row.days_late for row in rows} == {2}
    assert [(r["owner_organisation__name"], r["count"]) for r in response.context["per_org"]] == [
        ("Hemsjukvården Tierp", 1),
        ("Vårdcentralen Tierp", 1),
    ]
    # What the commitment is stays on the plan page.
    assert "medicinlistan" not in response.content.decode()
    Commitment.objects.filter(contract=plan).update(due_date=today)
    assert client.get("/coordination/commitments/").context["rows"].paginator.count == 0


def test_reviews_due_now_or_within_two_weeks(client, plan, new_plan, coordinator):
    today = timezone.localdate()
    _patient, soon = new_plan(1)
    _patient, later = new_plan(2)
    Contract.objects.filter(pk=plan.pk).update(review_due=today - timedelta(days=1))
    Contract.objects.filter(pk=soon.pk).update(review_due=today + timedelta(days=14))
    Contract.objects.filter(pk=later.pk).update(review_due=today + timedelta(days=15))
    client.force_login(coordinator)
    rows = client.get("/coordination/reviews/").context["rows"]
    assert [(row.patient.given_name, row.overdue) for row in rows] == [
        ("Tolvan", True),
        ("Person1", False),
    ]


# --- filters and counts --------------------------------------------------------------------------


@pytest.fixture
def three_plans(new_plan, network, municipal_coordinator):
    """Person1 on the vårdcentral's and home health's teams, Person2 on the vårdcentral's,
    Person3 on home health's."""
    new_plan(1, teams=("vardcentral", "home_health"))
    new_plan(2, teams=("vardcentral",))
    new_plan(3, teams=("home_health",))


@pytest.mark.parametrize(
    "filter_key, value, shown",
    [
        (None, None, ["Person1", "Person2"]),
        ("organisation", "home_health", ["Person1"]),
        ("organisation", "vardcentral", ["Person1", "Person2"]),
        ("principal", "tierp", ["Person1"]),
        ("principal", "region", ["Person1", "Person2"]),
    ],
)
def test_queues_filter_by_organisation_and_principal(
    client, three_plans, coordinator, network, filter_key, value, shown
):
    client.force_login(coordinator)
    query = {filter_key: network[value].pk} if filter_key else {}
    response = client.get(CARE_CONTACTS, query)
    assert sorted(names(response)) == shown
    assert response.context["menu"][0]["count"] == len(shown)


def test_a_filter_outside_the_choices_is_ignored(client, three_plans, coordinator, network):
    client.force_login(coordinator)
    response = client.get(CARE_CONTACTS, {"organisation": network["cardiology"].pk})
    assert response.context["scope"].organisation is None
    assert sorted(names(response)) == ["Person1", "Person2"]


def test_the_menu_counts_each_queue(client, plan, three_plans, coordinator, network):
    Commitment.objects.filter(contract=plan, owner_kind="organisation").update(
        due_date=timezone.localdate() - timedelta(days=1)
    )
    client.force_login(coordinator)
    response = client.get("/coordination/")
    counts = {item["key"]: item["count"] for item in response.context["menu"]}
    assert counts == {
        "care_contacts": 2,
        "next_steps": 2,
        "outcomes": 0,
        "commitments": 1,
        "reviews": 0,
        "discharges": 0,
        "failed_reminders": 0,
    }
    # The main menu on other staff pages shows the total.
    worklist = client.get("/patients/").content.decode()
    assert "Coordination" in worklist and "5 waiting" in worklist


def test_the_main_menu_has_no_coordination_entry_for_other_staff(client, plan, doctor):
    client.force_login(doctor)
    assert "Coordination" not in client.get("/patients/").content.decode()


# --- the access log ------------------------------------------------------------------------------


def test_listing_a_patient_in_a_queue_is_logged_as_a_search(
    client, three_plans, coordinator, network
):
    client.force_login(coordinator)
    client.get(CARE_CONTACTS)
    rows = AccessLogEntry.objects.filter(user=coordinator)
    assert sorted(row.patient.given_name for row in rows) == ["Person1", "Person2"]
    assert {(row.action, row.organisation, row.role) for row in rows} == {
        ("search", network["vardcentral"], "coordinator")
    }


def test_the_figures_page_logs_nothing(client, three_plans, coordinator):
    client.force_login(coordinator)
    client.get("/coordination/figures/")
    assert not AccessLogEntry.objects.filter(user=coordinator).exists()


# --- a fixed number of queries ------------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url",
    [
        CARE_CONTACTS,
        "/coordination/next-steps/",
        "/coordination/outcomes/",
        "/coordination/commitments/",
        "/coordination/reviews/",
        "/coordination/discharges/",
        "/coordination/failed-reminders/",
    ],
)
def test_queue_pages_use_a_fixed_number_of_queries(client, new_plan, coordinator, doctor, url):
    client.force_login(coordinator)
    today = timezone.localdate()

    def add(first, count):
        for n in range(first, first + count):
            _patient, contract = new_plan(n, teams=("vardcentral", "home_health"))
            Contract.objects.filter(pk=contract.pk).update(review_due=today)
            Commitment.objects.create(
                contract=contract,
                owner_kind="organisation",
                owner_organisation_id=doctor.memberships.get().organisation_id,
                what="Ringa",
                due_date=today - timedelta(days=1),
            )
            if n % 2:
                NextStep.objects.create(
                    contract=contract,
                    scheduled_at=timezone.now() - timedelta(hours=2),
                    channel="phone",
                    purpose="Samtal",
                )

    add(1, 2)
    few = _queries(client, url)
    add(10, 12)
    assert _queries(client, url) == few


# --- reminders that could not be delivered -------------------------------------------------------

FAILED = "/coordination/failed-reminders/"


def failed_reminder(contract, kind="commitment_due", **fields):
    return Notification.objects.create(
        dedupe_key=f"test:{contract.pk}:{kind}:{Notification.objects.count()}",
        kind=kind,
        channel="sms",
        recipient_patient=contract.patient,
        address="+46701234567",
        contract=contract,
        body="",
        status=Notification.Status.FAILED,
        attempts=5,
        last_error="ConnectionError: provider unreachable",
        **fields,
    )


def test_failed_reminders_wait_in_the_coordinators_queue_until_handled(client, plan, coordinator):
    failed = failed_reminder(plan)
    client.force_login(coordinator)
    page = client.get(FAILED)
    assert [row.pk for row in page.context["rows"]] == [failed.pk]
    html = page.content.decode()
    assert "Reminder of a commitment" in html and "provider unreachable" in html
    assert {i["key"]: i["count"] for i in page.context["menu"]}["failed_reminders"] == 1
    # Listing the patient is in their access log, as in every queue.
    assert AccessLogEntry.objects.filter(user=coordinator, action="search").exists()

    response = client.post(f"{FAILED}{failed.pk}/", {"action": "handled"})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.handled_by) == ("failed", coordinator)
    assert failed.handled_at is not None
    assert list(client.get(FAILED).context["rows"]) == []


def test_a_failed_reminder_can_be_sent_again(client, plan, coordinator):
    failed = failed_reminder(plan)
    client.force_login(coordinator)
    assert client.post(f"{FAILED}{failed.pk}/", {"action": "retry"}).status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)


def test_another_organisations_failed_reminders_are_not_shown_nor_reachable(
    client, plan, new_plan, coordinator, network
):
    # A plan whose patient only the municipality's home health care looks after.
    _patient, theirs = new_plan(7, teams=("home_health",))
    failed = failed_reminder(theirs)
    client.force_login(coordinator)
    assert list(client.get(FAILED).context["rows"]) == []
    assert client.post(f"{FAILED}{failed.pk}/", {"action": "handled"}).status_code == 404
    failed.refresh_from_db()
    assert failed.handled_at is None


def test_only_a_known_action_changes_a_failed_reminder(client, plan, coordinator):
    failed = failed_reminder(plan)
    client.force_login(coordinator)
    assert client.post(f"{FAILED}{failed.pk}/", {"action": "delete"}).status_code == 400
    failed.refresh_from_db()
    assert (failed.status, failed.handled_at) == ("failed", None)
