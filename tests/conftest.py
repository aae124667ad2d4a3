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

from naravard.localservices import database_url

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


# The database roles, as in production (naravard.roles): pytest-django makes the test
# database as the URL's role (the owner: it may create databases), and from then on the
# app connects as a role of its own, granted by `migrate` only what the app needs.
# Whatever must be the owner's, a flush between tests or a migration, runs as the owner
# (MIGRATION_DATABASE_URL), as it does in production.
APP_ROLE = f"naravard_app_suite_{os.getpid()}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.conf import settings
    from django.db import connection
    from psycopg import sql

    from naravard.roles import grant_app_privileges

    with django_db_blocker.unblock():
        owner = dict(connection.settings_dict)
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
        grant_app_privileges("default", APP_ROLE)
        settings.MIGRATION_DATABASE_URL = database_url(owner)
        settings.DATABASE_APP_ROLE = APP_ROLE
        connection.close()
        connection.settings_dict["USER"] = APP_ROLE
    yield
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict["USER"] = owner["USER"]
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(APP_ROLE)))
        # Gone with the test database: the role itself is the cluster's.
        settings.MIGRATION_DATABASE_URL = ""
        settings.DATABASE_APP_ROLE = ""


@pytest.fixture(scope="session", autouse=True)
def _drop_the_suites_app_role():
    """After the test database is dropped, the role it was granted to."""
    yield
    import psycopg
    from django.conf import settings

    default = settings.DATABASES["default"]
    try:
        with psycopg.connect(
            database_url({**default, "NAME": "postgres"}), autocommit=True
        ) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')
    except psycopg.Error:
        pass  # still in use by a straggling connection: harmless, and unique to this run


# Language: the tests read English msgids; Swedish (the default) has its own tests in
# test_translations.py, which build their clients without these defaults.


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def client():
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def celery_eager():
    """Celery tasks run at once in the test's process and transaction, as a worker
    would run them (the login code's mail, actors.tasks); errors are raised."""
    from naravard.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def admin_client(admin_user):
    """pytest-django's, but past the second factor the admin asks for (actors.admin_site)."""
    from second_factor import verified_login

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    verified_login(client, admin_user)
    return client


# Personas
pytest_plugins = ["personas", "idp_process"]
