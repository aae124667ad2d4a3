"""`manage.py backup` (make backup): a dump of the whole database into BACKUP_DIR
(var/backups/ by default). naravard.backup says how, docs/operations.md when."""

import time

from django.core.management.base import BaseCommand

from naravard import backup


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        started = time.monotonic()
        target = backup.dump(backup.owner_url(), backup.backup_dir())
        size = target.stat().st_size / 1e6
        self.stdout.write(f"Wrote {target} ({size:.1f} MB) in {time.monotonic() - started:.1f} s.")
