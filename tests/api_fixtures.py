"""Integrations (API clients) for the API tests, and a small JSON client that uses them.

Three integrations in the personas' network: the vårdcentral's and home health care's
(both on Tolvan's care team with consent) and the cardiology unit's (not on the team).
Import the fixtures you use into the test module.
"""

import json
import secrets
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from actors.api_clients import create_api_client


class Api:
    """A test client that sends the bearer token and speaks JSON."""

    def __init__(self, token: str | None):
        self.http = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url, headers=None, **params):
        return self.http.get(url, params, headers={**self.headers, **(headers or {})})

    def send(self, method, url, body, headers=None, content_type="application/json"):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        call = getattr(self.http, method)
        return call(
            url, data, content_type=content_type, headers={**self.headers, **(headers or {})}
        )

    def post(self, url, body, **kwargs):
        return self.send("post", url, body, **kwargs)

    def put(self, url, body, **kwargs):
        return self.send("put", url, body, **kwargs)

    def patch(self, url, body, **kwargs):
        return self.send("patch", url, body, **kwargs)


def issue_token(client, scope="read write") -> str:
    """An access token as the token endpoint would issue it for this client."""
    token = secrets.token_urlsafe(24)
    access = AccessToken(
        application=client.application, scope=scope, expires=timezone.now() + timedelta(hours=1)
    )
    # As the toolkit stores it: only a checksum, since tokens are hashed at rest.
    set_token_value(access, token)
    access.save()
    return token


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Imported into each API test module: clean rate limits and quick password hashing."""
    # The rate-limit counters live in the cache, which outlives a single test.
    cache.clear()
    # Client secrets and the personas' passwords are hashed; the slow default hasher
    # would spend most of each test on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    cache.clear()


@pytest.fixture
def integrations(network):
    """One API client per organisation that matters here."""
    return {
        key: create_api_client(name=f"Journal {network[key].name}", organisation=network[key])[0]
        for key in ("vardcentral", "home_health", "cardiology")
    }


@pytest.fixture
def vc_api(integrations):
    """The vårdcentral's journal system: on Tolvan's team, with consent."""
    return Api(issue_token(integrations["vardcentral"]))


@pytest.fixture
def cardiology_api(integrations):
    """The cardiology unit's system: not on Tolvan's team."""
    return Api(issue_token(integrations["cardiology"]))


def etag(response) -> str:
    return response["ETag"]
