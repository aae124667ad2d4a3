"""Asking a worker to do now what beat would do at its next tick.

Due work lives in database rows (see reminders.tasks), so a wake-up is only a
shortcut: with the broker down the web request goes on, and beat catches up.

Tasks are named here, not imported. The outbox and the services that queue a
notification wake the sender without importing reminders.tasks, which imports
the outbox; the tasks take their names from here, so a name is written once.
"""

import logging

from django.db import transaction
from kombu.exceptions import KombuError, OperationalError

from naravard.celery import app

log = logging.getLogger(__name__)

SEND_DUE = "reminders.tasks.send_due"
RUN_SWEEPS = "reminders.tasks.run_sweeps"

# What a publish raises when the broker is unreachable: kombu's own errors, and
# the socket errors some transports let through.
BROKER_ERRORS = (KombuError, OperationalError, ConnectionError, TimeoutError, OSError)


def enqueue(name: str, **kwargs) -> bool:
    """Publish a task; with the broker down log a warning and go on (returns False).

    A web request that enqueues must not fail or hang because Redis is away: the
    work is in the database and beat's next tick does it."""
    try:
        app.signature(name, kwargs=kwargs).apply_async()
    except BROKER_ERRORS as exc:
        log.warning("could not enqueue %s (%s); beat will catch up", name, type(exc).__name__)
        return False
    return True


def enqueue_on_commit(name: str, **kwargs) -> None:
    """Enqueue once the current transaction commits, so the worker sees its rows."""
    transaction.on_commit(lambda: enqueue(name, **kwargs))


def sender_on_commit() -> None:
    """Wake the outbox's sender once the rows just queued are committed."""
    enqueue_on_commit(SEND_DUE)
