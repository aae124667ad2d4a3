"""Database helpers shared by the apps and their migrations."""

from django.db.models import BigIntegerField, Func

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION naravard_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger(table: str):
    """A RunPython pair that makes `table` refuse UPDATE and DELETE on PostgreSQL.

    The audit trails must hold even against a stray query or a wrong admin action;
    SQLite (the local default) relies on the model's own checks."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION naravard_refuse_change()"
        )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

    return forwards, backwards


class CurrentTxid(Func):
    """The id of the writing transaction, as a column default.

    On PostgreSQL a change feed ordered by (txid, id) and cut at the oldest running
    transaction never skips a row that commits late. SQLite has one writer at a
    time, so there the column stays empty and the id alone orders the feed."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra):
        return "(txid_current())", []
