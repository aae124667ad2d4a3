"""The database role the app connects as: it owns nothing and may do only what the app
does, so that no request, bug or injected statement can erase the history.

Two roles (docker-compose.yml, `make run`): the owner, which migrations run as
(MIGRATION_DATABASE_URL), and the app's role (DATABASE_URL), which every web process,
worker and beat uses. After each migration the owner grants the app's role what it
needs on every table, and no more:

- SELECT, INSERT, UPDATE and DELETE on the tables that hold the app's working data;
- SELECT and INSERT only on the history and the access log (APPEND_ONLY), and on the
  sealed ones UPDATE of the two seal columns, which their trigger lets be set once
  (naravard.chain).

Not being the owner, the app's role cannot TRUNCATE, ALTER or DROP a table, nor disable
a trigger; not being a superuser, it cannot set session_replication_role (which would
silence the triggers). The append-only triggers and the refusal of TRUNCATE
(naravard.dbutil) hold for the owner too.
"""

from contextlib import contextmanager

import dj_database_url
from django.conf import settings
from django.db import connections
from psycopg import sql

# The audit trails: written once, never changed or removed by the app.
APPEND_ONLY = ("contracts_event", "contracts_notificationattempt", "patients_accesslogentry")
PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
SEALED = ("contracts_event", "patients_accesslogentry")
SEALED_PRIVILEGES = "SELECT, INSERT, UPDATE (seal, seal_seq)"


def grant_app_privileges(using: str, role: str) -> None:
    """Give `role` exactly the privileges the app needs on every table there is now
    (run by `migrate` as the owner, after the migrations)."""
    db = connections[using]
    grantee = sql.Identifier(role)
    with db.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = sql.Identifier(cursor.fetchone()[0])
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        tables = [name for (name,) in cursor.fetchall()]
        statements = [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                schema, grantee
            ),
        ]
        for table in tables:
            if table in SEALED:
                privileges = sql.SQL(SEALED_PRIVILEGES)
            elif table in APPEND_ONLY:
                privileges = sql.SQL(APPEND_ONLY_PRIVILEGES)
            else:
                privileges = sql.SQL(PRIVILEGES)
            statements += [
                sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(table), grantee),
                sql.SQL("GRANT {} ON {} TO {}").format(privileges, sql.Identifier(table), grantee),
            ]
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


@contextmanager
def as_owner(using: str = "default"):
    """Connect as the owner (MIGRATION_DATABASE_URL) for the work inside, then as before:
    for migrate, and for flush where that may run."""
    if not settings.MIGRATION_DATABASE_URL or using != "default":
        yield
        return
    db = connections[using]
    owner = dj_database_url.parse(settings.MIGRATION_DATABASE_URL)
    keys = ("NAME", "USER", "PASSWORD", "HOST", "PORT")
    before = {key: db.settings_dict[key] for key in keys}
    db.close()
    db.settings_dict.update({key: owner[key] for key in keys})
    try:
        yield
    finally:
        db.close()
        db.settings_dict.update(before)
