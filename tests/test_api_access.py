"""Who may use the integrator API: OAuth2 client credentials, scopes, and the access matrix."""

import base64
from datetime import timedelta

import pytest
from api_fixtures import Api, _fresh_rate_limits, cardiology_api, integrations, issue_token, vc_api
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken
from personas import SYSTEM

from actors.api_clients import create_api_client, deactivate_api_client
from contracts import services
from contracts.history import Actor
from patients import services as patient_services
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "cardiology_api", "integrations", "vc_api"]


@pytest.fixture
def withdrawn_api(integrations, plan, tolvan, network):
    """Home health care's system, after Tolvan withdrew consent for home health care (spärr)."""
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["home_health"]
    )
    return Api(issue_token(integrations["home_health"]))


@pytest.fixture
def apis(vc_api, withdrawn_api, cardiology_api):
    return {
        "on team with consent": vc_api,
        "on team, consent withdrawn": withdrawn_api,
        "not on team": cardiology_api,
    }


def try_list(api, plan):
    response = api.get("/api/v1/contracts/")
    assert response.status_code == 200
    return plan.pk in [c["id"] for c in response.json()["results"]]


def try_read(api, plan):
    response = api.get(f"/api/v1/contracts/{plan.pk}/")
    assert response.status_code in (200, 404)
    return response.status_code == 200


def try_write(api, plan):
    response = api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Klara mig själv hemma."},
        headers={"If-Match": f'"contract-{plan.pk}-v{plan.version}"'},
    )
    assert response.status_code in (200, 404), response.content
    return response.status_code == 200


MATRIX = [
    ("on team with consent", try_list, True),
    ("on team with consent", try_read, True),
    ("on team with consent", try_write, True),
    ("on team, consent withdrawn", try_list, False),
    ("on team, consent withdrawn", try_read, False),
    ("on team, consent withdrawn", try_write, False),
    ("not on team", try_list, False),
    ("not on team", try_read, False),
    ("not on team", try_write, False),
]


@pytest.mark.parametrize(
    ("who", "action", "allowed"), MATRIX, ids=[f"{w}-{a.__name__}" for w, a, _ in MATRIX]
)
def test_access_matrix_for_integrations(apis, plan, who, action, allowed):
    logged_before = AccessLogEntry.objects.filter(action="api_read").count()
    assert action(apis[who], plan) is allowed
    plan.refresh_from_db()
    assert (plan.what_matters == "Klara mig själv hemma.") is (allowed and action is try_write)
    # Every read that shows the plan is logged; a refused one shows and logs nothing.
    logged = AccessLogEntry.objects.filter(action="api_read").count() - logged_before
    assert (logged > 0) is allowed


def test_a_read_logs_the_integration_and_its_organisation(vc_api, plan, network):
    vc_api.get(f"/api/v1/contracts/{plan.pk}/")
    entry = AccessLogEntry.objects.get(action="api_read")
    assert entry.patient_id == plan.patient_id
    assert entry.organisation == network["vardcentral"]
    assert entry.api_client == "Journal Vårdcentralen Tierp"
    assert entry.user is None


@pytest.fixture
def other_patient(network, doctor, cardiologist):
    """A patient of the cardiology unit only."""
    patient = patient_services.register_patient(
        actor=SYSTEM, identity_number="19400101-1230", given_name="Tilda", family_name="Testsson"
    )
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=patient, organisation=network["cardiology"], consent=True
    )
    contract = services.create_contract(
        actor=Actor.staff(cardiologist, network["cardiology"]), patient=patient
    )
    return patient, contract


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients/{patient}/",
        "/api/v1/patients/{patient}/care-team/",
        "/api/v1/contracts/{contract}/",
        "/api/v1/contracts/{contract}/events/",
    ],
)
def test_another_organisations_patient_looks_missing(vc_api, plan, other_patient, url):
    patient, contract = other_patient
    theirs = vc_api.get(url.format(patient=patient.pk, contract=contract.pk))
    missing = vc_api.get(url.format(patient=999999, contract=999999))
    assert theirs.status_code == missing.status_code == 404
    assert theirs["Content-Type"] == "application/problem+json"
    assert theirs.json()["title"] == missing.json()["title"]
    # A read of their patient is refused and logged as an attempt the patient sees;
    # the missing ids wrote nothing (every door: tests/test_denied_reads.py).
    assert list(AccessLogEntry.objects.values_list("action", flat=True)) == ["denied"]
    assert AccessLogEntry.objects.get().patient_id == patient.pk


def test_another_organisations_commitment_cannot_be_written(vc_api, other_patient):
    _patient, contract = other_patient
    response = vc_api.post(
        f"/api/v1/contracts/{contract.pk}/commitments/",
        {"what": "Ta blodprov", "owner_kind": "patient"},
        headers={"If-Match": f'"contract-{contract.pk}-v{contract.version}"'},
    )
    assert response.status_code == 404
    assert not contract.commitments.exists()


def test_without_a_token_the_api_asks_for_one(db):
    response = Api(None).get("/api/v1/contracts/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_an_unknown_token_is_refused(db):
    assert Api("not-a-token").get("/api/v1/contracts/").status_code == 401


def test_a_token_in_the_url_is_refused(vc_api, plan):
    # URLs end up in logs: the token is taken from the Authorization header only (RFC 9700).
    token = vc_api.headers["Authorization"].removeprefix("Bearer ")
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
    response = Api(None).get(f"/api/v1/contracts/{plan.pk}/", access_token=token)
    assert response.status_code == 401


def test_a_token_for_another_resource_is_refused(integrations, plan):
    token = issue_token(integrations["vardcentral"])
    AccessToken.objects.update(resource=["https://other.example/api/"])
    response = Api(token).get(f"/api/v1/contracts/{plan.pk}/")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_read_only_token_cannot_write(integrations, plan):
    api = Api(issue_token(integrations["vardcentral"], scope="read"))
    assert api.get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
    response = api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Nej"},
        headers={"If-Match": f'"contract-{plan.pk}-v{plan.version}"'},
    )
    assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.what_matters != "Nej"


def test_a_deactivated_integration_is_refused(integrations, plan):
    client = integrations["vardcentral"]
    token = issue_token(client)
    deactivate_api_client(client)
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 401


def test_an_inactive_integration_with_a_live_token_is_refused(integrations, plan):
    # The client row is loaded with the token; `active` is still checked on every request.
    client = integrations["vardcentral"]
    token = issue_token(client)
    type(client).objects.filter(pk=client.pk).update(active=False)
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 401


def test_a_token_of_an_application_without_an_integration_is_refused(integrations, plan):
    client = integrations["vardcentral"]
    token = issue_token(client)
    client.delete()  # the OAuth application and its token stay
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 401


def test_an_expired_token_is_refused(integrations, plan):
    token = issue_token(integrations["vardcentral"])
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 401


def test_authentication_loads_token_and_integration_in_one_query(vc_api, plan):
    with CaptureQueriesContext(connection) as reading:
        assert vc_api.get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
    auth = [q["sql"] for q in reading.captured_queries if "actors_apiclient" in q["sql"]]
    assert len(auth) == 1
    assert "oauth2_provider_accesstoken" in auth[0]


def test_client_credentials_token_from_the_token_endpoint_works(network, plan):
    client, secret = create_api_client(name="Journal VC", organisation=network["vardcentral"])
    basic = base64.b64encode(f"{client.application.client_id}:{secret}".encode()).decode()
    response = Api(None).http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert Api(token).get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
    # Tokens are kept only as a checksum (RFC 9700).
    assert AccessToken.objects.get(application=client.application).token == ""


def test_a_wrong_client_secret_gets_no_token(network):
    client, _secret = create_api_client(name="Journal VC", organisation=network["vardcentral"])
    basic = base64.b64encode(f"{client.application.client_id}:wrong".encode()).decode()
    response = Api(None).http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401


def test_rate_limit_per_integration(vc_api, cardiology_api, plan, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "3/min", "api_write": "3/min"},
    }
    for _ in range(3):
        assert vc_api.get("/api/v1/contracts/").status_code == 200
    limited = vc_api.get("/api/v1/contracts/")
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"
    assert int(limited["Retry-After"]) > 0
    # Another integration has its own budget.
    assert cardiology_api.get("/api/v1/contracts/").status_code == 200


def test_rate_limit_opens_again_in_the_next_window(vc_api, plan, settings, monkeypatch):
    from naravard.oauth import ClientRateThrottle

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "2/min", "api_write": "2/min"},
    }
    clock = [6_000_000.0]  # the start of a minute
    monkeypatch.setattr(ClientRateThrottle, "timer", lambda self: clock[0])
    assert [vc_api.get("/api/v1/contracts/").status_code for _ in range(3)] == [200, 200, 429]
    clock[0] += 45
    limited = vc_api.get("/api/v1/contracts/")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) == 15
    clock[0] += 15
    assert vc_api.get("/api/v1/contracts/").status_code == 200


def test_without_the_rate_limit_cache_the_api_keeps_answering(vc_api, plan, settings, monkeypatch):
    from naravard.oauth import ClientRateThrottle

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "1/min", "api_write": "1/min"},
    }

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(ClientRateThrottle, "_count", down)
    assert [vc_api.get("/api/v1/contracts/").status_code for _ in range(3)] == [200, 200, 200]


def test_create_api_client_command_prints_the_secret_once(network, capsys):
    from django.core.management import call_command

    call_command("create_api_client", "Journal X", "--organisation", "SE2321000032-vc01")
    out = capsys.readouterr().out
    assert "client_secret:" in out
    secret = out.split("client_secret:")[1].split()[0]
    from actors.models import ApiClient

    client = ApiClient.objects.get(name="Journal X")
    assert client.organisation == network["vardcentral"]
    # Only the hash is stored.
    assert client.application.client_secret != secret
