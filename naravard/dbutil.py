"""Database helpers shared by the apps and their migrations."""

import re
from contextlib import contextmanager

import psycopg
from django.contrib.postgres.operations import (  # noqa: F401 - the migrations import them here
    AddIndexConcurrently,
    RemoveIndexConcurrently,
)
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import BigIntegerField, Func
from psycopg.pq import TransactionStatus

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION naravard_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger(table: str):
    """A RunPython pair that makes `table` refuse UPDATE and DELETE.

    The audit trails must hold even against a stray query or a wrong admin action."""

    def forwards(apps, schema_editor):
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION naravard_refuse_change()"
        )

    def backwards(apps, schema_editor):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

    return forwards, backwards


SEALABLE_FUNCTION = """
CREATE OR REPLACE FUNCTION naravard_refuse_change_but_seal() RETURNS trigger AS $$
BEGIN
    -- A row's seal is set once (naravard.chain), and nothing else changes with it.
    IF TG_OP = 'UPDATE' AND OLD.seal_seq IS NULL AND NEW.seal_seq IS NOT NULL
       AND to_jsonb(NEW) - 'seal' - 'seal_seq' = to_jsonb(OLD) - 'seal' - 'seal_seq' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def sealable_trigger(table: str):
    """A RunPython pair that turns `table`'s append-only trigger into one that also lets
    a row be sealed once (the table has the columns of patients.models.SealedModel)."""

    def swap(function: str, definition: str):
        def run(apps, schema_editor):
            schema_editor.execute(definition, params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()"
            )

        return run

    return (
        swap("naravard_refuse_change_but_seal", SEALABLE_FUNCTION),
        swap("naravard_refuse_change", APPEND_ONLY_FUNCTION),
    )


def no_truncate_trigger(*tables: str):
    """A RunPython pair that makes each table refuse TRUNCATE too, which row triggers do
    not see (`manage.py flush` empties every table with it). The app's own role has no
    TRUNCATE privilege on them either (naravard.roles); this holds for their owner."""

    def forwards(apps, schema_editor):
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)
        for table in tables:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION naravard_refuse_change()"
            )

    def backwards(apps, schema_editor):
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")

    return forwards, backwards


@contextmanager
def session_settings(using: str = DEFAULT_DB_ALIAS, **values):
    """Run the work inside with PostgreSQL settings other than a web request's, each put
    back as it was afterwards: `session_settings(statement_timeout="15min", jit="off")`.

    The connection's defaults are for web requests (settings.py: every wait bounded in
    seconds); work that may rightly take longer (the sweeps, migrations, bulk data) says
    so here, where it runs. Set for the session, so that it also holds across the
    transactions a non-atomic migration commits; a rollback of the transaction that set
    them puts them back by itself."""
    db = connections[using]
    names = list(values)
    # One statement to set them all, one to put them back.
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("current_setting(%s), set_config(%s, %s, false)" for _ in names),
            [arg for name in names for arg in (name, name, str(values[name]))],
        )
        before = cursor.fetchone()[0::2]
    try:
        yield
    finally:
        # A statement that failed inside a transaction leaves it unusable until rolled
        # back, and the rollback undoes the settings too.
        raw = db.connection
        usable = raw is not None and not raw.closed
        if usable and raw.info.transaction_status != TransactionStatus.INERROR:
            with db.cursor() as cursor:
                cursor.execute(
                    "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in names),
                    [
                        arg
                        for name, value in zip(names, before, strict=True)
                        for arg in (name, value)
                    ],
                )


class CurrentTxid(Func):
    """The id of the writing transaction, as a column default: a change feed ordered by
    (txid, id) and cut at the oldest running transaction never skips a row that commits
    late."""

    function = "txid_current"
    output_field = BigIntegerField()


# A %(name)s placeholder, or %% for a percent sign.
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\)s|%)")


def json_list(item: str, source: str, order: str) -> str:
    """SQL for a JSON array of `item` over the rows of `source` ("FROM ... WHERE ...")
    in `order`, and [] when there are none. Fragments are the caller's constants."""
    return f"coalesce((SELECT json_agg({item} ORDER BY {order}) {source}), '[]'::json)"


class PreparedStatement:
    """One large, constant SQL statement on a hot path, run as a prepared statement.

    Written with %(name)s placeholders (and %% for a percent sign) like any other; numbered
    once ($1, $2...) so that psycopg sends the text as it is (it re-parses a statement this
    long on every call), and prepared on each connection the first time it runs, so
    PostgreSQL plans it once (a generic plan: see DB_PREPARED_STATEMENTS in settings.py)
    instead of on every request: planning the contract read took longer than running it.
    Django's own cursors bind values on the client and never prepare. The cursor is wrapped
    like any Django cursor: its queries are counted and logged and its errors translated."""

    def __init__(self, sql: str):
        names: list[str] = []

        def number(match):
            if match[1] is None:
                return "%"
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = _PLACEHOLDER.sub(number, sql)
        self.names = tuple(names)

    def fetchone(self, values: dict):
        with _cursor() as cursor:
            cursor.execute(self.sql, [values[name] for name in self.names])
            return cursor.fetchone()


def _cursor():
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _PreparingCursor(connection.connection)
    if connection.queries_logged:
        return _PreparedDebugWrapper(raw, connection)
    return connection.make_cursor(raw)


class _PreparingCursor(psycopg.RawCursor):
    """psycopg's cursor for $n placeholders, asking to prepare every statement (psycopg
    does when the connection allows prepared statements at all)."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Logs a prepared statement as written: psycopg keeps no text of a prepared execution
    for Django to show."""

    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


# --- migrations on large tables -----------------------------------------------------------
# A migration runs in one transaction, and building an index (or dropping one, or a foreign
# key) holds a lock that stops every read of the table, and of a foreign key's target,
# until it commits: minutes for a table of 28 million commitments. Indexes are built and
# dropped CONCURRENTLY instead, in a migration with `atomic = False`, so each step commits
# at once and reads and writes go on: Django's own AddIndexConcurrently and
# RemoveIndexConcurrently (imported above), and this for indexes Django keeps no state of.


def drop_indexes_concurrently(*indexes: tuple[str, str]):
    """A RunPython pair that drops indexes Django made itself and keeps no state of, by
    name, and makes them again going back. Each is (name, what follows ON in its
    CREATE INDEX)."""

    def forwards(apps, schema_editor):
        for name, _definition in indexes:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')

    def backwards(apps, schema_editor):
        for name, definition in indexes:
            schema_editor.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON {definition}'
            )

    return forwards, backwards
