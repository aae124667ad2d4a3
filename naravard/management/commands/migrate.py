"""`migrate` with the waits a migration needs, not a web request's (settings.py)."""

from django.conf import settings
from django.core.management.commands import migrate

from naravard.dbutil import session_settings


class Command(migrate.Command):
    help = (
        f"{migrate.Command.help} Statements run without a time limit; waits for a lock "
        "end after MIGRATION_LOCK_TIMEOUT, so a migration behind a long transaction fails "
        "(run it again) instead of holding up every request queued behind its lock."
    )

    def handle(self, *args, **options):
        with session_settings(
            using=options["database"],
            statement_timeout=0,
            lock_timeout=settings.MIGRATION_LOCK_TIMEOUT,
        ):
            return super().handle(*args, **options)
