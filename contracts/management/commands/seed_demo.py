"""`manage.py seed_demo`: the fictional demo network and story (contracts/demo/)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from contracts import demo


class Command(BaseCommand):
    help = (
        "Create the fictional demo network in Region Uppsala (Esther's plan, Tolvan and "
        "about twenty more patients). Safe to run again: what exists is left as it is. "
        "Bulk patients for benchmarks come with `manage.py bench`."
    )

    def handle(self, *args, **options):
        demo.seed(log=self.stdout.write)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Naravard: {settings.SITE_URL}/"))
        self.stdout.write(f"Demo logins (the password is {demo.PASSWORD} for all of them):")
        self.stdout.write("")
        self.stdout.write(
            _table(demo.demo_logins(), ("E-mail", "Password", "Role", "Organisation"))
        )


def _table(rows, headers) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
