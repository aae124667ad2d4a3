"""Reviewer R1's attack on what issue 15 built: strong login, second factor, limits and
emergency access, tried as an attacker and a security officer would."""

import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.db import connection, connections, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from idp_process import sign_at_idp
from personas import make_staff

from actors import limits
from actors.assurance import LOA3
from actors.assurance import SESSION_KEY as ASSURANCE_KEY
from actors.models import Membership, Role, User
from contracts.days import STOCKHOLM
from contracts.history import Actor
from patients import services as patient_services
from patients.access import EmergencyReason, NoAccess, get_patient_for, logged_in_at
from patients.models import AccessLogEntry, Relative

TOLVAN = "191212121212"
DOCTOR_HSA = "SE2321000032-DP01"
COORDINATOR_HSA = "SE2321000032-DP03"
REASON = {
    "category": "acute_cannot_ask",
    "reason": "Medvetslös på akuten efter fall, kan inte tillfrågas",
}


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


def log_in(client, kind, number, next_url=""):
    url = reverse("actors:oidc_start", args=[kind])
    response = client.get(url + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302
    parts = urlsplit(sign_at_idp(response["Location"], number))
    return client.get(f"{parts.path}?{parts.query}")


def logged_in_user_id(client):
    value = client.session.get(SESSION_KEY)
    return int(value) if value else None


# --- OIDC ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_citizen_bankid_of_a_staff_member_gives_no_staff_session(
    client, tolvan, network, oidc_providers
):
    """A clinician who is also a patient signs with BankID at the citizen provider (acr
    loa3): that must not become a staff session at level 3 (emergency access, the
    admin). Staff rights come from the staff provider (SITHS) or password + app."""
    Membership.objects.create(
        user=tolvan.user, organisation=network["cardiology"], role="clinician"
    )
    response = log_in(client, "citizen", TOLVAN, next_url="/")
    assert response.status_code == 403
    assert "staff login" in response.content.decode()
    assert logged_in_user_id(client) is None
    assert ASSURANCE_KEY not in client.session


@pytest.mark.django_db
def test_relative_whose_access_is_none_cannot_log_in_with_bankid(client, daughter, oidc_providers):
    User.objects.filter(pk=daughter.user_id).update(personal_identity_number="196503089846")
    Relative.objects.filter(pk=daughter.pk).update(access=Relative.Access.NONE)
    response = log_in(client, "citizen", "196503089846")
    assert response.status_code == 403
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_step_up_signed_by_another_person_does_not_keep_the_first_user(
    client, doctor, coordinator, oidc_providers
):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA)
    User.objects.filter(pk=coordinator.pk).update(hsa_id=COORDINATOR_HSA)
    client.force_login(doctor)
    session = client.session
    session["emergency_access"] = {"1": {"category": "x", "reason": "y", "until": 9e12}}
    session.save()
    log_in(client, "staff", COORDINATOR_HSA, next_url="/")
    assert logged_in_user_id(client) == coordinator.pk
    assert "emergency_access" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "\\\\evil.example",
    ],
)
def test_oidc_next_never_leaves_the_site(client, tolvan, oidc_providers, next_url):
    from urllib.parse import quote

    response = log_in(client, "citizen", TOLVAN, next_url=quote(next_url, safe=""))
    assert response.status_code == 302
    assert response["Location"] == "/my-plan/" or response["Location"].startswith("/")
    assert "evil" not in response["Location"] and "javascript" not in response["Location"]


# --- idle timeout --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_citizen_who_becomes_staff_after_login_gets_the_staff_idle_limit(client, tolvan, network):
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM), tick=False) as clock:
        client.force_login(tolvan.user)
        assert client.get("/my-plan/consent/").status_code == 200
        Membership.objects.create(
            user=tolvan.user, organisation=network["vardcentral"], role=Role.CLINICIAN
        )
        clock.shift(timedelta(minutes=2))
        assert client.get("/my-plan/consent/").status_code == 200
        clock.shift(timedelta(minutes=31))
        assert client.get("/my-plan/consent/").status_code == 302


# --- emergency access ------------------------------------------------------------------------


def logged_in(client, user, level=LOA3):
    client.force_login(user)
    session = client.session
    session[ASSURANCE_KEY] = {"level": level, "method": "oidc:staff"}
    session.save()
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reason",
    [
        "akut akut akut akut akut akut",
        "ab                    cd ef",
        "ab\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b cd ef",
        "Akut AKUT akut akut akut akut",
    ],
)
def test_padded_or_repeated_reasons_are_not_a_sentence(client, plan, cardiologist, reason):
    logged_in(client, cardiologist)
    response = client.post(
        reverse("access:emergency", args=[plan.patient_id]), {**REASON, "reason": reason}
    )
    assert response.status_code == 400
    assert not AccessLogEntry.objects.filter(emergency=True).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_emergency_reads_cannot_pass_the_daily_limit(plan, cardiologist, settings):
    """The limit is checked and the read logged under a lock per reader: a second read
    made while the first is being logged waits, then sees the limit reached."""
    settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT = 1
    other = patient_services.register_patient(
        actor=Actor.system("tests"),
        identity_number="19100101-0105",
        given_name="Greta",
        family_name="Prov",
    )
    reason = EmergencyReason(REASON["category"], REASON["reason"])
    outcome = {}

    def second_read():
        try:
            with logged_in_at(LOA3):
                get_patient_for(cardiologist, other.pk, emergency_reason=reason)
            outcome["read"] = True
        except NoAccess:
            outcome["read"] = False
        finally:
            connections.close_all()

    # The first read holds its lock (as while writing its row) when the second starts.
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=cardiologist.pk).first()
        thread = threading.Thread(target=second_read)
        thread.start()
        thread.join(timeout=2)
        waited = thread.is_alive()
        with logged_in_at(LOA3):
            get_patient_for(cardiologist, plan.patient_id, emergency_reason=reason)
    thread.join(timeout=10)
    assert waited
    assert outcome == {"read": False}
    assert AccessLogEntry.objects.filter(user=cardiologist, emergency=True).count() == 1
    assert connection.is_usable()


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("192.0.2.1", "192.0.2.2", False),
        ("::ffff:192.0.2.1", "192.0.2.1", True),
    ],
)
def test_an_ipv6_network_counts_as_one_address(first, second, same, settings):
    """Anyone with an IPv6 connection has a /64 of addresses to rotate through."""
    settings.BEHIND_PROXY = False
    factory = RequestFactory()
    a = factory.get("/", REMOTE_ADDR=first, HTTP_X_FORWARDED_FOR="203.0.113.9")
    b = factory.get("/", REMOTE_ADDR=second, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert (limits.ip_key(a) == limits.ip_key(b)) is same
    assert "203.0.113.9" not in limits.ip_key(a)


# --- second factor ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_authenticator_code_cannot_be_used_twice_by_parallel_logins(doctor):
    """Two logins that know the password send the same code at once (one of them an
    observer of the other's screen): the device is checked under a lock, so the code
    opens one session only."""
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from second_factor import code_now, totp_device

    device = totp_device(doctor)
    code = code_now(device)
    attacker = Client()
    attacker.post("/login/", {"username": "doktor@example.org", "password": "pw"})
    outcome = {}

    def send_code():
        try:
            outcome["status"] = attacker.post(reverse("actors:second_factor"), {"code": code})
        finally:
            connections.close_all()

    # The victim's login holds the device while its code is checked and used.
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        thread = threading.Thread(target=send_code)
        thread.start()
        thread.join(timeout=2)
        waited = thread.is_alive()
        assert locked.verify_token(code)
    thread.join(timeout=10)
    assert waited
    assert outcome["status"].status_code == 400
    assert attacker.session.get(SESSION_KEY) is None


# --- emergency reads' review -------------------------------------------------------------------


@pytest.mark.django_db
def test_an_emergency_read_of_a_patient_without_a_care_contact_is_still_reviewed(
    plan, cardiologist, network
):
    """The reader's unit (and its region) has no administrator, and the patient has no
    fixed care contact (no plan): the organisations on the patient's care team review."""
    from patients.access import emergency_reads_reviewable_by

    greta = patient_services.register_patient(
        actor=Actor.system("tests"),
        identity_number="19100101-0105",
        given_name="Greta",
        family_name="Prov",
    )
    patient_services.add_to_care_team(
        actor=Actor.system("tests"),
        patient=greta,
        organisation=network["vardcentral"],
        consent=True,
    )
    reason = EmergencyReason(REASON["category"], REASON["reason"])
    with logged_in_at(LOA3):
        get_patient_for(cardiologist, greta.pk, emergency_reason=reason)
    entry = AccessLogEntry.objects.get(user=cardiologist, emergency=True)
    vc_admin = make_staff("vcadmin@example.org", network["vardcentral"], Role.ORG_ADMIN, "Vera")
    home_admin = make_staff("hemadmin@example.org", network["home_health"], Role.ORG_ADMIN)
    assert list(emergency_reads_reviewable_by(vc_admin)) == [entry]
    assert not emergency_reads_reviewable_by(home_admin).exists()
    # The reader is their unit's only administrator: they may not review their own read.
    Membership.objects.create(
        user=cardiologist, organisation=network["cardiology"], role=Role.ORG_ADMIN
    )
    assert list(emergency_reads_reviewable_by(vc_admin)) == [entry]
    # Once the unit has an administrator of its own, the review is theirs.
    make_staff("kardadmin@example.org", network["cardiology"], Role.ORG_ADMIN)
    assert not emergency_reads_reviewable_by(vc_admin).exists()


# --- what held (kept as tests so that it stays so) -----------------------------------------------


@pytest.mark.django_db
def test_an_e_legitimation_login_gives_the_session_a_new_key(client, tolvan, oidc_providers):
    client.get("/login/")
    session = client.session
    session["planted"] = True
    session.save()
    planted_key = session.session_key
    log_in(client, "citizen", TOLVAN)
    assert logged_in_user_id(client) == tolvan.user_id
    assert client.session.session_key != planted_key


@pytest.mark.django_db
def test_a_deactivated_staff_member_cannot_log_in_with_siths(client, doctor, oidc_providers):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA, is_active=False)
    assert log_in(client, "staff", DOCTOR_HSA).status_code == 403
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_a_password_waiting_for_its_second_factor_opens_nothing(client, doctor, plan):
    from second_factor import totp_device

    totp_device(doctor)
    response = client.post("/login/", {"username": "doktor@example.org", "password": "pw"})
    assert response["Location"] == reverse("actors:second_factor")
    for url in ("/patients/", f"/patients/{plan.patient_id}/plan/", "/admin/", "/api/v1/"):
        response = client.get(url)
        assert response.status_code in (302, 401, 403, 404), url
        assert response.status_code != 200
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_valid_reasons_do_not_tell_which_ids_exist_without_a_logged_read(
    client, plan, cardiologist
):
    """A clinician posting valid reasons for id after id learns nothing unlogged: the form
    answers the same for a missing id, and only the plan page's read tells them apart,
    a read that is logged and counted against the daily limit."""
    logged_in(client, cardiologist)
    missing = 987654
    answers = [
        client.post(reverse("access:emergency", args=[pk]), REASON)
        for pk in (plan.patient_id, missing)
    ]
    assert [a.status_code for a in answers] == [302, 302]
    assert [a["Location"] for a in answers] == [
        reverse("contracts:staff_plan", args=[pk]) for pk in (plan.patient_id, missing)
    ]
    assert client.get(reverse("contracts:staff_plan", args=[missing])).status_code == 404
    assert client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).status_code == 200
    assert AccessLogEntry.objects.filter(user=cardiologist, emergency=True).exists()


@pytest.mark.django_db
def test_a_bankid_session_made_staff_meanwhile_must_log_in_again_as_staff(
    client, tolvan, plan, network
):
    """A patient logged in with BankID (level 3) whose login is then given a role as
    staff does not keep a level-3 staff session (emergency access) from the citizen
    provider: within a minute they are logged out, to log in again as staff."""
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM), tick=False) as clock:
        client.force_login(tolvan.user)
        session = client.session
        session[ASSURANCE_KEY] = {"level": LOA3, "method": "oidc:citizen"}
        session.save()
        assert client.get("/my-plan/consent/").status_code == 200
        Membership.objects.create(
            user=tolvan.user, organisation=network["cardiology"], role=Role.CLINICIAN
        )
        clock.shift(timedelta(minutes=1))
        response = client.get(reverse("access:emergency", args=[plan.patient_id]))
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
        assert logged_in_user_id(client) is None
        page = client.get(response["Location"]).content.decode()
        assert "your role in Naravard changed" in page


@pytest.mark.django_db
def test_a_wait_looks_the_same_for_a_known_and_an_unknown_account(doctor, settings):
    settings.NARAVARD_LOGIN_RATE_LIMITS = {
        **settings.NARAVARD_LOGIN_RATE_LIMITS,
        "account_free_failures": 2,
    }

    def answers(email):
        browser = Client(headers={"accept-language": "en"}, REMOTE_ADDR="192.0.2.77")
        found = []
        for _n in range(4):
            response = browser.post("/login/", {"username": email, "password": "wrong"})
            found.append((response.status_code, response.get("Retry-After")))
        # The right password while waiting is refused unchecked, like any other try.
        response = browser.post("/login/", {"username": email, "password": "pw"})
        found.append((response.status_code, response.get("Retry-After")))
        return found

    known, unknown = answers("doktor@example.org"), answers("ingen@example.org")
    assert [status for status, _wait in known] == [status for status, _wait in unknown]
    assert known[-1][0] == 429
    # The same wait (to the second the two runs are apart).
    for (_s, a), (_t, b) in zip(known, unknown, strict=True):
        assert (a is None) == (b is None) and abs(int(a or 0) - int(b or 0)) <= 1
