"""Celery tasks: thin, idempotent, and driven by the database.

Due work lives in database rows (the outbox, the plans), never in broker
countdowns: beat runs the sweeps and the sender on a short schedule
(`naravard/celery.py`), and every run picks up whatever is due. So a lost or
repeated task message costs nothing, and after a Redis outage the next tick
catches up.
"""

import logging

from celery import shared_task
from django.db import transaction
from kombu.exceptions import KombuError, OperationalError

from . import outbox, sweeps

log = logging.getLogger(__name__)

# What a publish raises when the broker is unreachable: kombu's own errors, and
# the socket errors some transports let through.
BROKER_ERRORS = (KombuError, OperationalError, ConnectionError, TimeoutError, OSError)


def enqueue(task, *args, **kwargs) -> bool:
    """Publish a task; with the broker down log a warning and go on (returns False).

    A web request that enqueues must not fail or hang because Redis is away: the
    work is in the database and beat's next tick does it."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except BROKER_ERRORS as exc:
        log.warning("could not enqueue %s (%s); beat will catch up", task.name, type(exc).__name__)
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Enqueue once the current transaction commits, so the worker sees its rows."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))


@shared_task(name="reminders.tasks.run_sweeps")
def run_sweeps(only: list[str] | None = None) -> dict:
    """Fill the outbox and the follow-up lists from the rules (one statement per rule).

    A run that met a backlog of late commitments (a full batch) asks for the next batch
    at once, with that rule alone: each run stays short, and the backlog is worked off
    without waiting for beat."""
    counts = sweeps.run_all(only=only)
    if any(made.get("notifications") for made in counts.values()):
        enqueue_on_commit(send_due)
    if sweeps.backlog_left(counts):
        enqueue_on_commit(run_sweeps, only=[sweeps.LATE_RULE])
    return counts


@shared_task(name="reminders.tasks.send_due")
def send_due() -> dict:
    """Deliver due notifications; safe to run in several workers at once."""
    return dict(outbox.send_due())


# The name the outbox imports, kept apart from outbox.send_due.
send_due_task = send_due
