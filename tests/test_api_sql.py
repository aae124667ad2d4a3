"""The API's one-statement reads on PostgreSQL: the pieces they are built from."""

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from api.reads import _local_iso
from naravard.dbutil import PreparedStatement

pytestmark = pytest.mark.django_db

WINTER_AND_SUMMER = [
    datetime(2026, 1, 15, 7, 30, 5, 123456, tzinfo=UTC),  # +01:00
    datetime(2026, 7, 1, 22, 0, 0, tzinfo=UTC),  # +02:00, next day locally, no microseconds
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # the hour before summer time
    datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),  # the first moment of summer time
    datetime(1999, 12, 31, 23, 0, 0, 500000, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", WINTER_AND_SUMMER)
@pytest.mark.parametrize("zone", ["Europe/Stockholm", "UTC", "America/New_York", "Asia/Kolkata"])
def test_datetimes_built_in_sql_read_as_drf_writes_them(moment, zone):
    # Stockholm's offsets are named in the SQL; other zones (a zero offset is "Z", and
    # negative and half-hour offsets) take its general branch.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_local_iso('%(moment)s::timestamptz')}", {"moment": moment, "tz": zone}
        )
        written = cursor.fetchone()[0]
    with timezone.override(zone):
        assert written == serializers.DateTimeField().to_representation(moment)


def test_a_missing_datetime_stays_null(settings):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_local_iso('NULL::timestamptz')}", {"tz": settings.TIME_ZONE})
        assert cursor.fetchone()[0] is None


def test_a_prepared_statement_numbers_each_name_once_and_is_counted():
    statement = PreparedStatement("SELECT %(a)s::int + %(b)s::int + %(a)s::int")
    assert statement.sql == "SELECT $1::int + $2::int + $1::int"
    assert statement.names == ("a", "b")
    with CaptureQueriesContext(connection) as queries:
        assert statement.fetchone({"b": 2, "a": 1}) == (4,)
        assert statement.fetchone({"b": 5, "a": 1}) == (7,)
    assert len(queries.captured_queries) == 2


def test_a_prepared_statement_is_planned_once_per_connection():
    statement = PreparedStatement("SELECT %(n)s::int * 2 AS prepared_probe")
    for n in range(3):
        assert statement.fetchone({"n": n}) == (n * 2,)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%prepared_probe%"],
        )
        assert cursor.fetchall() == [(3,)]


def test_a_prepared_statement_reads_a_doubled_percent_as_one_as_other_statements_do():
    # Fragments compiled for statements with %(name)s parameters double a literal %.
    statement = PreparedStatement("SELECT %(a)s::text || '%%'")
    assert statement.sql == "SELECT $1::text || '%'"
    assert statement.fetchone({"a": "5"}) == ("5%",)


def test_the_contract_read_checks_access_for_its_one_patient_not_the_whole_list():
    """The access check of the one-contract read is a lookup of that contract's patient.
    `patient_id IN (all the organisation's patients)` in the SELECT list made PostgreSQL
    build the whole list for every read: 7 ms at 10,000 patients instead of 0.05 ms."""
    from actors.models import Organisation, OrganisationKind
    from api.reads import contract_read

    region = Organisation.objects.create(
        name="Region Test", kind=OrganisationKind.REGION, county_code="03"
    )
    statement = contract_read()
    values = {
        "organisation": region.pk,
        "client": "plan-check",
        "now": timezone.now(),
        "action": "api_read",
        "denied": "denied",
        "tz": "Europe/Stockholm",
        "contract": 1,
    }
    connection.ensure_connection()
    with psycopg.RawCursor(connection.connection) as cursor:
        cursor.execute(
            "EXPLAIN (FORMAT JSON) " + statement.sql, [values[name] for name in statement.names]
        )
        plan = str(cursor.fetchone()[0])
    # The care team is looked up by the contract's patient, by index.
    assert "'Index Cond': '(patient_id = c.patient_id)'" in plan
    assert "hashed SubPlan" not in plan
