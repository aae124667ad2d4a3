"""`manage.py seed_demo`: the fictional demo network, and bulk patients for benchmarks."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contracts import demo


class Command(BaseCommand):
    help = (
        "Create the fictional demo network in Region Uppsala (Esther's plan, Tolvan and "
        "about twenty more patients), and optionally many generated patients for "
        "benchmarks. Safe to run again: what exists is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--patients",
            type=int,
            default=0,
            help="Also make sure this many generated patients exist (for benchmarks).",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Which stream of generated patients to use."
        )
        parser.add_argument("--commitments-min", type=int, default=10)
        parser.add_argument("--commitments-max", type=int, default=100)
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        low, high = options["commitments_min"], options["commitments_max"]
        if options["patients"] < 0 or low < 0 or high < low:
            raise CommandError(
                "Need --patients >= 0 and 0 <= --commitments-min <= --commitments-max."
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        demo.seed(
            patients=options["patients"],
            seed=options["seed"],
            commitments_min=low,
            commitments_max=high,
            batch_size=options["batch_size"],
            log=self.stdout.write,
        )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Naravard: {settings.SITE_URL}/"))
        self.stdout.write(f"Demo logins (the password is {demo.PASSWORD} for all of them):")
        self.stdout.write("")
        self.stdout.write(
            demo.format_table(demo.demo_logins(), ("E-mail", "Password", "Role", "Organisation"))
        )
