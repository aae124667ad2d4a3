"""`manage.py bench` (`make bench`): performance figures beside the raw SQL floor.

Thin: picks the database, makes sure the data is there, and leaves the measuring to
bench/measure.py. It runs against its own database (naravard_bench by default), which
it creates if missing, so it never touches development data.
"""

import os
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bench import data, measure

# Set in the process the command starts for itself, with the bench's environment.
CHILD = "NARAVARD_BENCH_CHILD"


class Command(BaseCommand):
    help = "Time plan pages, API reads and writes and the reminder sweep at scale."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=10_000)
        parser.add_argument("--commitments-min", type=int, default=10)
        parser.add_argument("--commitments-max", type=int, default=100)
        parser.add_argument("--requests", type=int, default=200, help="Timed requests per row.")
        parser.add_argument("--samples", type=int, default=50, help="Sample plans to read.")
        parser.add_argument("--writes", type=int, default=50, help="Writes per API client.")
        parser.add_argument(
            "--no-server", action="store_true", help="Skip the write test on a real server."
        )
        parser.add_argument(
            "--only",
            default="pages,api,writes,sweep",
            help="What to measure, comma-separated: pages, api, writes, sweep (default: all).",
        )
        parser.add_argument(
            "--here",
            action="store_true",
            help="Use the database Django is set up with now (tests), not a bench database.",
        )

    def handle(self, *args, **options):
        if not options["here"] and not os.environ.get(CHILD):
            self.restart_for_bench()
        from django.db import connection

        if not 1 <= options["patients"] <= 1_000_000:
            raise CommandError("--patients must be between 1 and 1,000,000.")
        if not 0 <= options["commitments_min"] <= options["commitments_max"]:
            raise CommandError("Need 0 <= --commitments-min <= --commitments-max.")
        only = {part.strip() for part in options["only"].split(",") if part.strip()}
        if not only or only - measure.PARTS:
            raise CommandError(f"--only takes some of: {', '.join(sorted(measure.PARTS))}.")
        if options["no_server"]:
            only.discard("writes")
        if not options["here"]:
            call_command("migrate", verbosity=0)
        from naravard.dbutil import session_settings
        from patients.models import Patient

        # Making and analysing up to a million plans takes longer than a web request may.
        with session_settings(statement_timeout=0):
            if Patient.objects.count() < options["patients"]:
                data.seed(
                    patients=options["patients"],
                    commitments_min=options["commitments_min"],
                    commitments_max=options["commitments_max"],
                    log=self.stdout.write,
                )
            # A running installation has swept its plans up to now (bench.catch_up), with
            # statistics to plan by.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            caught_up = measure.catch_up()
            # Bulk-loaded rows have no planner statistics until autovacuum gets to them, and
            # each bench run's rolled-back sweep leaves dead rows behind (where autovacuum is
            # off, for good); production has both taken care of, so the bench measures so.
            # (VACUUM cannot run inside a transaction: --here in the tests is in one.)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        measure.run(
            requests=options["requests"],
            samples=options["samples"],
            writes=options["writes"],
            parts=only,
            out=self.stdout.write,
            caught_up=caught_up,
        )

    def restart_for_bench(self):
        """Start this command again with the bench's environment, which settings read at
        start-up: its own database, the floor views on, rate limits out of the way."""
        url = os.environ.get("DATABASE_URL") or measure.DEFAULT_DATABASE_URL
        try:
            measure.require_postgres(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if measure.ensure_database(url):
            self.stdout.write(f"Created the bench database {url.rsplit('/', 1)[-1]}.")
        os.environ.update(
            {
                CHILD: "1",
                "DATABASE_URL": url,
                "NARAVARD_BENCH_VIEWS": "1",
                "API_RATE_READ": "1000000/min",
                "API_RATE_WRITE": "1000000/min",
                "DEBUG": "0",
            }
        )
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 (our own argv)
