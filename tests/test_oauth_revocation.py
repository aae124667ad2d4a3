"""OAuth for integrators (issue 18): revocation (RFC 7009), deactivated clients get no
tokens and their tokens stop at every door, introspection stays an operator's grant."""

import base64
from io import StringIO

import pytest
from api_fixtures import Api, _fresh_rate_limits, issue_token
from django.core.management import call_command
from oauth2_provider.models import AccessToken, get_application_model

from actors.api_clients import create_api_client
from actors.models import ApiClient

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits"]


def basic(client, secret) -> str:
    pair = f"{client.application.client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@pytest.fixture
def clients(network):
    return {
        key: create_api_client(name=f"System {key}", organisation=network[key])
        for key in ("vardcentral", "home_health")
    }


def ask_token(http, client, secret, scope="read write"):
    return http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": basic(client, secret)},
    )


def revoke(http, client, secret, token, **fields):
    return http.post(
        "/oauth/revoke_token/",
        {"token": token, **fields},
        headers={"Authorization": basic(client, secret)},
    )


def works(token, plan) -> bool:
    """Whether the token opens the REST and the FHIR door (both, or neither)."""
    api = Api(token)
    rest = api.get(f"/api/v1/contracts/{plan.pk}/").status_code
    fhir = api.get(f"/fhir/R4/CarePlan/{plan.pk}").status_code
    assert (rest == 200) == (fhir == 200), (rest, fhir)
    return rest == 200


# --- revocation ------------------------------------------------------------------------------


def test_an_integration_revokes_its_own_token_and_it_stops_working(client, clients, plan):
    vc, secret = clients["vardcentral"]
    token = ask_token(client, vc, secret).json()["access_token"]
    assert works(token, plan)
    response = revoke(client, vc, secret, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert not works(token, plan)
    assert not AccessToken.objects.filter(application=vc.application).exists()
    # Revoking it again, or a token that never was, is still 200 (RFC 7009 2.2).
    assert revoke(client, vc, secret, token).status_code == 200
    assert revoke(client, vc, secret, "no-such-token").status_code == 200


def test_revoking_another_integrations_token_answers_200_and_leaves_it_alone(client, clients, plan):
    vc, vc_secret = clients["vardcentral"]
    hh, hh_secret = clients["home_health"]
    theirs = ask_token(client, hh, hh_secret).json()["access_token"]
    response = revoke(client, vc, vc_secret, theirs)
    assert response.status_code == 200
    assert works(theirs, plan)
    assert AccessToken.objects.filter(application=hh.application).count() == 1


def test_revocation_needs_the_clients_own_credentials(client, clients, plan):
    vc, secret = clients["vardcentral"]
    token = ask_token(client, vc, secret).json()["access_token"]
    anonymous = client.post("/oauth/revoke_token/", {"token": token})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong = revoke(client, vc, "not-the-secret", token)
    assert wrong.status_code == 401
    # Its bearer token is not a client credential either.
    with_bearer = client.post(
        "/oauth/revoke_token/", {"token": token}, headers={"Authorization": f"Bearer {token}"}
    )
    assert with_bearer.status_code == 401
    # Only POST with a form body: a token in the URL ends up in logs.
    in_url = client.get(f"/oauth/revoke_token/?token={token}")
    assert in_url.status_code == 405
    assert works(token, plan)


# --- deactivated integrations -------------------------------------------------------------------


def test_a_deactivated_integration_gets_no_new_token(client, clients):
    vc, secret = clients["vardcentral"]
    assert ask_token(client, vc, secret).status_code == 200
    call_command("deactivate_api_client", vc.name, stdout=StringIO())
    response = ask_token(client, vc, secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    # Secret in the body instead of HTTP Basic: the same answer.
    in_body = client.post(
        "/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_id": vc.application.client_id,
            "client_secret": secret,
        },
    )
    assert in_body.status_code == 401
    assert in_body.json()["error"] == "invalid_client"
    assert not AccessToken.objects.filter(application=vc.application).exists()


def test_an_integration_switched_off_by_any_means_gets_no_token(client, clients):
    # Not only through the service: the flag itself is what counts.
    vc, secret = clients["vardcentral"]
    ApiClient.objects.filter(pk=vc.pk).update(active=False)
    assert ask_token(client, vc, secret).status_code == 401
    ApiClient.objects.filter(pk=vc.pk).update(active=True)
    assert ask_token(client, vc, secret).status_code == 200


def test_an_oauth_application_without_an_integration_gets_no_token(client, network):
    application = get_application_model()
    secret = "s3cret-for-a-bare-application"
    bare = application.objects.create(
        name="Bare",
        client_type=application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    pair = base64.b64encode(f"{bare.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {pair}"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_deactivated_integrations_tokens_stop_at_every_door(client, clients, plan):
    vc, secret = clients["vardcentral"]
    hh, hh_secret = clients["home_health"]
    token = ask_token(client, vc, secret).json()["access_token"]
    # A second client of the same organisation that may check tokens.
    checker, checker_secret = create_api_client(name="Checker", organisation=vc.organisation)
    call_command("allow_introspection", checker.name, stdout=StringIO())
    check = ask_token(client, checker, checker_secret, "introspection").json()["access_token"]
    introspect = {"Authorization": f"Bearer {check}"}
    assert client.post("/oauth/introspect/", {"token": token}, headers=introspect).json()["active"]
    assert works(token, plan)

    # Switched off with the token still stored: REST, FHIR and introspection refuse it.
    ApiClient.objects.filter(pk=vc.pk).update(active=False)
    assert AccessToken.objects.filter(application=vc.application).exists()
    assert not works(token, plan)
    answer = client.post("/oauth/introspect/", {"token": token}, headers=introspect).json()
    assert answer == {"active": False}
    # Nor can it use the revocation endpoint any more (its credentials are refused).
    assert revoke(client, vc, secret, token).status_code == 401
    # Another integration is not touched.
    assert works(ask_token(client, hh, hh_secret).json()["access_token"], plan)


def test_a_deactivated_integration_cannot_introspect(client, clients):
    vc, secret = clients["vardcentral"]
    call_command("allow_introspection", vc.name, stdout=StringIO())
    check = ask_token(client, vc, secret, "introspection").json()["access_token"]
    own = issue_token(vc, scope="read")
    headers = {"Authorization": f"Bearer {check}"}
    assert client.post("/oauth/introspect/", {"token": own}, headers=headers).json()["active"]
    ApiClient.objects.filter(pk=vc.pk).update(active=False)
    refused = client.post("/oauth/introspect/", {"token": own}, headers=headers)
    assert refused.status_code == 401
