"""The staff worklist: whose plans, what needs doing, search and the query count."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, version

from contracts import services
from contracts.history import Actor
from contracts.models import Commitment
from patients import services as patient_services
from patients.identity import luhn_check_digit

pytestmark = pytest.mark.django_db

WORKLIST = "/patients/"


def fictional_number(n: int) -> str:
    """A valid personnummer born 1950-01-01 + n days, with a made-up serial number."""
    born = date(1950, 1, 1) + timedelta(days=n)
    nine = f"{born:%y%m%d}{n % 1000:03d}"
    return f"{born:%Y%m%d}{n % 1000:03d}{luhn_check_digit(nine)}"


def register(network, n, *, family="Testsson", plan_by=None):
    patient = patient_services.register_patient(
        actor=SYSTEM,
        identity_number=fictional_number(n),
        given_name=f"Person{n}",
        family_name=family,
    )
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=patient, organisation=network["vardcentral"], consent=True
    )
    if plan_by is not None:
        contract = services.create_contract(
            actor=Actor.staff(plan_by, network["vardcentral"]), patient=patient
        )
        services.add_commitment(
            actor=Actor.staff(plan_by, network["vardcentral"]),
            contract=contract,
            expected_version=version(contract),
            what="Ringa",
            owner_kind="patient",
        )
    return patient


def names(response):
    return [patient.given_name for patient in response.context["rows"]]


def test_worklist_lists_the_patients_on_my_organisations_team(client, plan, doctor, cardiologist):
    client.force_login(doctor)
    response = client.get(WORKLIST)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert names(response) == ["Tolvan"]
    client.force_login(cardiologist)
    assert names(client.get(WORKLIST)) == []


def test_worklist_shows_next_step_overdue_commitments_and_care_contact(
    client, plan, doctor, network
):
    Commitment.objects.filter(contract=plan, owner_kind="organisation").update(
        due_date=timezone.localdate() - timedelta(days=1)
    )
    register(network, 1)  # on the team, no plan yet
    client.force_login(doctor)
    rows = {p.given_name: p for p in client.get(WORKLIST).context["rows"]}
    tolvan = rows["Tolvan"]
    assert tolvan.next_step_at == plan.next_steps.get(status="planned").scheduled_at
    assert tolvan.overdue_count == 1
    assert tolvan.has_care_contact is True
    assert rows["Person1"].has_plan is False
    assert rows["Person1"].overdue_count == 0


def test_my_patients_are_those_i_am_contact_for_or_named_on_the_team(
    client, plan, doctor, nurse, coordinator, network
):
    other = register(network, 2)
    client.force_login(doctor)
    assert names(client.get(WORKLIST, {"show": "mine"})) == ["Tolvan"]  # fixed care contact
    assert sorted(names(client.get(WORKLIST))) == ["Person2", "Tolvan"]
    client.force_login(coordinator)
    assert names(client.get(WORKLIST, {"show": "mine"})) == []
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=other, organisation=network["vardcentral"], staff=coordinator
    )
    assert names(client.get(WORKLIST, {"show": "mine"})) == ["Person2"]


@pytest.mark.parametrize(
    "query, found",
    [
        ("Tolvansson", ["Tolvan"]),
        ("tolvan tolv", ["Tolvan"]),
        ("19121212-1212", ["Tolvan"]),
        ("121212-1212", ["Tolvan"]),
        ("1212121212", ["Tolvan"]),
        ("121212+1212", ["Tolvan"]),
        ("1212", ["Tolvan"]),
        ("19121212-1213", []),  # a typo finds nobody, rather than everybody
        ("Person", ["Person3"]),
    ],
)
def test_search_by_name_or_identity_number(client, plan, doctor, network, query, found):
    register(network, 3)
    client.force_login(doctor)
    assert names(client.get(WORKLIST, {"q": query})) == found


def test_worklist_is_paginated(client, doctor, network):
    for n in range(30):
        register(network, 100 + n)
    client.force_login(doctor)
    first = client.get(WORKLIST)
    assert len(first.context["rows"]) == 25
    second = client.get(WORKLIST, {"page": 2})
    assert len(second.context["rows"]) == 5
    assert 'rel="next"' in first.content.decode()


def test_worklist_query_count_does_not_grow_with_the_patients(client, doctor, network):
    client.force_login(doctor)
    register(network, 200, plan_by=doctor)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(WORKLIST).status_code == 200
        return len(queries)

    few = count()
    for n in range(20):
        register(network, 300 + n, plan_by=doctor)
    assert count() == few


def test_patients_and_relatives_have_no_worklist(client, plan, tolvan, daughter):
    client.force_login(tolvan.user)
    assert client.get(WORKLIST).status_code == 403
    client.force_login(daughter.user)
    assert client.get(WORKLIST).status_code == 403


def test_worklist_links_to_the_plan(client, plan, doctor):
    client.force_login(doctor)
    html = client.get(WORKLIST).content.decode()
    assert reverse("contracts:staff_plan", args=[plan.patient_id]) in html


def test_listing_patients_on_the_worklist_is_access_logged(client, plan, doctor, network):
    from patients.models import AccessLogEntry

    client.force_login(doctor)
    client.get(WORKLIST)
    entry = AccessLogEntry.objects.get(user=doctor)
    assert (entry.patient, entry.action) == (plan.patient, AccessLogEntry.Action.SEARCH)
    assert entry.organisation == network["vardcentral"]
