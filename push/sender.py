"""The push sender: claim due deliveries, post them signed, record the result.

At least once, with an id to de-duplicate on
---------------------------------------------
Claims go through the same lease helper as the reminder outbox (naravard.leases):
`SELECT ... FOR UPDATE SKIP LOCKED`, a lease and a fencing token. A sender killed
after the receiver took a delivery but before it wrote `delivered` leaves the row
`sending`; when the lease runs out another sender posts it again, with the same
`webhook-id` (the row's `message_id`) and a fresh timestamp and signature. HTTP has no
idempotency key the receiver must honour, so this is at least once: the receiver
drops a `webhook-id` it has seen (docs/push.md). A slow sender's late result no longer
matches the token and changes nothing.

Retries and turning off
-----------------------
A failed attempt (no answer within the timeouts, a redirect, a non-2xx) puts the row
back with a delay doubled each time (PUSH_RETRY_BASE_SECONDS, at most
PUSH_RETRY_MAX_SECONDS) and counts one failure in a row on the subscription; a success
sets the count back to 0. At PUSH_MAX_FAILURES the subscription is turned off: its
rows wait, and are sent when its organisation's administrator turns it back on
(push.views). Once one delivery of a subscription failed, the rest of its batch waits
for the same delay rather than knocking at a closed door.

Before each attempt the organisation must still be allowed to see the patient
(patients.access): after a consent is withdrawn nothing more is sent of that patient.
A webhook carries the event as the change feed shows it, and is logged as the
integration's read of the patient (PDL) before it is sent; a FHIR rest-hook
notification has no body (R4 `channel.payload` left out), so it carries no data.
"""

import json
import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from api.serializers import EventOut
from naravard import leases
from patients.access import log_integration_reads, organisation_serves

from . import endpoints, signing
from .models import Delivery, Subscription

log = logging.getLogger(__name__)

Status = Delivery.Status


def send_due(*, now: datetime | None = None, time_budget: float = 8.0) -> Counter:
    """Send what is due, batch by batch, until nothing is left or the budget is spent."""
    started = time.monotonic()
    outcome = Counter()
    while time.monotonic() - started < time_budget:
        at = now or timezone.now()
        token, batch = claim(at, settings.PUSH_BATCH_SIZE)
        if not batch:
            break
        failing = set()
        for delivery in batch:
            if delivery.subscription_id in failing:
                outcome[_later(delivery, token, at)] += 1
                continue
            status = deliver(delivery, token, at)
            if status == Status.PENDING:
                failing.add(delivery.subscription_id)
            outcome[status] += 1
        if now is not None:
            break  # a caller with a fixed clock (tests) asks again itself
    return outcome


def _claimable(now: datetime) -> Q:
    due = Q(status=Status.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=Status.SENDING, lease_until__lt=now)
    subscription_on = Q(
        subscription__status=Subscription.Status.ACTIVE, subscription__api_client__active=True
    )
    return (due | abandoned) & subscription_on


def claim(now: datetime, batch_size: int) -> tuple:
    token, rows = leases.claim(
        Delivery.objects.all(),
        _claimable(now),
        order_by=("event__txid", "event_id", "id"),
        batch_size=batch_size,
        lease_seconds=settings.PUSH_LEASE_SECONDS,
        now=now,
        sending=Status.SENDING,
    )
    if not rows:
        return token, []
    batch = (
        Delivery.objects.filter(id__in=[row[0] for row in rows], lease_token=token)
        .select_related("subscription__api_client", "subscription__organisation", "event")
        .order_by("event__txid", "event_id", "id")
    )
    return token, list(batch)


def body_of(delivery: Delivery) -> tuple[bytes, str]:
    """The request body and its content type."""
    if delivery.subscription.kind == Subscription.Kind.FHIR:
        return b"", "application/fhir+json"
    item = EventOut(delivery.event).data
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode(), "application/json"


def deliver(delivery: Delivery, token, now: datetime | None = None) -> str:
    """One attempt at one claimed delivery; returns the row's new status."""
    now = now or timezone.now()
    subscription = delivery.subscription
    patient_id = delivery.event.patient_id
    if not organisation_serves(patient_id, subscription.organisation):
        return _finish(delivery, token, "The organisation may no longer see this patient.")
    try:
        body, content_type = body_of(delivery)
        if body:
            log_integration_reads(
                subscription.organisation, subscription.api_client.name, [patient_id]
            )
        headers = signing.headers(
            subscription.secret, str(delivery.message_id), int(time.time()), body
        )
        endpoints.post(subscription.endpoint, {**headers, "Content-Type": content_type}, body)
    except Exception as exc:
        # Names the failure only: no addresses or contents in the log.
        log.warning("push delivery %s failed: %s", delivery.pk, type(exc).__name__)
        return _record_failure(delivery, token, exc, now)
    return _record_success(delivery, token, now)


@transaction.atomic
def _record_success(delivery, token, now) -> str:
    done = leases.held(Delivery, delivery.pk, token, Status.SENDING).update(
        status=Status.DELIVERED, delivered_at=now, lease_until=None, lease_token=None
    )
    if done:
        Subscription.objects.filter(pk=delivery.subscription_id).update(
            failures=0, last_success_at=now
        )
    return Status.DELIVERED


@transaction.atomic
def _record_failure(delivery, token, exc, now) -> str:
    error = (
        str(exc)
        if isinstance(exc, endpoints.EndpointRefused | endpoints.DeliveryFailed)
        else f"{type(exc).__name__}: {exc}"
    )[:500]
    done = leases.held(Delivery, delivery.pk, token, Status.SENDING).update(
        status=Status.PENDING,
        next_attempt_at=now + retry_delay(delivery.attempts),
        last_error=error,
        lease_until=None,
        lease_token=None,
    )
    if done:
        subscription = Subscription.objects.filter(pk=delivery.subscription_id)
        subscription.update(failures=F("failures") + 1, last_error=error, last_failure_at=now)
        subscription.filter(
            status=Subscription.Status.ACTIVE, failures__gte=settings.PUSH_MAX_FAILURES
        ).update(status=Subscription.Status.OFF, turned_off_at=now)
    return Status.PENDING


def _later(delivery, token, now) -> str:
    """Back to waiting without an attempt: its subscription just failed in this batch."""
    leases.held(Delivery, delivery.pk, token, Status.SENDING).update(
        status=Status.PENDING,
        attempts=F("attempts") - 1,
        next_attempt_at=now + retry_delay(max(delivery.attempts - 1, 1)),
        lease_until=None,
        lease_token=None,
    )
    return "postponed"


def _finish(delivery, token, reason) -> str:
    leases.held(Delivery, delivery.pk, token, Status.SENDING).update(
        status=Status.CANCELLED, last_error=reason, lease_until=None, lease_token=None
    )
    return Status.CANCELLED


def retry_delay(attempts: int) -> timedelta:
    """The base delay after the first failure, doubled each time, at most the maximum."""
    seconds = settings.PUSH_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.PUSH_RETRY_MAX_SECONDS))
