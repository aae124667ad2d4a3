"""The Celery app and its beat schedule. Due work lives in the database.

Run exactly one beat (`celery -A naravard beat`, or `worker -B` on one machine).
A second beat would only cost work, not correctness: the sweeps insert with
ON CONFLICT DO NOTHING and the sender claims rows with SKIP LOCKED.
"""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naravard.settings")

app = Celery("naravard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Short intervals, no countdowns: each run does whatever the database says is due.
# `expires` drops ticks that queued up while no worker was running; the next
# tick does the same work.
app.conf.beat_schedule = {
    "reminder-sweeps": {
        "task": "reminders.tasks.run_sweeps",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "send-due-notifications": {
        "task": "reminders.tasks.send_due",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Push to integrations (push/): events committed since the last run become
    # deliveries, and due deliveries are sent. Short, so a change reaches a subscriber
    # within seconds; an overlapping run only skips the rows another one holds.
    "push-events": {
        "task": "push.tasks.push_events",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # Tamper evidence: the rows written since the last run join the hash chain.
    "seal-history": {
        "task": "naravard.tasks.seal_history",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "forget-login-attempt-counts": {
        "task": "actors.tasks.forget_login_attempt_counts",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}


@beat_init.connect
def sweep_when_beat_starts(**_kwargs) -> None:
    """One sweep as soon as beat starts, not one interval later: after a deploy or a
    stop (and on `make run`'s first start) what fell due meanwhile is found at once.
    The sweeps are idempotent, so an extra run costs only its time."""
    from reminders import wake

    wake.enqueue(wake.RUN_SWEEPS)
