"""A history nobody can erase from the app: the app's database role (naravard.roles)
may read and add to the history and the access log, never change, empty or silence
them; their owner cannot TRUNCATE them either; `flush` runs only where it is meant to.

The whole suite runs as an app role like this one (tests/conftest.py); these tests make
one of their own, let `migrate` grant it, and act as it, through a raw connection and
through the app's own pages.
"""

import os

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from personas import version

from contracts.models import Event
from naravard import chain, localservices
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db(transaction=True)

ROLE = f"naravard_app_test_{os.getpid()}"


def as_owner() -> psycopg.Connection:
    """A connection as the database's owner (the suite's MIGRATION_DATABASE_URL)."""
    return psycopg.connect(settings.MIGRATION_DATABASE_URL, autocommit=True)


@pytest.fixture
def app_role(settings, db):
    """A login role like the one the app connects as in production, with exactly what
    `migrate` grants it."""
    with as_owner() as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN")
    settings.DATABASE_APP_ROLE = ROLE
    call_command("migrate", verbosity=0)
    yield ROLE
    with as_owner() as conn:
        conn.execute(f"DROP OWNED BY {ROLE}")  # its privileges in this database
        conn.execute(f"DROP ROLE {ROLE}")


def connect_as(role: str) -> psycopg.Connection:
    url = localservices.database_url({**connection.settings_dict, "USER": role})
    return psycopg.connect(url, autocommit=True)


REFUSED = [
    "UPDATE contracts_event SET kind = kind",
    "UPDATE contracts_event SET seal = seal, kind = kind",
    "DELETE FROM contracts_event",
    "DELETE FROM patients_accesslogentry",
    "UPDATE contracts_notificationattempt SET ok = ok",
    "TRUNCATE contracts_event",
    "TRUNCATE patients_accesslogentry",
    "ALTER TABLE contracts_event DISABLE TRIGGER ALL",
    "ALTER TABLE patients_accesslogentry DISABLE TRIGGER USER",
    "DROP TABLE patients_accesslogentry",
    "SET session_replication_role = replica",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_apps_role_cannot_change_empty_or_silence_the_history(app_role, statement):
    with connect_as(app_role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_apps_role_reads_and_adds_to_the_history_and_works_its_own_tables(app_role):
    with connect_as(app_role) as conn:
        for table in ("contracts_event", "patients_accesslogentry"):
            conn.execute(f"INSERT INTO {table} SELECT * FROM {table} WHERE false")  # noqa: S608
            conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        conn.execute(
            "INSERT INTO actors_loginattemptcount VALUES ('k', 1, now()); "
            "UPDATE actors_loginattemptcount SET count = 2; DELETE FROM actors_loginattemptcount"
        )


@pytest.fixture
def as_the_apps_role(app_role):
    """The app's own connection made as the app's role, as the web processes make it."""
    before = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = app_role
    yield
    connection.close()
    connection.settings_dict["USER"] = before


def test_the_app_does_its_work_with_only_those_privileges(plan, tolvan, doctor, as_the_apps_role):
    staff = Client(headers={"accept-language": "en"})
    staff.force_login(doctor)
    assert staff.get(reverse("contracts:staff_plan", args=[tolvan.pk])).status_code == 200
    patient = Client(headers={"accept-language": "en"})
    patient.force_login(tolvan.user)
    response = patient.post(
        reverse("contracts:what_matters", args=[tolvan.pk]),
        {"version": version(plan), "what_matters": "Att simma igen"},
    )
    assert response.status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (ROLE,)
    assert AccessLogEntry.objects.filter(user=doctor).exists()
    assert Event.objects.filter(contract=plan, kind="what_matters_changed").exists()
    # The beat task seals what was written, as this role.
    made = chain.seal_all()
    assert made["contracts_event"] > 0 and made["patients_accesslogentry"] > 0
    assert all(chain.verify(table).intact for table in chain.TABLES)


@pytest.mark.parametrize("table", ["contracts_event", "patients_accesslogentry"])
@pytest.mark.parametrize(
    "statement", ["TRUNCATE {table} CASCADE", "DELETE FROM {table}", "UPDATE {table} SET id = id"]
)
def test_not_even_the_owner_can_change_or_empty_the_history(plan, doctor, table, statement):
    AccessLogEntry.objects.create(user=doctor, patient=plan.patient, action="view_plan")
    with as_owner() as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute(statement.format(table=table))
    assert Event.objects.filter(contract=plan).exists()
    assert AccessLogEntry.objects.filter(user=doctor).exists()


def test_flush_refuses_outside_development_and_test_databases(plan, settings):
    settings.DEBUG = False
    name = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = "naravard"
    try:
        with pytest.raises(CommandError, match="only in development"):
            call_command("flush", interactive=False, verbosity=0)
    finally:
        connection.settings_dict["NAME"] = name
    assert Event.objects.filter(contract=plan).exists()
