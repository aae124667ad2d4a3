"""Shared test setup: the suite runs on PostgreSQL and Redis, like production.

`make test` exports the same defaults; this file makes a bare `pytest` agree.
The e-mail backend needs nothing here: pytest-django switches it to locmem.
"""

import importlib
import os
import sys

import pytest
from django.test import Client
from django.utils import translation

if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/naravard"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SECURE_COOKIES", "0")


def _reload_settings() -> None:
    """Re-read the settings module now that the environment above is in place.

    pytest-django imports the settings and sets Django up in its
    `pytest_load_initial_conftests` hook, before pytest imports this file, so the
    variables set above would otherwise come too late (the run would use the settings'
    default URLs).
    """
    from django.conf import settings
    from django.db import connections

    module = getattr(settings, "SETTINGS_MODULE", None) if settings.configured else None
    if not module:
        return
    for conn in connections.all(initialized_only=True):
        # Django may have built a connection object, but none may be open yet.
        if conn.connection is not None:
            raise RuntimeError("a database connection was opened before tests/conftest.py")
        del connections[conn.alias]
    importlib.reload(sys.modules[module])
    settings._setup()
    # The connection handler caches DATABASES on first use; let it read them again.
    connections._settings = None
    connections.__dict__.pop("settings", None)


_reload_settings()


def _fast_password_hashing() -> None:
    """Persona logins hash passwords; the production hasher costs ~2 s a test."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_fast_password_hashing()


# Language: the tests read English msgids; Swedish (the default) has its own tests in
# test_translations.py, which build their clients without these defaults.


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def client():
    return Client(HTTP_ACCEPT_LANGUAGE="en")


# Personas
pytest_plugins = ["personas"]
