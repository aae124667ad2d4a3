"""`manage.py seed_demo`: the fictional demo network and story (contracts/demo/)."""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from actors.models import User
from contracts import demo


class Command(BaseCommand):
    help = (
        "Create the fictional demo network in Region Uppsala (Esther's plan, Tolvan and "
        "about twenty more patients). Safe to run again: what exists is left as it is. "
        "Bulk patients for benchmarks come with `manage.py bench`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production-demo",
            action="store_true",
            help=(
                "Seed even though DEBUG is off. The demo logins (a superuser among them) "
                "then get a random password, printed once, instead of the known one."
            ),
        )

    def handle(self, *args, **options):
        production = not settings.DEBUG
        if production and not options["allow_production_demo"]:
            raise CommandError(
                "DEBUG is off: this looks like a production system. The demo data adds a "
                "superuser and staff logins; run with --allow-production-demo if you mean it."
            )
        with transaction.atomic():
            existing = set(User.objects.values_list("pk", flat=True))
            demo.seed(log=self.stdout.write)
            password, made = demo.PASSWORD, set()
            if production:
                # The known demo password must not open a production system: staff
                # logins can read any plan by emergency access, the superuser the admin.
                # New logins get a random one, committed only with it; old ones keep theirs.
                password = secrets.token_urlsafe(16)
                for user in User.objects.exclude(pk__in=existing):
                    if user.has_usable_password():
                        user.set_password(password)
                        user.save(update_fields=["password"])
                        made.add(user.email)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Naravard: {settings.SITE_URL}/"))
        if production:
            self.stdout.write(
                f"Demo logins made now have the password {password} (shown only now; "
                "logins made before keep theirs):"
            )
        else:
            self.stdout.write(f"Demo logins (the password is {password} for all of them):")
        self.stdout.write("")
        rows = [
            (email, password if not production or email in made else "(unchanged)", *rest)
            for email, _known, *rest in demo.demo_logins()
        ]
        self.stdout.write(_table(rows, ("E-mail", "Password", "Role", "Organisation")))


def _table(rows, headers) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
