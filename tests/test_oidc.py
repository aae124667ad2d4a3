"""Logging in with e-legitimation (actors.oidc) through a real OpenID Connect provider:
the demo provider (demo_idp) runs as its own process with its own database and key."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from idp_process import provider_settings, sign_at_idp

from actors import assurance
from actors.models import User
from patients.identity import luhn_check_digit

TOLVAN = "191212121212"
DOCTOR_HSA = "SE2321000032-DP01"


def start(client, kind, next_url=""):
    url = reverse("actors:oidc_start", args=[kind])
    response = client.get(url + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert response.status_code == 302
    return response["Location"]


def come_back(client, callback_url):
    """The browser arriving at Naravard's callback from the provider."""
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def log_in(client, kind, number, next_url=""):
    return come_back(client, sign_at_idp(start(client, kind, next_url), number))


def logged_in_user_id(client):
    value = client.session.get(SESSION_KEY)
    return int(value) if value else None


def personnummer(year, month, day, serial):
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{year // 100}{nine}{luhn_check_digit(nine)}"


@pytest.fixture
def citizen_only(settings, oidc_providers):
    settings.NARAVARD_OIDC_PROVIDERS = {"citizen": oidc_providers["citizen"]}


def test_login_page_offers_e_legitimation_only_for_configured_providers(
    client, settings, citizen_only
):
    page = client.get(reverse("login") + "?next=/my-plan/").content.decode()
    assert "Log in with BankID or Freja" in page
    assert f"{reverse('actors:oidc_start', args=['citizen'])}?next=/my-plan/" in page
    assert "SITHS" not in page
    assert client.get(reverse("actors:oidc_start", args=["staff"])).status_code == 404

    settings.NARAVARD_OIDC_PROVIDERS = {}
    assert "BankID" not in client.get(reverse("login")).content.decode()


def test_patient_logs_in_with_bankid_at_level_3_and_lands_on_next(client, tolvan, oidc_providers):
    response = log_in(client, "citizen", TOLVAN, next_url="/my-plan/")

    assert response.status_code == 302
    assert response["Location"] == "/my-plan/"
    assert logged_in_user_id(client) == tolvan.user_id
    assert client.session[assurance.SESSION_KEY] == {"level": 3, "method": "oidc:citizen"}
    assert client.get("/my-plan/").status_code == 200


def test_relative_logs_in_with_their_personnummer(client, daughter, oidc_providers):
    number = personnummer(1965, 3, 8, 984)
    User.objects.filter(pk=daughter.user_id).update(personal_identity_number=number)

    response = log_in(client, "citizen", number)

    assert response.status_code == 302
    assert logged_in_user_id(client) == daughter.user_id


def test_staff_member_logs_in_with_siths_hsa_id(client, doctor, oidc_providers):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA)

    response = log_in(client, "staff", DOCTOR_HSA)

    assert response.status_code == 302
    assert logged_in_user_id(client) == doctor.pk
    assert client.session[assurance.SESSION_KEY] == {"level": 3, "method": "oidc:staff"}


def test_unknown_personnummer_is_refused_and_no_user_is_created(client, tolvan, oidc_providers):
    users = User.objects.count()

    response = log_in(client, "citizen", personnummer(1951, 6, 2, 986))

    assert response.status_code == 403
    assert "we have no patient or relative with your personal identity number" in (
        response.content.decode()
    )
    assert User.objects.count() == users
    assert logged_in_user_id(client) is None


def test_patients_number_does_not_log_in_through_the_staff_provider(client, tolvan, oidc_providers):
    """Staff are found by HSA-id only, and only with an active role."""
    User.objects.filter(pk=tolvan.user_id).update(hsa_id="SE2321000032-tolvan")

    response = log_in(client, "staff", "SE2321000032-tolvan")

    assert response.status_code == 403
    assert "your HSA-id has no active role in Naravard" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_staff_hsa_id_without_active_membership_is_refused(client, doctor, oidc_providers):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA)
    doctor.memberships.update(active=False)

    response = log_in(client, "staff", DOCTOR_HSA)

    assert response.status_code == 403
    assert "your HSA-id has no active role in Naravard" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_forged_state_is_refused(client, tolvan, oidc_providers):
    callback = sign_at_idp(start(client, "citizen"), TOLVAN)
    forged = callback.replace("state=", "state=forged")

    response = come_back(client, forged)

    assert response.status_code == 403
    assert "did not succeed" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_state_of_one_provider_is_worthless_at_the_other(client, tolvan, doctor, oidc_providers):
    callback = sign_at_idp(start(client, "citizen"), TOLVAN)
    parts = urlsplit(callback)

    response = client.get(f"{reverse('actors:oidc_callback_staff')}?{parts.query}")

    assert response.status_code == 403
    assert logged_in_user_id(client) is None


def test_callback_replayed_after_login_is_refused(client, tolvan, oidc_providers):
    callback = sign_at_idp(start(client, "citizen"), TOLVAN)
    assert come_back(client, callback).status_code == 302
    client.logout()

    assert come_back(client, callback).status_code == 403
    assert logged_in_user_id(client) is None


def test_replayed_nonce_is_refused(client, tolvan, oidc_providers, caplog):
    """A code the provider issued for an earlier login's nonce does not log anyone in,
    even when it comes back with a state of this session's own."""
    first = start(client, "citizen")
    old_nonce = parse_qs(urlsplit(first).query)["nonce"][0]
    assert come_back(client, sign_at_idp(first, TOLVAN)).status_code == 302
    client.logout()

    authorize = urlsplit(start(client, "citizen"))
    query = parse_qs(authorize.query)
    query["nonce"] = [old_nonce]
    replayed = authorize._replace(query=urlencode(query, doseq=True)).geturl()

    response = come_back(client, sign_at_idp(replayed, TOLVAN))

    assert response.status_code == 403
    assert "Nonce verification failed" in caplog.text
    assert logged_in_user_id(client) is None


def test_an_expired_id_token_is_refused(client, tolvan, oidc_providers, caplog):
    """The provider's ID tokens live 5 minutes (demo_idp); one checked later than that
    logs nobody in, though the state (10 minutes) is still good. The check is the JWT
    library's (`exp`), under mozilla-django-oidc's verify_token."""
    callback = sign_at_idp(start(client, "citizen"), TOLVAN)
    later = datetime.now(UTC) + timedelta(seconds=300 + 90)
    with time_machine.travel(later, tick=True):
        response = come_back(client, callback)
    assert response.status_code == 403
    assert "Signature has expired" in caplog.text
    assert logged_in_user_id(client) is None


def test_id_token_signed_by_another_key_is_refused(
    client, settings, tolvan, demo_idp, oidc_providers, tmp_path, caplog
):
    """A token endpoint that is not the provider's (here: the same provider's software
    and database, with a key of its own) cannot sign an ID token we accept: the keys are
    the provider's published ones (its JWKS)."""
    from naravard.localservices import free_port

    rogue = demo_idp.start(free_port(), tmp_path / "another_key.pem")
    settings.NARAVARD_OIDC_PROVIDERS = {
        **oidc_providers,
        "citizen": provider_settings(demo_idp, "citizen", token_endpoint=f"{rogue}/o/token/"),
    }

    response = log_in(client, "citizen", TOLVAN)

    assert response.status_code == 403
    assert "Could not find a valid JWKS" in caplog.text
    assert logged_in_user_id(client) is None


def test_step_up_from_password_to_siths_keeps_the_user_and_raises_the_level(
    client, doctor, oidc_providers
):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA)
    client.force_login(doctor)

    response = log_in(client, "staff", DOCTOR_HSA, next_url="/")

    assert response["Location"] == "/"
    assert logged_in_user_id(client) == doctor.pk
    assert assurance.SESSION_KEY in client.session
    assert client.session[assurance.SESSION_KEY]["level"] == 3


def test_every_demo_provider_person_logs_in_as_their_seed_demo_login(db):
    """The people the demo provider offers (demo_idp.people) are found by the same rule
    the login uses, in the data `seed_demo` makes."""
    from actors.oidc import OIDCBackend
    from contracts import demo
    from demo_idp import people

    demo.seed(log=lambda *args: None)
    backend = OIDCBackend()
    for person in people.PEOPLE:
        backend.kind = person.kind
        claim = "personnummer" if person.kind == people.CITIZEN else "hsa_id"
        users = backend.filter_users_by_claims({claim: person.number})
        assert [user.email for user in users] == [person.email], person
