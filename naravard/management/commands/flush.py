"""`flush` only where emptying every table is meant: in development or on a test database.

Elsewhere it would erase the history and the access log, which must outlive every plan.
Where it may run, the history's refusal of TRUNCATE is set aside for the flush (as the
database's superuser, the only role that can)."""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from naravard.roles import as_owner


def may_erase(db) -> bool:
    name = db.settings_dict["NAME"]
    return settings.DEBUG or name.startswith(TEST_DATABASE_PREFIX)


class Command(flush.Command):
    help = f"{flush.Command.help} Only with DEBUG=1 or on a test database."

    def handle(self, **options):
        db = connections[options["database"]]
        if not may_erase(db):
            raise CommandError(
                "flush empties every table, the history and the access log with them: it "
                "runs only in development (DEBUG=1) or on a test database."
            )
        # The app's own role may not empty a table: the owner does it.
        with as_owner(options["database"]):
            with db.cursor() as cursor:
                # Triggers do not fire for a replica's session: the history's refusal of
                # TRUNCATE with them. Only a superuser may say so; anyone else is refused.
                cursor.execute("SET session_replication_role = replica")
            try:
                return super().handle(**options)
            finally:
                with db.cursor() as cursor:
                    cursor.execute("RESET session_replication_role")
