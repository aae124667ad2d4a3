"""Celery tasks: thin, idempotent, and driven by the database.

Due work lives in database rows (the outbox, the plans), never in broker
countdowns: beat runs the sweeps and the sender on a short schedule
(`naravard/celery.py`), and every run picks up whatever is due. So a lost or
repeated task message costs nothing, and after a Redis outage the next tick
catches up.
"""

from celery import shared_task

from . import outbox, sweeps, wake


@shared_task(name=wake.RUN_SWEEPS)
def run_sweeps(only: list[str] | None = None) -> dict:
    """Fill the outbox and the follow-up lists from the rules (one statement per rule).

    A run that met a backlog of late commitments (a full batch) asks for the next batch
    at once, with that rule alone: each run stays short, and the backlog is worked off
    without waiting for beat."""
    counts = sweeps.run_all(only=only)
    if any(made.get("notifications") for made in counts.values()):
        wake.sender_on_commit()
    if sweeps.backlog_left(counts):
        wake.enqueue_on_commit(wake.RUN_SWEEPS, only=[sweeps.LATE_RULE])
    return counts


@shared_task(name=wake.SEND_DUE)
def send_due() -> dict:
    """Deliver due notifications; safe to run in several workers at once."""
    return dict(outbox.send_due())
