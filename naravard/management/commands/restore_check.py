"""`manage.py restore_check` (make restore-check): the restore drill. Restores a dump (the
newest in BACKUP_DIR, --dump FILE, or --fresh: one made now) into a database of its own,
checks it (ready as /ready/ asks, the history's chains intact), prints timings and rows
per table, and drops it. Exit status 1 when a check fails."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from naravard import backup


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dump", type=Path, help="The dump to restore.")
        parser.add_argument("--fresh", action="store_true", help="Make a new dump to restore.")

    def handle(self, *args, **options):
        url = backup.owner_url()
        started = time.monotonic()
        dump_file = options["dump"]
        dump_seconds = 0.0
        if dump_file is None and not options["fresh"]:
            dump_file = backup.newest_dump(backup.backup_dir())
        if dump_file is None:
            dump_file = backup.dump(url, backup.backup_dir())
            dump_seconds = time.monotonic() - started
            self.stdout.write(f"Made {dump_file} in {dump_seconds:.1f} s.")
        if not dump_file.exists():
            raise CommandError(f"No dump at {dump_file}.")
        drill = backup.restore_check(url, dump_file)
        self.stdout.write(f"Restored {dump_file.name} into a database of its own:")
        for step, seconds in drill.seconds.items():
            self.stdout.write(f"  {step:<11} {seconds:6.1f} s")
        self.stdout.write(drill.history.rstrip())
        for table, count in drill.rows.items():
            self.stdout.write(f"  {table:<45} {count:>10} rows")
        total = time.monotonic() - started
        for check, result in drill.checks.items():
            if result != "ok":
                self.stdout.write(f"  {check}: FAILED\n{result}")
        if not drill.passed:
            raise CommandError("The restore drill failed.", returncode=1)
        self.stdout.write(f"The restore drill passed in {total:.1f} s (restore and checks).")
