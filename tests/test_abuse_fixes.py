"""Issue 15's abuse findings, each done again as it was done: a municipal coordinator
replacing primary care's fixed care contact, an integration granting itself
introspection, staff sessions left open, a production start with the development key,
the demo superuser's known password; and the patient told of every sharing change."""

import base64
import os
import subprocess
import sys
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from api_fixtures import Api, _fresh_rate_limits, issue_token  # noqa: F401
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, make_staff, version

from actors.api_clients import create_api_client
from actors.models import Membership, Organisation, OrganisationKind, Role, User
from contracts import services
from contracts.days import STOCKHOLM
from contracts.history import Actor
from contracts.models import FixedCareContact, Notification
from patients import services as patient_services
from patients.models import Relative
from reminders import messages

pytestmark = pytest.mark.django_db
pytest_plugins = ["coordination_fixtures"]

ROOT = Path(__file__).resolve().parent.parent


def current_contact(contract):
    return FixedCareContact.objects.get(contract=contract, ended_on__isnull=True)


# --- 1. who changes the fixed care contact ------------------------------------------------


@pytest.fixture
def vc_nurse(network):
    return make_staff("vc-sjukskoterska@example.org", network["vardcentral"], Role.CLINICIAN)


def assign_post(client, plan, staff, organisation, **headers):
    membership = Membership.objects.get(user=staff, organisation=organisation)
    return client.post(
        reverse("coordination:assign_care_contact", args=[plan.pk]),
        {"version": version(plan), "membership": membership.pk},
        headers=headers,
    )


def test_a_municipal_coordinator_cannot_change_primary_cares_fixed_care_contact(
    client, plan, doctor, vc_nurse, municipal_coordinator, network
):
    # As it was done: from the coordinators' queue, with htmx, for Tolvan's plan
    # (primary care's doctor is the contact), naming another primary-care nurse.
    client.force_login(municipal_coordinator)
    response = assign_post(
        client, plan, vc_nurse, network["vardcentral"], HX_Request="true", Accept_Language="en"
    )
    assert response.status_code == 403
    assert "primary care unit" in response.content.decode()
    assert current_contact(plan).staff == doctor
    # Without JavaScript: back to the queue with the message, nothing changed.
    response = assign_post(client, plan, vc_nurse, network["vardcentral"])
    assert response.status_code == 302
    assert current_contact(plan).staff == doctor


def test_a_municipal_integration_cannot_change_primary_cares_fixed_care_contact(
    plan, doctor, vc_nurse, clients, network
):
    api = Api(issue_token(clients["home_health"][0]))
    current = api.get(f"/api/v1/contracts/{plan.pk}/")
    response = api.put(
        f"/api/v1/contracts/{plan.pk}/care-contact/",
        {"staff": vc_nurse.pk, "organisation": network["vardcentral"].pk},
        headers={"If-Match": current["ETag"]},
    )
    assert response.status_code == 403
    assert current_contact(plan).staff == doctor


def test_primary_care_changes_its_contact_and_the_holder_may_hand_over(
    plan, doctor, nurse, vc_nurse, coordinator, municipal_coordinator, network
):
    services.assign_fixed_care_contact(
        actor=Actor.staff(coordinator, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        staff=nurse,
        organisation=network["home_health"],
    )
    # Home health care now holds the contact, so it may hand the patient back.
    services.assign_fixed_care_contact(
        actor=Actor.staff(municipal_coordinator, network["home_health"]),
        contract=plan,
        expected_version=version(plan),
        staff=vc_nurse,
        organisation=network["vardcentral"],
    )
    assert current_contact(plan).staff == vc_nurse
    with pytest.raises(services.PermissionDenied):
        services.assign_fixed_care_contact(
            actor=Actor.staff(municipal_coordinator, network["home_health"]),
            contract=plan,
            expected_version=version(plan),
            staff=doctor,
            organisation=network["vardcentral"],
        )


def test_the_queue_offers_the_assignment_only_to_the_deciding_unit(
    client, new_plan, coordinator, municipal_coordinator
):
    new_plan(1, teams=("vardcentral", "home_health"))
    new_plan(2, teams=("home_health",))  # no primary care: home health care decides
    client.force_login(municipal_coordinator)
    rows = {
        row.patient.given_name: row.decided_elsewhere
        for row in client.get("/coordination/care-contacts/").context["rows"]
    }
    assert rows == {"Person1": True, "Person2": False}
    client.force_login(coordinator)
    rows = client.get("/coordination/care-contacts/").context["rows"]
    assert [(row.patient.given_name, row.decided_elsewhere) for row in rows] == [("Person1", False)]


# --- 2. introspection --------------------------------------------------------------------


def basic(client, secret) -> str:
    pair = f"{client.application.client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@pytest.fixture
def clients(network):
    return {
        key: create_api_client(name=f"System {key}", organisation=network[key])
        for key in ("vardcentral", "home_health")
    }


def ask_token(django_client, client, secret, scope):
    return django_client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": basic(client, secret)},
    )


def introspect(django_client, token, headers):
    return django_client.post("/oauth/introspect/", {"token": token}, headers=headers)


def test_an_integration_cannot_grant_itself_introspection(client, clients):
    vc, vc_secret = clients["vardcentral"]
    other = issue_token(clients["home_health"][0], scope="read write")
    # As it was done: ask the token endpoint for the scope, then introspect another
    # organisation's token with it.
    response = ask_token(client, vc, vc_secret, "introspection")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    # The client's id and secret alone no longer open the endpoint either.
    refused = introspect(client, other, {"Authorization": basic(vc, vc_secret)})
    assert refused.status_code == 401
    assert "active" not in refused.json()
    # Nor does an ordinary token.
    plain = issue_token(vc, scope="read write introspection")
    refused = introspect(client, other, {"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 403


def test_an_operator_allows_introspection_of_the_organisations_own_tokens_only(client, clients):
    vc, vc_secret = clients["vardcentral"]
    call_command("allow_introspection", vc.name, stdout=StringIO())
    granted = ask_token(client, vc, vc_secret, "introspection")
    assert granted.status_code == 200, granted.json()
    headers = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    own = issue_token(vc, scope="read")
    assert introspect(client, own, headers).json()["active"] is True
    others = issue_token(clients["home_health"][0], scope="read write")
    assert introspect(client, others, headers).json() == {"active": False}
    # Not in the URL (tokens in URLs end up in logs).
    assert client.get(f"/oauth/introspect/?token={own}", headers=headers).status_code == 405
    # Taken back: the token with the scope stops working at once.
    call_command("allow_introspection", vc.name, "--revoke", stdout=StringIO())
    assert introspect(client, own, headers).status_code == 401
    assert ask_token(client, vc, vc_secret, "introspection").status_code == 400


# --- 3. staff idle timeout -----------------------------------------------------------------


def at(*args):
    return datetime(*args, tzinfo=STOCKHOLM)


def test_staff_are_logged_out_after_30_minutes_without_activity(client, doctor, tolvan):
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=False) as clock:
        client.force_login(doctor)
        assert client.get("/patients/").status_code == 200
        # htmx requests count as activity: every 20 minutes for an hour.
        for _n in range(3):
            clock.shift(timedelta(minutes=20))
            assert client.get("/patients/", headers={"HX-Request": "true"}).status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get("/patients/")
        assert response.status_code == 302
        assert response["Location"] == "/login/?next=%2Fpatients%2F"
        page = client.get(response["Location"], headers={"Accept-Language": "en"})
        page = page.content.decode()
        assert "logged out after 30 minutes without activity" in page
        # Logged out for real: the next request asks for a login again.
        assert client.get("/patients/").status_code == 302


def test_an_htmx_request_after_the_timeout_sends_the_whole_page_to_the_login(client, doctor):
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=False) as clock:
        client.force_login(doctor)
        client.get("/patients/")
        clock.shift(timedelta(minutes=45))
        response = client.get("/patients/", headers={"HX-Request": "true"})
        assert response.headers["HX-Redirect"].startswith("/login/")


def test_the_idle_limit_is_a_setting(client, doctor, settings):
    settings.STAFF_IDLE_TIMEOUT = 600
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=False) as clock:
        client.force_login(doctor)
        clock.shift(timedelta(minutes=11))
        assert client.get("/patients/").status_code == 302


def test_patients_keep_the_absolute_limit_only(client, tolvan, plan):
    with time_machine.travel(at(2026, 3, 2, 9, 0), tick=False) as clock:
        client.force_login(tolvan.user)
        assert client.get("/my-plan/consent/").status_code == 200
        clock.shift(timedelta(hours=2))
        assert client.get("/my-plan/consent/").status_code == 200
        clock.shift(timedelta(hours=6, minutes=1))  # 8 h since the login
        assert client.get("/my-plan/consent/").status_code == 302


def test_an_active_staff_session_still_ends_8_hours_after_the_login(client, doctor):
    with time_machine.travel(at(2026, 3, 2, 7, 0), tick=False) as clock:
        client.force_login(doctor)
        for _n in range(8 * 6):
            clock.shift(timedelta(minutes=10))
            assert client.get("/patients/").status_code == 200
        clock.shift(timedelta(minutes=10))
        assert client.get("/patients/").status_code == 302


# --- 4. production settings and the demo data ------------------------------------------------


def run_settings(**env):
    inherited = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_debug_the_app_refuses_to_start_with_no_secret_key():
    refused = run_settings(DEBUG="0")
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr and "SECRET_KEY" in refused.stderr
    default = run_settings(DEBUG="0", SECRET_KEY="django-insecure-local-development-key-change-me")
    assert default.returncode != 0 and "SECRET_KEY is not set" in default.stderr
    assert run_settings(DEBUG="1").returncode == 0
    assert run_settings(DEBUG="0", SECRET_KEY="a-key-of-its-own-" * 3).returncode == 0


@pytest.fixture
def quick_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_seed_demo_refuses_without_debug_unless_told(quick_hashing, settings):
    settings.DEBUG = False
    logins = User.objects.count()
    with pytest.raises(CommandError, match="--allow-production-demo"):
        call_command("seed_demo", stdout=StringIO())
    assert User.objects.count() == logins


def test_seed_demo_in_production_gives_the_logins_a_random_password_shown_once(
    quick_hashing, settings
):
    settings.DEBUG = False
    out = StringIO()
    call_command("seed_demo", "--allow-production-demo", stdout=out)
    admin = User.objects.get(email="admin@naravard.example")
    assert admin.is_superuser and not admin.check_password("demo1234")
    assert not User.objects.get(email="anna.lakare@naravard.example").check_password("demo1234")
    printed = out.getvalue()
    assert "demo1234" not in printed
    password = printed.split("have the password ", 1)[1].split(" ", 1)[0]
    assert admin.check_password(password)
    # Run again: nothing new, and no password to show.
    again = StringIO()
    call_command("seed_demo", "--allow-production-demo", stdout=again)
    assert password not in again.getvalue()
    assert User.objects.get(pk=admin.pk).check_password(password)


# --- 5. the patient is told of sharing changes -------------------------------------------


@pytest.fixture
def english(tolvan):
    """The notices are written in the patient's language; the tests read English."""
    tolvan.preferred_language = "en"
    tolvan.save(update_fields=["preferred_language"])


def notices(patient):
    return list(
        Notification.objects.filter(kind="sharing_changed", recipient_patient=patient).order_by(
            "pk"
        )
    )


def text_of(notice):
    return messages.render(notice, timezone.now()).body


@pytest.fixture
def nordstad(network):
    return Organisation.objects.create(
        name="Hemsjukvården Nordstad",
        kind=OrganisationKind.HOME_HEALTH_CARE,
        parent=network["tierp"],
    )


@pytest.mark.usefixtures("english")
def test_a_unit_joining_with_consent_is_one_notice_naming_no_unit(tolvan, nordstad):
    before = notices(tolvan)
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=tolvan, organisation=nordstad, consent=True
    )
    new = notices(tolvan)[len(before) :]
    assert len(new) == 1
    assert (new[0].channel, new[0].address) == ("sms", tolvan.phone)
    text = text_of(new[0])
    assert text.startswith("Who can see your care plan has changed.")
    # A unit's name can tell what care it gives: the patient logs in to see who.
    assert "Nordstad" not in text and "Hemsjukvård" not in text


@pytest.mark.usefixtures("english")
def test_withdrawing_and_giving_consent_tell_the_patient(tolvan, network):
    vc = network["vardcentral"]
    start = len(notices(tolvan))
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=vc
    )
    assert len(notices(tolvan)) == start + 1
    patient_services.give_consent(actor=Actor.patient(tolvan.user), patient=tolvan, organisation=vc)
    assert len(notices(tolvan)) == start + 2


@pytest.mark.usefixtures("english")
def test_consent_for_a_unit_not_on_the_team_gives_no_notice(tolvan, network):
    start = len(notices(tolvan))
    patient_services.give_consent(actor=SYSTEM, patient=tolvan, organisation=network["cardiology"])
    assert len(notices(tolvan)) == start


@pytest.mark.usefixtures("english")
def test_a_relatives_access_changes_tell_the_patient_without_health_content(client, tolvan, plan):
    karin = Relative.objects.create(patient=tolvan, name="Karin", relation="dotter")
    as_tolvan = Actor.patient(tolvan.user)
    start = len(notices(tolvan))
    for access in ("read", "write", "write", "none"):
        patient_services.set_relative_access(actor=as_tolvan, relative=karin, access=access)
    # The same access twice is no change: three notices for four saves.
    sent = notices(tolvan)[start:]
    assert len(sent) == 3
    for notice in sent:
        text = text_of(notice)
        assert "Karin" not in text and "Väga mig" not in text
        assert plan.what_matters not in text


@pytest.mark.usefixtures("english")
def test_the_patients_page_and_the_service_give_the_same_notice(client, tolvan, network):
    client.force_login(tolvan.user)
    start = len(notices(tolvan))
    url = reverse("access:consent_change", args=[network["home_health"].pk, "withdraw"])
    client.post(url)
    assert len(notices(tolvan)) == start + 1


def test_the_bulk_load_of_generated_data_tells_no_one(tolvan, nordstad):
    start = Notification.objects.count()
    patient_services.add_to_care_teams_in_bulk([(tolvan, nordstad, datetime.now(STOCKHOLM), None)])
    assert Notification.objects.count() == start
