"""The outbox sender: delivery, texts, quiet hours, retries, crash recovery, and what
operators see (the `outbox` command and the admin). Runs in-process with the
locmem SMS backend; tests/test_worker.py does the same against a real worker."""

import ast
import io
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse
from personas import version
from second_factor import verified_login

from actors.models import User
from contracts import services
from contracts.days import STOCKHOLM
from contracts.history import Actor
from contracts.models import (
    Event,
    FollowUpTask,
    NextStep,
    Notification,
    NotificationAttempt,
)
from naravard.celery import app as celery_app
from patients.models import Patient
from reminders import outbox, sweeps, tasks, wake
from reminders.followup import complete_follow_up
from reminders.sms import BaseSmsBackend, LocmemBackend

pytestmark = pytest.mark.django_db

Status = Notification.Status

# Monday 2 March 2026, 10:00; the persona plan's next step is Thursday 5 March 10:00.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=STOCKHOLM)


def sthlm(*args):
    return datetime(*args, tzinfo=STOCKHOLM)


class BrokenBackend(BaseSmsBackend):
    """A provider that is down."""

    def send_messages(self, messages):
        raise ConnectionError("provider unreachable")


@pytest.fixture(autouse=True)
def sms(settings):
    settings.SMS_BACKEND = "reminders.sms.LocmemBackend"
    LocmemBackend.outbox.clear()
    yield LocmemBackend.outbox
    LocmemBackend.outbox.clear()


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def step_of(plan):
    return plan.next_steps.get(status=NextStep.Status.PLANNED)


@pytest.fixture
def reminder(plan, clock):
    """The 48 h reminder for Tolvan's next step, queued by the sweep on Tuesday 10:00."""
    clock.move_to(step_of(plan).scheduled_at - timedelta(hours=48))
    sweeps.run_all()
    return Notification.objects.get(kind="next_step_reminder")


# --- Delivery and texts --------------------------------------------------------------------


def test_reminder_is_sent_once_by_text_message(reminder, sms):
    first = outbox.send_due()
    second = outbox.send_due()

    assert first[Status.SENT] == 1
    assert not second[Status.SENT]
    assert [m.to for m in sms] == ["+46701234567"]
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    assert reminder.body == sms[0].body
    assert list(reminder.delivery_log.values_list("attempt", "ok")) == [(1, True)]


def test_text_message_says_when_but_not_where_or_why(reminder, sms):
    # A place can be a unit's name ("Beroendemottagningen"): it stays behind the login.
    NextStep.objects.filter(pk=reminder.next_step_id).update(
        channel="visit", location="Beroendemottagningen, Storgatan 1"
    )

    outbox.send_due()

    body = sms[0].body
    assert "10:00" in body
    for secret in (
        "Beroendemottagningen",
        "Storgatan",
        "Följa upp vikt och andning",
        "Distriktssköterskan",
        "Tolvan",
        "Vårdcentral",
    ):
        assert secret not in body


@pytest.mark.parametrize(
    "language, date_text", [("en", "Thursday 5 March"), ("sv", "torsdag 5 mars")]
)
def test_reminder_is_written_in_the_patients_language(reminder, sms, language, date_text):
    Patient.objects.filter(pk=reminder.recipient_patient_id).update(preferred_language=language)

    outbox.send_due()

    assert date_text in sms[0].body


def test_patient_who_switched_to_email_gets_the_reminder_by_email(reminder, sms):
    Patient.objects.filter(pk=reminder.recipient_patient_id).update(preferred_channel="email")

    outbox.send_due()

    assert sms == []
    assert [m.to for m in mail.outbox] == [["tolvan@example.org"]]
    assert mail.outbox[0].extra_headers["Message-ID"] == (
        f"<naravard-notification-{reminder.pk}@127.0.0.1>"
    )


def test_reminder_for_a_moved_step_is_dropped(reminder, plan, doctor, network, sms):
    services.agree_next_step(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        scheduled_at=T0 + timedelta(days=10),
        channel="phone",
        purpose="Ny tid",
    )

    outbox.send_due()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert sms == []


def test_staff_are_told_of_a_new_task_without_patient_details(
    tolvan, doctor, coordinator, network, clock
):
    services.create_contract(actor=Actor.staff(doctor, network["vardcentral"]), patient=tolvan)
    clock.move_to(T0 + timedelta(days=10))
    sweeps.run_all()

    outbox.send_due()

    assert [m.to for m in mail.outbox] == [[coordinator.email]]
    message = mail.outbox[0]
    # Staff have no language of their own: the platform's default, Swedish.
    assert "nya uppföljningsuppgifter" in message.body
    assert "Tolvan" not in message.body + message.subject


# --- Quiet hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment, sent",
    [
        (sthlm(2026, 3, 3, 20, 59), True),
        (sthlm(2026, 3, 3, 21, 0), False),
        (sthlm(2026, 3, 4, 7, 59), False),
        (sthlm(2026, 3, 4, 8, 0), True),
    ],
    ids=["20:59", "21:00", "07:59", "08:00"],
)
def test_text_messages_wait_through_quiet_hours(reminder, sms, clock, moment, sent):
    clock.move_to(moment)

    outbox.send_due()

    assert len(sms) == (1 if sent else 0)
    reminder.refresh_from_db()
    assert reminder.status == (Status.SENT if sent else Status.PENDING)


def test_email_is_not_held_by_quiet_hours(reminder, clock):
    Patient.objects.filter(pk=reminder.recipient_patient_id).update(preferred_channel="email")
    Notification.objects.filter(pk=reminder.pk).update(channel="email")
    clock.move_to(sthlm(2026, 3, 3, 23, 0))

    outbox.send_due()

    assert len(mail.outbox) == 1


def test_a_patient_who_switched_to_text_messages_is_not_texted_in_quiet_hours(reminder, sms, clock):
    # Queued as e-mail; by the time it is sent, at 23:00, the patient wants text messages.
    Notification.objects.filter(pk=reminder.pk).update(channel="email")
    clock.move_to(sthlm(2026, 3, 3, 23, 0))

    outbox.send_due()

    assert sms == [] and mail.outbox == []
    reminder.refresh_from_db()
    assert (reminder.status, reminder.channel, reminder.attempts) == (Status.PENDING, "sms", 0)
    assert reminder.next_attempt_at == sthlm(2026, 3, 4, 8, 0)
    assert not reminder.delivery_log.exists()

    clock.move_to(sthlm(2026, 3, 4, 8, 0))
    outbox.send_due()
    assert [m.to for m in sms] == ["+46701234567"]


def test_reminder_held_past_its_window_is_not_sent(reminder, sms, clock):
    # Held overnight, then the 2 h reminder's window opens: the 48 h one is too late.
    clock.move_to(step_of(reminder.contract).scheduled_at - timedelta(hours=2))

    outbox.send_due()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert sms == []


# --- Retries and giving up -----------------------------------------------------------------


def test_failing_backend_is_retried_with_backoff_then_marked_failed(reminder, settings, clock):
    settings.SMS_BACKEND = "test_outbox.BrokenBackend"
    start = step_of(reminder.contract).scheduled_at - timedelta(hours=48)
    waits = []
    for attempt in range(1, 6):
        outbox.send_due()
        reminder.refresh_from_db()
        assert reminder.attempts == attempt
        if attempt < 5:
            assert reminder.status == Status.PENDING
            wait = reminder.next_attempt_at - datetime.now(tz=STOCKHOLM)
            waits.append(wait)
            # Just before the retry is due nothing is tried.
            clock.move_to(reminder.next_attempt_at - timedelta(seconds=1))
            outbox.send_due()
            reminder.refresh_from_db()
            assert reminder.attempts == attempt
            clock.move_to(reminder.next_attempt_at)

    assert waits == [timedelta(seconds=60 * 2**n) for n in range(4)]
    assert reminder.status == Status.FAILED
    assert "ConnectionError: provider unreachable" in reminder.last_error
    log = list(reminder.delivery_log.values_list("attempt", "ok"))
    assert log == [(n, False) for n in range(1, 6)]
    assert start < reminder.delivery_log.last().at


def test_operator_retries_a_failed_notification(reminder, sms, django_capture_on_commit_callbacks):
    Notification.objects.filter(pk=reminder.pk).update(status=Status.FAILED, attempts=5)

    with django_capture_on_commit_callbacks() as callbacks:
        assert outbox.retry_failed() == 1
    outbox.send_due()

    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 1)
    assert len(callbacks) == 1  # the sender is woken when the retry commits


# --- A sender that dies --------------------------------------------------------------------


def test_sender_killed_before_delivery_loses_nothing(reminder, sms, clock, settings):
    outbox.claim(datetime.now(tz=STOCKHOLM), 10)  # ...and the worker dies here

    outbox.send_due()
    assert sms == []  # still leased to the dead sender

    clock.shift(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1))
    outbox.send_due()

    assert len(sms) == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 2)
    log = list(reminder.delivery_log.values_list("attempt", "ok", "error"))
    assert log == [(1, False, outbox.WORKER_LOST), (2, True, "")]


def test_sender_killed_after_the_provider_accepted_does_not_send_twice(
    reminder, sms, clock, settings
):
    _token, [claimed] = outbox.claim(datetime.now(tz=STOCKHOLM), 10)
    message = outbox.messages.render(claimed, datetime.now(tz=STOCKHOLM))
    outbox._hand_over(claimed, message)  # the provider has it; the worker dies here
    assert len(sms) == 1

    clock.shift(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1))
    outbox.send_due()

    assert len(sms) == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT


def test_slow_sender_cannot_overwrite_the_result_of_the_one_that_took_over(
    reminder, sms, clock, settings
):
    slow_token, [slow] = outbox.claim(datetime.now(tz=STOCKHOLM), 10)
    clock.shift(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1))
    outbox.send_due()  # another sender takes over and delivers

    outbox._record_failure(slow, slow_token, TimeoutError("late"))

    reminder.refresh_from_db()
    assert reminder.status == Status.SENT


def test_expired_reminders_are_cancelled_not_sent(reminder, clock):
    clock.move_to(reminder.expires_at)

    assert outbox.cancel_expired(datetime.now(tz=STOCKHOLM)) == 1


# --- Enqueueing ----------------------------------------------------------------------------


@pytest.fixture
def broker_down(monkeypatch):
    """Point the Celery app at a port where no Redis listens."""

    def reset_pools():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    reset_pools()
    yield
    monkeypatch.undo()
    reset_pools()


def test_enqueue_with_the_broker_down_neither_raises_nor_hangs(broker_down, reminder):
    started = time.monotonic()

    assert wake.enqueue(wake.SEND_DUE) is False

    assert time.monotonic() - started < 5
    # The work is still in the database for the next beat tick.
    assert Notification.objects.get(pk=reminder.pk).status == Status.PENDING


def test_sweep_task_wakes_the_sender_after_commit(plan, clock, django_capture_on_commit_callbacks):
    clock.move_to(step_of(plan).scheduled_at - timedelta(hours=48))

    with django_capture_on_commit_callbacks() as callbacks:
        tasks.run_sweeps()
    with django_capture_on_commit_callbacks() as nothing_new:
        tasks.run_sweeps()

    assert len(callbacks) == 1
    assert nothing_new == []


# --- Follow-up tasks -----------------------------------------------------------------------


def test_care_contact_marks_a_follow_up_done(plan, doctor, nurse, network, clock):
    clock.move_to(step_of(plan).scheduled_at + timedelta(days=2))
    sweeps.run_all()
    task = FollowUpTask.objects.get(kind="next_step_no_outcome")

    with pytest.raises(PermissionDenied):
        complete_follow_up(actor=Actor.staff(nurse, network["home_health"]), task=task)
    complete_follow_up(actor=Actor.staff(doctor, network["vardcentral"]), task=task)

    task.refresh_from_db()
    assert (task.status, task.done_by) == (FollowUpTask.Status.DONE, doctor)
    assert Event.objects.filter(kind="follow_up_done", contract=plan).count() == 1


# --- What operators see --------------------------------------------------------------------


@pytest.fixture
def failed(reminder, settings):
    settings.SMS_BACKEND = "test_outbox.BrokenBackend"
    settings.OUTBOX_MAX_ATTEMPTS = 1
    outbox.send_due()
    reminder.refresh_from_db()
    assert reminder.status == Status.FAILED
    return reminder


def test_outbox_command_shows_counts_and_failed_rows(failed):
    out = io.StringIO()

    call_command("outbox", stdout=out, no_color=True)

    text = out.getvalue()
    assert re.search(r"failed\s+1\n", text)
    assert f"#{failed.pk} failed" in text
    assert "ConnectionError: provider unreachable" in text
    assert "+4670*****67" in text and "+46701234567" not in text


def test_outbox_command_retries_failed_rows(failed):
    call_command("outbox", "--retry-failed", stdout=io.StringIO())

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)


def test_admin_lists_failed_notifications_with_their_delivery_log(failed, admin_client):
    # (the admin logs in after the clock has moved to the failure, so the session is fresh)
    changelist = reverse("admin:contracts_notification_changelist")
    listed = admin_client.get(changelist, {"status__exact": "failed"})
    page = admin_client.get(reverse("admin:contracts_notification_change", args=[failed.pk]))

    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [failed]
    assert b"provider unreachable" in listed.content
    assert page.status_code == 200
    assert b"ConnectionError: provider unreachable" in page.content


def test_delivery_log_cannot_be_changed(failed):
    attempt = NotificationAttempt.objects.get()

    with pytest.raises(ValueError, match="append-only"):
        attempt.save()


def test_admin_viewer_sees_follow_up_tasks(client, plan, clock):
    clock.move_to(step_of(plan).scheduled_at + timedelta(days=2))
    sweeps.run_all()
    viewer = User.objects.create_user(email="drift@example.org", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_followuptask"))
    verified_login(client, viewer)  # the admin asks for the second factor

    response = client.get(reverse("admin:contracts_followuptask_changelist"))

    assert response.status_code == 200
    assert b"Record what came of a next step" in response.content


# --- How the reminder modules depend on each other ----------------------------------------


def _reminder_imports() -> dict[str, set[str]]:
    """Each reminders module and the reminders modules it imports, at any depth in it
    (an import inside a function is an import all the same)."""
    package = Path(outbox.__file__).parent
    names = {path.stem for path in package.glob("*.py")} - {"__init__"}
    graph = {}
    for name in names:
        found = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    module = f"reminders.{module}".rstrip(".")
                if module == "reminders":
                    found |= {alias.name for alias in node.names}
                elif module.startswith("reminders."):
                    found.add(module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {
                    alias.name.split(".")[1]
                    for alias in node.names
                    if alias.name.startswith("reminders.")
                }
        graph[name] = found & names
    return graph


def test_the_reminder_modules_import_each_other_without_a_cycle():
    graph = _reminder_imports()
    assert "outbox" in graph["tasks"], "the scan sees the imports"

    def reaches(start, goal, seen=()):
        return any(
            after == goal or (after not in seen and reaches(after, goal, (*seen, after)))
            for after in graph[start]
        )

    assert [name for name in sorted(graph) if reaches(name, name)] == []
    # The outbox and the notifications a use case queues wake the sender by name.
    assert not reaches("outbox", "tasks") and not reaches("notify", "tasks")
