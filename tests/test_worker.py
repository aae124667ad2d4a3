"""The jobs against a real Redis broker and a real `celery worker` process.

The worker runs in a subprocess on the test database, so these tests commit their
data (transactional_db). It delivers text messages through the file backend into a
temporary folder, where the test counts deliveries across processes. Every worker
is SIGKILLed in a finalizer, and every wait has a timeout.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone
from personas import version

from contracts import services
from contracts.history import Actor
from contracts.models import Notification
from naravard import localservices
from naravard.celery import app as celery_app
from reminders import outbox
from reminders.tasks import run_sweeps, send_due

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).with_name("celery")
BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/9")

Status = Notification.Status


def wait_for(condition, timeout=30.0, what="condition", worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    log = worker.log_tail() if worker else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{log}")


def publish(task):
    """Send a task message to the test broker (the test process has its own broker)."""
    with celery_app.connection_for_write(BROKER_URL) as conn:
        task.apply_async(connection=conn)


def worker_database_url() -> str:
    """The database pytest-django made for this run, for the worker subprocess."""
    return localservices.database_url(connection.settings_dict)


class Worker:
    """One `celery -A naravard worker --pool=solo` process on the test database."""

    def __init__(self, tmp_path: Path, name: str, env: dict):
        self.log = tmp_path / f"{name}.log"
        self.proc = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "naravard",
                "worker",
                "--pool=solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                f"--logfile={self.log}",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"{name}.stderr", "w"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,
        )
        wait_for(lambda: "ready." in self.text(), what=f"{name} to start", worker=self)

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def log_tail(self) -> str:
        return "\n".join(self.text().splitlines()[-40:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def broker():
    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"these tests need Redis at {BROKER_URL}: {exc}")
    yield client
    client.flushdb()


@pytest.fixture
def sms_dir(tmp_path):
    path = tmp_path / "sms"
    path.mkdir()
    return path


@pytest.fixture
def start_worker(transactional_db, broker, tmp_path, sms_dir):
    """Start workers with extra environment; all are killed at the end of the test.

    Quiet hours are switched off in the worker (a settings module on top of ours),
    so the test passes at any hour; tests/test_outbox.py covers them."""
    (tmp_path / "worker_settings.py").write_text(
        "from naravard.settings import *  # noqa\n"
        "NARAVARD_DAY_RULES = {'sms_quiet_hours': (0, 0)}\n"
    )
    workers = []

    def start(name="worker", **extra):
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "worker_settings",
            "DATABASE_URL": worker_database_url(),
            "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": BROKER_URL,
            "SMS_BACKEND": "reminders.sms.FileBackend",
            "SMS_FILE_PATH": str(sms_dir),
            "SMS_FILE_DELAY": "0",
            "OUTBOX_LEASE_SECONDS": "4",
            "OUTBOX_RETRY_BASE_SECONDS": "0.2",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "SECURE_COOKIES": "0",
            **extra,
        }
        worker = Worker(tmp_path, f"{name}{len(workers)}", env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


def delivered(sms_dir: Path) -> list[str]:
    return sorted(path.stem for path in sms_dir.glob("*.sms"))


def hand_overs(sms_dir: Path) -> list[str]:
    log = sms_dir / "calls.log"
    return log.read_text().split() if log.exists() else []


def finished(worker, task_name) -> int:
    """How many runs of the task the worker has logged as done."""
    return sum(
        1 for line in worker.text().splitlines() if task_name in line and "succeeded in" in line
    )


@pytest.fixture
def reminder_due(plan, doctor, network):
    """Tolvan's next step moved to 47 hours from now: its 48 h reminder is due."""
    return services.agree_next_step(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        scheduled_at=timezone.now() + timedelta(hours=47),
        channel="visit",
        purpose="Följa upp vikt och andning",
    )


def queue_reminders(step, count):
    """`count` text reminders due now (distinct keys), as a sweep would leave them."""
    return [
        Notification.objects.create(
            dedupe_key=f"test:{step.pk}:{n}",
            kind="next_step_reminder",
            channel=Notification.Channel.SMS,
            recipient_patient=step.contract.patient,
            address=step.contract.patient.phone,
            contract=step.contract,
            next_step=step,
            body="",
        )
        for n in range(count)
    ]


def test_reminder_is_created_once_when_the_sweep_runs_twice(start_worker, reminder_due, sms_dir):
    worker = start_worker()

    publish(run_sweeps)
    wait_for(lambda: finished(worker, "run_sweeps") == 1, what="first sweep", worker=worker)
    publish(run_sweeps)
    wait_for(lambda: finished(worker, "run_sweeps") == 2, what="second sweep", worker=worker)
    # The first sweep woke the sender; the second found nothing new to send.
    wait_for(lambda: finished(worker, "send_due") >= 1, what="the sender", worker=worker)

    reminders = Notification.objects.filter(next_step=reminder_due)
    assert [n.dedupe_key for n in reminders] == [f"next_step:{reminder_due.pk}:48h"]
    assert reminders.get().status == Status.SENT
    assert delivered(sms_dir) == [outbox.message_key(reminders.get())]
    assert "Följa upp" not in (sms_dir / f"{delivered(sms_dir)[0]}.sms").read_text()


def test_worker_killed_while_sending_delivers_each_reminder_exactly_once(
    start_worker, reminder_due, sms_dir
):
    queued = queue_reminders(reminder_due, 6)
    keys = sorted(outbox.message_key(n) for n in queued)
    # A slow provider: each message is accepted, then the answer takes a second.
    first = start_worker("slow", SMS_FILE_DELAY="1.0")

    publish(send_due)
    wait_for(lambda: delivered(sms_dir), what="the first delivery", worker=first)
    first.kill()  # SIGKILL: the provider has one message, our database does not know yet

    statuses = list(Notification.objects.values_list("status", flat=True))
    assert statuses == [Status.SENDING] * 6, "killed mid-batch, every row still claimed"
    assert len(delivered(sms_dir)) == 1

    second = start_worker("fresh")
    # Beat would do this every minute; the rows come free when the 4 s leases end.
    deadline = time.monotonic() + 40
    while Notification.objects.exclude(status=Status.SENT).exists():
        assert time.monotonic() < deadline, second.log_tail()
        publish(send_due)
        time.sleep(0.5)

    assert delivered(sms_dir) == keys
    calls = hand_overs(sms_dir)
    # The message the provider already had was handed over again, and not delivered again.
    assert len(calls) == 7 and sorted(set(calls)) == keys
    first_key = calls[0]
    assert calls.count(first_key) == 2
    redelivered = Notification.objects.get(pk=int(first_key.rsplit("-", 1)[1]))
    log = list(redelivered.delivery_log.values_list("ok", "error"))
    assert log == [(False, outbox.WORKER_LOST), (True, "")]


def test_failing_backend_is_retried_then_marked_failed(start_worker, reminder_due, tmp_path):
    queued = queue_reminders(reminder_due, 1)[0]
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("")
    worker = start_worker(SMS_FILE_PATH=str(not_a_folder / "sms"))

    deadline = time.monotonic() + 40
    while Notification.objects.get(pk=queued.pk).status != Status.FAILED:
        assert time.monotonic() < deadline, worker.log_tail()
        publish(send_due)
        time.sleep(0.3)

    queued.refresh_from_db()
    assert queued.attempts == 5
    attempts = list(queued.delivery_log.order_by("attempt"))
    assert [(a.attempt, a.ok) for a in attempts] == [(n, False) for n in range(1, 6)]
    assert all("NotADirectoryError" in a.error or "FileExistsError" in a.error for a in attempts)
    # Exponential backoff: 0.2 s, 0.4 s, 0.8 s, 1.6 s at least between the tries.
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(gap >= 0.2 * 2**n for n, gap in enumerate(gaps)), gaps
