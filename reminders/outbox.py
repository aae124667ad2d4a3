"""The notification outbox's sender: claim due rows, deliver them, record every attempt.

Exactly once, and why it holds when a worker is killed mid-send
----------------------------------------------------------------
A row moves pending -> sending -> sent (or back to pending for a retry, or to
failed after `OUTBOX_MAX_ATTEMPTS`). The claim is its own short transaction:
`SELECT ... FOR UPDATE SKIP LOCKED` picks due rows no other sender holds, and the
same transaction marks them `sending` with a lease (`lease_until`) and a fresh
`lease_token`. Delivery happens after that commit, and the result is written in a
second transaction that only matches the row while it still carries our token.

* Killed after the claim, before delivery: the row stays `sending`; when the
  lease runs out any sender claims it again and delivers it. Nothing is lost.
* Killed after the provider accepted the message, before we wrote `sent`: the
  row is claimed again after the lease and handed over again *with the same key*
  (`message_key`). The SMS backend is idempotent per key (a real provider gets it
  as its idempotency key / client reference), so the second hand-over is a no-op
  that reports success, and the row becomes `sent`. Nothing is sent twice.
* A slow sender whose lease ran out while it was still delivering: the next
  sender's hand-over carries the same key, and the slow sender's late bookkeeping
  no longer matches the token, so it cannot overwrite the newer state.

Retrying only "when the backend reports it did not deliver" would need a status
query the backends cannot all answer, and guessing either way loses or doubles
messages; the idempotency key is the one place where both are ruled out.

E-mail through Django's mail backends (SMTP) has no idempotency key. The message
gets a Message-ID derived from the same key, so a copy repeated in the crash
window (after the server accepted it, before our commit: milliseconds) carries the
same Message-ID and mail clients show it once. That is at-least-once delivery with
duplicates recognisable, not exactly once; the text messages are exactly once.
"""

import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from contracts import days
from contracts.models import Notification, NotificationAttempt
from naravard import leases

from . import messages, wake
from .sms import SmsMessage, get_sms_backend

log = logging.getLogger(__name__)

Status = Notification.Status

WORKER_LOST = "The sender stopped before it recorded a result; trying again."


class NotAccepted(Exception):
    """The backend returned without raising but did not take the message."""


def message_key(notification: Notification) -> str:
    """The idempotency key: the same for every attempt at one notification."""
    return f"naravard-notification-{notification.pk}"


def send_due(*, time_budget: float = 50.0) -> Counter:
    """Send what is due, batch by batch, until nothing is left or the budget is spent.

    Beat runs this every minute; the budget keeps one run from overlapping the next
    for long (overlap is safe, only wasteful)."""
    started = time.monotonic()
    outcome = Counter()
    outcome["expired"] = cancel_expired(timezone.now())
    while time.monotonic() - started < time_budget:
        token, batch = claim(timezone.now(), settings.OUTBOX_BATCH_SIZE)
        if not batch:
            break
        for notification in batch:
            outcome[deliver(notification, token)] += 1
    return outcome


def cancel_expired(now: datetime) -> int:
    """Waiting rows that are no longer worth sending (the moment they were for has passed)."""
    return Notification.objects.filter(status=Status.PENDING, expires_at__lte=now).update(
        status=Status.CANCELLED, last_error="Not sent: too late to be useful."
    )


def _claimable(now: datetime) -> Q:
    due = Q(status=Status.PENDING, due_at__lte=now) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    abandoned = Q(status=Status.SENDING, lease_until__lt=now)
    claimable = due | abandoned
    if days.sms_allowed_from(now) > now:
        # Quiet hours: text messages wait (their rows stay due) until the morning.
        claimable &= ~Q(channel=Notification.Channel.SMS)
    return claimable


def claim(now: datetime, batch_size: int) -> tuple[uuid.UUID, list[Notification]]:
    """Take up to `batch_size` due rows for this sender; see the module docstring."""
    with transaction.atomic():
        token, rows = leases.claim(
            Notification.objects.all(),
            _claimable(now),
            order_by=("due_at", "id"),
            batch_size=batch_size,
            lease_seconds=settings.OUTBOX_LEASE_SECONDS,
            now=now,
            sending=Status.SENDING,
        )
        if not rows:
            return token, []
        ids = [row[0] for row in rows]
        # A row taken over from a sender that vanished gets its lost attempt logged.
        NotificationAttempt.objects.bulk_create(
            NotificationAttempt(
                notification_id=pk, attempt=attempts, at=now, ok=False, error=WORKER_LOST
            )
            for pk, status, attempts in rows
            if status == Status.SENDING
        )
    batch = (
        Notification.objects.filter(id__in=ids, lease_token=token)
        .select_related("recipient_patient", "next_step", "commitment", "follow_up")
        .order_by("due_at", "id")
    )
    return token, list(batch)


def deliver(notification: Notification, token: uuid.UUID) -> str:
    """Deliver one claimed notification and record the result. Returns the new status."""
    try:
        now = timezone.now()
        message = messages.render(notification, now)
        if message is None:
            return _finish(notification, token, Status.CANCELLED, "Not sent: no longer needed.")
        # The channel is decided now (the patient may have switched since the row was
        # queued), and so are the quiet hours for it.
        morning = days.sms_allowed_from(now)
        if message.channel == Notification.Channel.SMS and morning > now:
            return _wait_for_morning(notification, token, morning)
        _hand_over(notification, message)
    except Exception as exc:
        # The error names the failure only; texts and addresses stay out of the log.
        log.warning(
            "notification %s attempt %s failed: %s",
            notification.pk,
            notification.attempts,
            type(exc).__name__,
        )
        return _record_failure(notification, token, exc)
    return _record_success(notification, token, message)


def _hand_over(notification: Notification, message: messages.Message) -> None:
    key = message_key(notification)
    if message.channel == Notification.Channel.SMS:
        accepted = get_sms_backend().send_messages(
            [SmsMessage(to=message.address, body=message.body, key=key)]
        )
    else:
        domain = urlsplit(settings.SITE_URL).hostname or "naravard.invalid"
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            headers={"Message-ID": f"<{key}@{domain}>"},
        )
        accepted = email.send()
    if not accepted:
        raise NotAccepted("the backend did not accept the message")


def _mine(notification: Notification, token: uuid.UUID):
    return leases.held(Notification, notification.pk, token, Status.SENDING)


@transaction.atomic
def _record_success(notification, token, message) -> str:
    now = timezone.now()
    _mine(notification, token).update(
        status=Status.SENT,
        sent_at=now,
        channel=message.channel,
        address=message.address,
        subject=message.subject,
        body=message.body,
        last_error="",
        lease_until=None,
        lease_token=None,
    )
    NotificationAttempt.objects.create(
        notification=notification, attempt=notification.attempts, at=now, ok=True
    )
    return Status.SENT


@transaction.atomic
def _record_failure(notification, token, exc) -> str:
    now = timezone.now()
    error = f"{type(exc).__name__}: {exc}"[:500]
    if notification.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        status, next_attempt_at = Status.FAILED, None
    else:
        status, next_attempt_at = Status.PENDING, now + retry_delay(notification.attempts)
    _mine(notification, token).update(
        status=status,
        next_attempt_at=next_attempt_at,
        last_error=error,
        lease_until=None,
        lease_token=None,
    )
    NotificationAttempt.objects.create(
        notification=notification, attempt=notification.attempts, at=now, ok=False, error=error
    )
    return status


def _wait_for_morning(notification, token, morning: datetime) -> str:
    """Back to waiting, as a text message, until the quiet hours end; not an attempt."""
    _mine(notification, token).update(
        status=Status.PENDING,
        channel=Notification.Channel.SMS,
        next_attempt_at=morning,
        attempts=F("attempts") - 1,
        lease_until=None,
        lease_token=None,
    )
    return Status.PENDING


def _finish(notification, token, status, reason) -> str:
    _mine(notification, token).update(
        status=status, last_error=reason, lease_until=None, lease_token=None
    )
    return status


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: the base delay after the first failure, doubled each time,
    at most a day."""
    seconds = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 86400))


def mark_handled(queryset, user) -> int:
    """Failed notifications a coordinator has taken care of another way (a phone call,
    a letter): they stay failed, with who handled them and when."""
    return queryset.filter(status=Status.FAILED, handled_at__isnull=True).update(
        handled_at=timezone.now(), handled_by=user
    )


def retry_failed(queryset=None) -> int:
    """Give failed notifications a new round of attempts (operator's choice).

    Only failed rows: a pending or sent one must not be sent twice. The attempt
    counter starts again; the delivery log keeps the earlier attempts."""
    queryset = Notification.objects.all() if queryset is None else queryset
    count = queryset.filter(status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None
    )
    if count:
        wake.sender_on_commit()
    return count
