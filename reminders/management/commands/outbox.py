"""`manage.py outbox`: the notification outbox and its delivery log, for operators.

Addresses are masked and message texts are not printed: a terminal (and its
scroll-back, and whatever logs it) is no place for patients' contact details.
"""

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from contracts.models import Notification, NotificationAttempt
from reminders import outbox


def mask(address: str) -> str:
    """Enough of an address to tell rows apart: +4670*****67, to***@example.org."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"{address[:5]}*****{address[-2:]}" if len(address) > 7 else "*****"


def when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = (
        "Show the notification outbox: how many rows wait, are being sent, were sent or "
        "failed, the latest rows and their delivery attempts. --retry-failed sends the "
        "failed ones again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="How many rows to list.")
        parser.add_argument(
            "--status", choices=Notification.Status.values, help="List only rows in this state."
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Give every failed notification a new round of attempts.",
        )

    def handle(self, *args, **options):
        if options["retry_failed"]:
            count = outbox.retry_failed()
            self.stdout.write(
                self.style.SUCCESS(f"{count} failed notification(s) will be sent again.")
            )
        self._counts()
        self._latest(options["status"], options["limit"])

    def _counts(self):
        counts = dict(Notification.objects.values_list("status").annotate(n=Count("id")).order_by())
        self.stdout.write("Outbox")
        for status in Notification.Status:
            line = f"  {status.value:<10} {counts.get(status.value, 0):>8}"
            if status == Notification.Status.FAILED and counts.get(status.value):
                line = self.style.ERROR(line)
            self.stdout.write(line)

    def _latest(self, status, limit):
        rows = Notification.objects.order_by("-due_at", "-id")
        if status:
            rows = rows.filter(status=status)
        rows = list(rows[:limit])
        attempts = {}
        for attempt in NotificationAttempt.objects.filter(notification__in=rows).order_by(
            "at", "id"
        ):
            attempts.setdefault(attempt.notification_id, []).append(attempt)
        self.stdout.write(f"\nLatest {len(rows)} notification(s)")
        for n in rows:
            self.stdout.write(
                f"  #{n.pk} {n.status:<9} {n.kind:<20} {n.channel:<5} {mask(n.address):<22} "
                f"due {when(n.due_at)}  tries {n.attempts}  sent {when(n.sent_at)}"
            )
            if n.last_error:
                self.stdout.write(f"      last error: {n.last_error}")
            for attempt in attempts.get(n.pk, []):
                result = "ok" if attempt.ok else f"error: {attempt.error}"
                self.stdout.write(f"      try {attempt.attempt} at {when(attempt.at)}: {result}")
