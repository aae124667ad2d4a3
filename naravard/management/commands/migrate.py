"""`migrate` as the database's owner, with the waits a migration needs, and then the
app's role's privileges brought in step with the tables (naravard.roles)."""

from django.conf import settings
from django.core.management.commands import migrate

from naravard.dbutil import session_settings
from naravard.roles import as_owner, grant_app_privileges


class Command(migrate.Command):
    help = (
        f"{migrate.Command.help} Runs as MIGRATION_DATABASE_URL's role when that is set. "
        "Statements run without a time limit; waits for a lock end after "
        "MIGRATION_LOCK_TIMEOUT, so a migration behind a long transaction fails (run it "
        "again) instead of holding up every request queued behind its lock."
    )

    def handle(self, *args, **options):
        using = options["database"]
        with (
            as_owner(using),
            session_settings(
                using=using, statement_timeout=0, lock_timeout=settings.MIGRATION_LOCK_TIMEOUT
            ),
        ):
            result = super().handle(*args, **options)
            changes = not (options["plan"] or options["check_unapplied"])
            if settings.DATABASE_APP_ROLE and changes:
                grant_app_privileges(using, settings.DATABASE_APP_ROLE)
        return result
