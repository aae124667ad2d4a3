"""`manage.py verify_history`: walk the hash chains of the history and the access log
(naravard.chain) and report the first broken link. Exit status 1 when one is broken."""

from django.core.management.base import BaseCommand, CommandError

from naravard import chain


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal-first",
            action="store_true",
            help="Seal the rows that wait for a seal before verifying (as the beat task does).",
        )

    def handle(self, *args, **options):
        if options["seal_first"]:
            chain.seal_all()
        broken = []
        for table in chain.TABLES:
            verdict = chain.verify(table)
            if verdict.intact:
                self.stdout.write(
                    f"{table}: {verdict.sealed} rows sealed, chain intact; "
                    f"{verdict.unsealed} waiting for a seal; head {verdict.head}"
                )
            else:
                broken.append(table)
                self.stdout.write(
                    f"{table}: BROKEN at place {verdict.broken_at} (row id {verdict.row_id}): "
                    f"{verdict.why}. The {verdict.sealed} places before it are intact."
                )
        if broken:
            raise CommandError(f"The chain is broken in {', '.join(broken)}.", returncode=1)
