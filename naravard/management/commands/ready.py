"""`manage.py ready`: the readiness checks of /ready/ (naravard.readiness), printed; exit
status 1 when one fails. The restore drill runs it on the restored database."""

from django.core.management.base import BaseCommand, CommandError

from naravard import readiness


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        answers = readiness.checks()
        for check, answer in answers.items():
            self.stdout.write(f"{check}: {answer}")
        if not readiness.ready(answers):
            raise CommandError("Not ready.", returncode=1)
