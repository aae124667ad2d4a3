"""Celery tasks of push: thin, idempotent, driven by the database (as reminders.tasks)."""

from celery import shared_task

from . import fanout, sender

PUSH_EVENTS = "push.tasks.push_events"


@shared_task(name=PUSH_EVENTS)
def push_events() -> dict:
    """New events into the delivery outbox, then send what is due. Safe to run in several
    workers at once: both halves skip the rows another run holds."""
    made = fanout.collect()
    return {"made": made, **sender.send_due()}
