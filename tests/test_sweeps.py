"""The reminder and follow-up rules (DESIGN.md §3), each at its boundaries.

The clock is frozen with time_machine; the sweeps take their "now" from Django,
so moving the clock is all it takes to stand just before or at a boundary.
"""

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from personas import SYSTEM, make_staff, version

from actors.models import Organisation, OrganisationKind, Role, User
from contracts import days, services
from contracts.days import STOCKHOLM, DayRule
from contracts.history import Actor
from contracts.models import Commitment, Contract, FollowUpTask, NextStep, Notification
from naravard.roles import as_owner
from patients import services as patient_services
from patients.identity import luhn_check_digit
from patients.models import Patient, Relative
from reminders import sweeps

pytestmark = pytest.mark.django_db

# A Monday morning in Stockholm; the persona plan's next step is 3 days later.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=STOCKHOLM)
ONE_SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def sweep(clock, at):
    clock.move_to(at)
    return sweeps.run_all()


def sthlm(*args):
    return datetime(*args, tzinfo=STOCKHOLM)


def keys(kind=None):
    rows = Notification.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    return sorted(rows.values_list("dedupe_key", flat=True))


def as_doctor(doctor, network):
    return Actor.staff(doctor, network["vardcentral"])


def planned_step(contract):
    return contract.next_steps.get(status=NextStep.Status.PLANNED)


def set_profile(patient, profile):
    Patient.objects.filter(pk=patient.pk).update(support_profile=profile)


def add_commitment(contract, doctor, network, due_date, **owner):
    return services.add_commitment(
        actor=as_doctor(doctor, network),
        contract=contract,
        expected_version=version(contract),
        what="Något att göra",
        due_date=due_date,
        **owner,
    )


# --- Next-step reminders to the patient ------------------------------------------------


def test_next_step_reminder_is_queued_48_and_2_hours_before(plan, clock):
    step = planned_step(plan)
    at = step.scheduled_at

    sweep(clock, at - timedelta(hours=48) - ONE_SECOND)
    assert keys("next_step_reminder") == []

    sweep(clock, at - timedelta(hours=48))
    sweep(clock, at - timedelta(hours=48))  # a re-run adds nothing
    assert keys("next_step_reminder") == [f"next_step:{step.pk}:48h"]
    reminder = Notification.objects.get()
    assert (reminder.channel, reminder.address) == ("sms", "+46701234567")
    assert reminder.recipient_patient == plan.patient
    assert reminder.expires_at == at - timedelta(hours=2)

    sweep(clock, at - timedelta(hours=2) - ONE_SECOND)
    assert len(keys("next_step_reminder")) == 1

    sweep(clock, at - timedelta(hours=2))
    assert keys("next_step_reminder") == [f"next_step:{step.pk}:2h", f"next_step:{step.pk}:48h"]
    assert Notification.objects.get(dedupe_key__endswith=":2h").expires_at == at


def test_step_agreed_late_gets_only_the_reminder_whose_window_is_open(plan, clock):
    step = planned_step(plan)

    sweep(clock, step.scheduled_at - timedelta(hours=1))

    assert keys("next_step_reminder") == [f"next_step:{step.pk}:2h"]


def test_independent_patient_gets_only_the_48_hour_reminder(plan, clock):
    set_profile(plan.patient, "independent_engaged")
    step = planned_step(plan)

    sweep(clock, step.scheduled_at - timedelta(hours=48))
    sweep(clock, step.scheduled_at - timedelta(hours=2))
    sweep(clock, step.scheduled_at - timedelta(minutes=1))

    assert keys("next_step_reminder") == [f"next_step:{step.pk}:48h"]
    assert Notification.objects.get().expires_at == step.scheduled_at
    assert not FollowUpTask.objects.exists()


@pytest.mark.parametrize(
    "channel, address", [("email", "tolvan@example.org"), ("none", None)], ids=["email", "none"]
)
def test_next_step_reminder_follows_the_patients_channel(plan, clock, channel, address):
    Patient.objects.filter(pk=plan.patient_id).update(preferred_channel=channel)

    sweep(clock, planned_step(plan).scheduled_at - timedelta(hours=48))

    addresses = list(Notification.objects.values_list("channel", "address"))
    assert addresses == ([(channel, address)] if address else [])


def test_patient_without_a_phone_number_gets_no_text_message(plan, clock):
    Patient.objects.filter(pk=plan.patient_id).update(phone="")

    sweep(clock, planned_step(plan).scheduled_at - timedelta(hours=48))

    assert keys() == []


def test_vulnerable_patient_gets_a_call_from_the_care_contact(plan, clock, doctor):
    set_profile(plan.patient, "vulnerable_worried")
    step = planned_step(plan)

    sweep(clock, step.scheduled_at - timedelta(hours=48) - ONE_SECOND)
    assert not FollowUpTask.objects.exists()

    sweep(clock, step.scheduled_at - timedelta(hours=48))
    task = FollowUpTask.objects.get()
    assert (task.kind, task.assigned_staff, task.next_step) == (
        "call_before_next_step",
        doctor,
        step,
    )
    assert task.due_at == step.scheduled_at
    told = Notification.objects.get(kind="follow_up")
    assert (told.recipient_user, told.address, told.follow_up) == (doctor, doctor.email, task)
    assert len(keys("next_step_reminder")) == 1


# --- A next step without an outcome ------------------------------------------------------


def test_next_step_without_outcome_after_24_hours_goes_to_the_care_contact(
    plan, clock, doctor, network
):
    step = planned_step(plan)

    sweep(clock, step.scheduled_at + timedelta(hours=24) - ONE_SECOND)
    assert not FollowUpTask.objects.filter(kind="next_step_no_outcome").exists()

    sweep(clock, step.scheduled_at + timedelta(hours=24))
    task = FollowUpTask.objects.get(kind="next_step_no_outcome")
    assert (task.assigned_staff, task.assigned_organisation) == (doctor, network["vardcentral"])
    assert task.dedupe_key == f"next_step_no_outcome:{step.pk}"
    assert keys("follow_up") == [f"follow_ups:{doctor.pk}:2026-03-06"]

    services.record_next_step_outcome(
        actor=as_doctor(doctor, network),
        step=step,
        expected_version=version(plan),
        outcome="Vikten stabil.",
    )
    made = sweep(clock, step.scheduled_at + timedelta(hours=25))
    task.refresh_from_db()
    assert task.status == FollowUpTask.Status.DONE
    assert made["close_resolved_follow_ups"] == {"closed": 1}


def test_next_step_with_an_outcome_makes_no_task(plan, clock, doctor, network):
    step = planned_step(plan)
    clock.move_to(step.scheduled_at + timedelta(hours=1))
    services.record_next_step_outcome(
        actor=as_doctor(doctor, network), step=step, expected_version=version(plan), outcome="Bra."
    )

    sweep(clock, step.scheduled_at + timedelta(days=3))

    assert not FollowUpTask.objects.exists()


def test_staff_get_at_most_one_task_email_a_day(plan, clock, doctor, network):
    step = planned_step(plan)
    late = add_commitment(plan, doctor, network, date(2026, 3, 5), owner_kind="patient")

    # Friday 6 March: the step's outcome is missing and the commitment is late.
    sweep(clock, step.scheduled_at + timedelta(hours=24))
    assert FollowUpTask.objects.filter(assigned_staff=doctor).count() == 2
    assert keys("follow_up") == [f"follow_ups:{doctor.pk}:2026-03-06"]

    # Tolvan moves the date by a day, and misses that too.
    services.update_commitment(
        actor=Actor.patient(plan.patient.user),
        commitment=late,
        expected_version=version(plan),
        due_date=date(2026, 3, 6),
    )
    sweep(clock, sthlm(2026, 3, 7, 9, 0))
    # The task for the old date closed itself; the new one is announced the new day.
    open_tasks = FollowUpTask.objects.filter(assigned_staff=doctor, status="open")
    assert sorted(open_tasks.values_list("dedupe_key", flat=True)) == [
        f"commitment_overdue:{late.pk}:2026-03-06",
        f"next_step_no_outcome:{step.pk}",
    ]
    assert keys("follow_up") == [
        f"follow_ups:{doctor.pk}:2026-03-06",
        f"follow_ups:{doctor.pk}:2026-03-07",
    ]


# --- A plan without a fixed care contact ---------------------------------------------------


def plan_without_contact(tolvan, doctor, network):
    return services.create_contract(actor=as_doctor(doctor, network), patient=tolvan)


@pytest.mark.parametrize(
    "created, last_quiet_moment",
    [
        # Maundy Thursday: Good Friday, the Easter weekend and Easter Monday do not
        # count, so the 3 working days are Tue 7, Wed 8 and Thu 9 April.
        (sthlm(2026, 4, 2, 10, 0), sthlm(2026, 4, 9, 23, 59, 59)),
        # Friday afternoon: Mon 9, Tue 10, Wed 11 March.
        (sthlm(2026, 3, 6, 16, 30), sthlm(2026, 3, 11, 23, 59, 59)),
    ],
    ids=["easter", "weekend"],
)
def test_plan_without_care_contact_escalates_after_three_working_days(
    tolvan, doctor, coordinator, network, clock, created, last_quiet_moment
):
    clock.move_to(created)
    contract = plan_without_contact(tolvan, doctor, network)

    sweep(clock, last_quiet_moment)
    assert not FollowUpTask.objects.exists()

    sweep(clock, last_quiet_moment + ONE_SECOND)
    sweep(clock, last_quiet_moment + timedelta(hours=5))
    task = FollowUpTask.objects.get()
    assert (task.kind, task.contract, task.assigned_staff) == ("no_care_contact", contract, None)
    assert task.assigned_organisation == network["vardcentral"]
    # The unit's coordinators are told; its clinicians are not.
    told = Notification.objects.get(kind="follow_up")
    assert (told.recipient_user, told.channel) == (coordinator, "email")


def test_escalation_reaches_every_coordinator_of_the_unit(tolvan, doctor, coordinator, network):
    other = make_staff("samordnare2@example.org", network["vardcentral"], Role.COORDINATOR)
    make_staff("hemsjukvard@example.org", network["home_health"], Role.COORDINATOR)
    plan_without_contact(tolvan, doctor, network)

    sweeps.run_all(now=T0 + timedelta(days=10))

    told = set(Notification.objects.values_list("recipient_user", flat=True))
    assert told == {coordinator.pk, other.pk}


def test_escalation_skips_a_unit_the_patient_has_blocked(tolvan, doctor, network):
    # Only a primary-care unit in a care relationship with the patient is responsible:
    # on the team AND with consent (patients.access), so a spärr moves the task on.
    other = Organisation.objects.create(
        name="Vårdcentralen Söderfors", kind=OrganisationKind.PRIMARY_CARE, parent=network["region"]
    )
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=tolvan, organisation=other, consent=True
    )
    plan_without_contact(tolvan, doctor, network)
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["vardcentral"]
    )

    sweeps.run_all(now=T0 + timedelta(days=10))

    assert FollowUpTask.objects.get().assigned_organisation == other


def test_plan_with_a_care_contact_is_not_escalated(plan, coordinator, clock):
    sweep(clock, T0 + timedelta(days=30))

    assert not FollowUpTask.objects.filter(kind="no_care_contact").exists()


def test_assigning_a_care_contact_closes_the_escalation(
    tolvan, doctor, coordinator, network, clock
):
    contract = plan_without_contact(tolvan, doctor, network)
    sweep(clock, T0 + timedelta(days=10))
    services.assign_fixed_care_contact(
        actor=as_doctor(doctor, network),
        contract=contract,
        expected_version=version(contract),
        staff=doctor,
        organisation=network["vardcentral"],
    )

    sweep(clock, T0 + timedelta(days=10, minutes=5))

    assert FollowUpTask.objects.get().status == FollowUpTask.Status.DONE


# --- Commitments ---------------------------------------------------------------------------


def test_commitment_due_tomorrow_reminds_its_owner(
    plan, clock, doctor, nurse, coordinator, network
):
    due = date(2026, 3, 10)
    relative_user = User.objects.create_user(email="son@example.org")
    son = Relative.objects.create(
        patient=plan.patient,
        user=relative_user,
        name="Sune Tolvansson",
        phone="+46709876543",
        access=Relative.Access.READ,
    )
    mine = add_commitment(plan, doctor, network, due, owner_kind="patient")
    sons = add_commitment(plan, doctor, network, due, owner_kind="relative", owner_relative=son)
    nurses = add_commitment(
        plan,
        doctor,
        network,
        due,
        owner_kind="staff",
        owner_organisation=network["home_health"],
        owner_staff=nurse,
    )
    units = add_commitment(
        plan,
        doctor,
        network,
        due,
        owner_kind="organisation",
        owner_organisation=network["vardcentral"],
    )

    sweep(clock, sthlm(2026, 3, 8, 23, 59, 59))
    assert keys("commitment_due") == []

    sweep(clock, sthlm(2026, 3, 9, 0, 0))
    sweep(clock, sthlm(2026, 3, 9, 12, 0))
    sent = {
        n.commitment_id: (n.channel, n.address)
        for n in Notification.objects.filter(kind="commitment_due")
    }
    assert sent == {
        mine.pk: ("sms", "+46701234567"),
        sons.pk: ("sms", "+46709876543"),
        nurses.pk: ("email", nurse.email),
        # Tolvan's team names nobody at the vårdcentral, so its coordinators hear of it.
        units.pk: ("email", coordinator.email),
    }
    assert Notification.objects.get(commitment=mine).dedupe_key == (
        f"commitment_due:{mine.pk}:2026-03-10:patient"
    )
    expiry = {n.expires_at for n in Notification.objects.filter(kind="commitment_due")}
    assert expiry == {sthlm(2026, 3, 11)}


def test_a_relative_the_patient_has_shut_out_gets_no_reminder(plan, clock, doctor, network):
    son = Relative.objects.create(
        patient=plan.patient,
        user=User.objects.create_user(email="son@example.org"),
        name="Sune Tolvansson",
        phone="+46709876543",
        access=Relative.Access.READ,
    )
    sons = add_commitment(
        plan, doctor, network, date(2026, 3, 10), owner_kind="relative", owner_relative=son
    )
    patient_services.set_relative_access(
        actor=Actor.patient(plan.patient.user), relative=son, access=Relative.Access.NONE
    )

    sweep(clock, sthlm(2026, 3, 9, 9, 0))

    assert not Notification.objects.filter(commitment=sons).exists()


def test_organisation_commitment_goes_to_its_staff_named_on_the_team(
    plan, clock, doctor, coordinator, network
):
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=plan.patient, organisation=network["vardcentral"], staff=doctor
    )
    units = add_commitment(
        plan,
        doctor,
        network,
        date(2026, 3, 10),
        owner_kind="organisation",
        owner_organisation=network["vardcentral"],
    )

    sweep(clock, sthlm(2026, 3, 9, 9, 0))

    told = Notification.objects.filter(commitment=units).values_list("recipient_user", flat=True)
    assert list(told) == [doctor.pk]


def test_done_commitment_gets_no_reminder(plan, clock, doctor, network):
    mine = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    services.complete_commitment(
        actor=Actor.patient(plan.patient.user), commitment=mine, expected_version=version(plan)
    )

    sweep(clock, sthlm(2026, 3, 9, 9, 0))
    sweep(clock, sthlm(2026, 3, 11, 9, 0))

    assert keys("commitment_due") == []
    assert not FollowUpTask.objects.filter(kind="commitment_overdue").exists()


def test_overdue_commitment_goes_to_the_care_contact(plan, clock, doctor, network):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")

    sweep(clock, sthlm(2026, 3, 10, 23, 59, 59))
    assert not FollowUpTask.objects.filter(kind="commitment_overdue").exists()

    sweep(clock, sthlm(2026, 3, 11, 0, 0))
    task = FollowUpTask.objects.get(kind="commitment_overdue")
    assert (task.commitment, task.assigned_staff) == (late, doctor)
    assert task.dedupe_key == f"commitment_overdue:{late.pk}:2026-03-10"

    services.complete_commitment(
        actor=Actor.patient(plan.patient.user), commitment=late, expected_version=version(plan)
    )
    sweep(clock, sthlm(2026, 3, 11, 0, 5))
    task.refresh_from_db()
    assert task.status == FollowUpTask.Status.DONE


# --- A late commitment is looked at once per due date ---------------------------------------


def marker(commitment):
    commitment.refresh_from_db(fields=["overdue_task_for"])
    return commitment.overdue_task_for


def overdue_keys(status=None):
    tasks = FollowUpTask.objects.filter(kind="commitment_overdue")
    if status:
        tasks = tasks.filter(status=status)
    return sorted(tasks.values_list("dedupe_key", flat=True))


def test_late_commitment_is_marked_with_the_date_of_its_task(plan, clock, doctor, network):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")

    sweep(clock, sthlm(2026, 3, 10, 23, 59, 59))
    assert marker(late) is None

    sweep(clock, sthlm(2026, 3, 11, 0, 0))
    assert marker(late) == date(2026, 3, 10)
    assert overdue_keys() == [f"commitment_overdue:{late.pk}:2026-03-10"]


def test_followed_up_commitment_is_not_looked_at_again_until_its_date_moves(
    plan, clock, doctor, network
):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    sweep(clock, sthlm(2026, 3, 11, 9, 0))
    # Take the task away behind the sweep's back: only the marker remembers it.
    FollowUpTask.objects.filter(kind="commitment_overdue").delete()

    sweep(clock, sthlm(2026, 3, 12, 9, 0))
    assert overdue_keys() == []

    services.update_commitment(
        actor=Actor.patient(plan.patient.user),
        commitment=late,
        expected_version=version(plan),
        due_date=date(2026, 3, 11),
    )
    sweep(clock, sthlm(2026, 3, 12, 9, 5))
    assert overdue_keys() == [f"commitment_overdue:{late.pk}:2026-03-11"]
    assert marker(late) == date(2026, 3, 11)


def test_late_commitment_moved_ahead_closes_its_task_and_counts_again_later(
    plan, clock, doctor, network
):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    sweep(clock, sthlm(2026, 3, 11, 9, 0))

    services.update_commitment(
        actor=Actor.patient(plan.patient.user),
        commitment=late,
        expected_version=version(plan),
        due_date=date(2026, 3, 20),
    )
    sweep(clock, sthlm(2026, 3, 11, 9, 5))
    assert overdue_keys("done") == [f"commitment_overdue:{late.pk}:2026-03-10"]
    assert marker(late) is None

    sweep(clock, sthlm(2026, 3, 21, 9, 0))
    assert overdue_keys("open") == [f"commitment_overdue:{late.pk}:2026-03-20"]


def test_reopened_late_commitment_gets_no_second_task(plan, clock, doctor, network):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    sweep(clock, sthlm(2026, 3, 11, 9, 0))
    tolvan = Actor.patient(plan.patient.user)

    services.complete_commitment(actor=tolvan, commitment=late, expected_version=version(plan))
    sweep(clock, sthlm(2026, 3, 11, 9, 5))
    assert marker(late) is None
    services.complete_commitment(
        actor=tolvan, commitment=late, expected_version=version(plan), done=False
    )
    made = sweep(clock, sthlm(2026, 3, 11, 9, 10))

    assert made["overdue_commitments"] == {"tasks": 0, "notifications": 0, "late": 1}
    assert overdue_keys("done") == [f"commitment_overdue:{late.pk}:2026-03-10"]
    assert marker(late) == date(2026, 3, 10)


def test_a_run_takes_at_most_a_batch_of_late_commitments_oldest_first(
    plan, clock, doctor, network, settings
):
    settings.SWEEP_LATE_BATCH = 2
    dates = [date(2026, 3, day) for day in (9, 4, 6, 5, 8)]
    for due in dates:
        add_commitment(plan, doctor, network, due, owner_kind="patient")
    made_on = []

    for minutes in (0, 5, 10, 15):
        made = sweep(clock, sthlm(2026, 3, 11, 9, minutes))["overdue_commitments"]
        made_on.append(sorted(key[-10:] for key in overdue_keys()))
        assert sweeps.backlog_left({"overdue_commitments": made}) == (made["late"] == 2)

    assert made_on == [
        ["2026-03-04", "2026-03-05"],
        ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-08"],
        ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-08", "2026-03-09"],
        ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-08", "2026-03-09"],
    ]


def test_a_sweep_task_that_met_a_backlog_asks_for_the_next_batch_at_once(
    plan, clock, doctor, network, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from reminders import tasks, wake

    settings.SWEEP_LATE_BATCH = 2
    for day in (4, 5, 6):
        add_commitment(plan, doctor, network, date(2026, 3, day), owner_kind="patient")
    clock.move_to(sthlm(2026, 3, 11, 9, 0))
    asked = []
    monkeypatch.setattr(wake, "enqueue", lambda name, **kwargs: asked.append((name, kwargs)))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_sweeps()
    assert (wake.RUN_SWEEPS, {"only": ["overdue_commitments"]}) in asked
    assert len(overdue_keys()) == 2

    asked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        made = tasks.run_sweeps(only=["overdue_commitments"])
    assert list(made) == ["overdue_commitments"]
    assert len(overdue_keys()) == 3
    assert all(name != wake.RUN_SWEEPS for name, _ in asked), "the backlog is done"


def test_beat_sweeps_as_soon_as_it_starts(tolvan, doctor, coordinator, network, clock, settings):
    """Not one interval later: a plan that went without a care contact while nothing
    ran is escalated when beat comes up."""
    from celery.signals import beat_init

    from naravard.celery import app

    clock.move_to(sthlm(2026, 3, 6, 16, 30))
    plan_without_contact(tolvan, doctor, network)
    clock.move_to(sthlm(2026, 3, 16, 8, 0))
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        beat_init.send(sender=None)
    finally:
        app.conf.task_always_eager = eager
    assert FollowUpTask.objects.get().kind == "no_care_contact"


def test_closing_a_plan_closes_its_late_commitment_tasks(plan, clock, doctor, network):
    add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    sweep(clock, sthlm(2026, 3, 11, 9, 0))
    Contract.objects.filter(pk=plan.pk).update(status=Contract.Status.CLOSED)

    sweep(clock, sthlm(2026, 3, 11, 9, 5))

    assert not FollowUpTask.objects.open().exists()


def test_migration_marks_commitments_that_already_have_a_late_task(plan, clock, doctor, network):
    late = add_commitment(plan, doctor, network, date(2026, 3, 10), owner_kind="patient")
    moved = add_commitment(plan, doctor, network, date(2026, 3, 9), owner_kind="patient")
    sweep(clock, sthlm(2026, 3, 11, 9, 0))
    # As before the marker existed: tasks, but no marks, and one date moved since.
    Commitment.objects.update(overdue_task_for=None)
    Commitment.objects.filter(pk=moved.pk).update(due_date=date(2026, 3, 8))
    migration = importlib.import_module("contracts.migrations.0006_overdue_task_marker")

    with connection.schema_editor() as editor:
        migration.mark_commitments_with_late_tasks(None, editor)
    sweep(clock, sthlm(2026, 3, 11, 9, 5))

    assert marker(late) == date(2026, 3, 10)
    assert overdue_keys("open") == sorted(
        [f"commitment_overdue:{late.pk}:2026-03-10", f"commitment_overdue:{moved.pk}:2026-03-08"]
    )
    assert overdue_keys("done") == [f"commitment_overdue:{moved.pk}:2026-03-09"]


# --- Plan reviews ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile, review_on",
    [
        ("vulnerable_worried", date(2026, 6, 2)),
        ("worried_engaged", date(2026, 9, 2)),
        ("traditional_unconcerned", date(2026, 9, 2)),
        ("independent_engaged", date(2027, 3, 2)),
    ],
)
def test_review_is_due_by_support_profile(tolvan, doctor, network, clock, profile, review_on):
    set_profile(tolvan, profile)
    tolvan.refresh_from_db()
    contract = plan_without_contact(tolvan, doctor, network)
    assert contract.review_due == review_on

    day_before = datetime.combine(review_on, datetime.min.time(), STOCKHOLM) - ONE_SECOND
    sweep(clock, day_before)
    assert not FollowUpTask.objects.filter(kind="review_due").exists()

    sweep(clock, day_before + ONE_SECOND)
    task = FollowUpTask.objects.get(kind="review_due")
    assert task.dedupe_key == f"review_due:{contract.pk}:{review_on.isoformat()}"
    assert task.assigned_organisation == network["vardcentral"]


def test_plan_without_a_review_date_counts_from_the_profile(tolvan, doctor, network, clock):
    set_profile(tolvan, "vulnerable_worried")
    contract = plan_without_contact(tolvan, doctor, network)
    Contract.objects.filter(pk=contract.pk).update(review_due=None)

    sweep(clock, sthlm(2026, 6, 1, 23, 59))
    assert not FollowUpTask.objects.filter(kind="review_due").exists()

    sweep(clock, sthlm(2026, 6, 2, 0, 0))
    assert FollowUpTask.objects.filter(kind="review_due").count() == 1


def test_closed_plan_gets_no_reminders_or_tasks(plan, clock):
    Contract.objects.filter(pk=plan.pk).update(status=Contract.Status.CLOSED)

    for hours in (-48, -2, 30, 24 * 200):
        sweep(clock, planned_step(plan).scheduled_at + timedelta(hours=hours))

    assert keys() == []
    assert not FollowUpTask.objects.exists()


# --- The cut-off behind every working-day rule -----------------------------------------------


RULES_TO_CHECK = [
    days.rule("fixed_contact_escalation"),
    days.rule("next_step_outcome_overdue"),
    days.rule("sip_meeting_call"),
    DayRule(days=1, working_days=True, cutoff_hour=16),
    DayRule(days=3, working_days=False, count_day_zero=True, cutoff_hour=12),
]


@settings(max_examples=300, deadline=None)
@given(
    rule_=st.sampled_from(RULES_TO_CHECK),
    start=st.datetimes(
        min_value=datetime(2025, 11, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
    ),
    gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
)
def test_overdue_before_agrees_with_is_overdue(rule_, start, gap):
    now = start + gap
    assert (start < rule_.overdue_before(now)) == rule_.is_overdue(start, now)


def test_overdue_before_for_three_working_days_over_easter():
    escalation = days.rule("fixed_contact_escalation")
    # On Friday 10 April at 00:00, plans from before Friday 3 April (Good Friday) are late.
    assert escalation.overdue_before(sthlm(2026, 4, 10, 0, 0)) == sthlm(2026, 4, 3)
    assert escalation.overdue_before(sthlm(2026, 4, 9, 23, 59)) == sthlm(2026, 4, 2)


# --- Quiet hours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment, allowed_from",
    [
        (sthlm(2026, 3, 2, 20, 59), sthlm(2026, 3, 2, 20, 59)),
        (sthlm(2026, 3, 2, 21, 0), sthlm(2026, 3, 3, 8, 0)),
        (sthlm(2026, 3, 3, 7, 59), sthlm(2026, 3, 3, 8, 0)),
        (sthlm(2026, 3, 3, 8, 0), sthlm(2026, 3, 3, 8, 0)),
    ],
    ids=["20:59", "21:00", "07:59", "08:00"],
)
def test_text_messages_wait_for_the_morning(moment, allowed_from):
    assert days.sms_allowed_from(moment, overrides={}) == allowed_from


def test_every_support_profile_has_a_reminder_policy():
    for profile in Patient._meta.get_field("support_profile").choices:
        policy = days.reminder_intensity(profile[0], overrides={})
        assert policy["hours"] in ((48, 2), (48,))
    assert days.reminder_intensity("vulnerable_worried", overrides={})["call"] is True


# --- Cost ------------------------------------------------------------------------------------


def identity_number(n: int) -> str:
    nine = f"380712{n:03d}"
    return f"19{nine}{luhn_check_digit(nine)}"


def make_plans(count, start, network, doctor):
    """`count` more patients with a plan, a next step, a dated commitment and no contact."""
    actor = as_doctor(doctor, network)
    for n in range(start, start + count):
        patient = patient_services.register_patient(
            actor=SYSTEM,
            identity_number=identity_number(n),
            given_name=f"Patient{n}",
            family_name="Testsson",
            phone="+46700000000",
        )
        patient_services.add_to_care_team(
            actor=SYSTEM, patient=patient, organisation=network["vardcentral"], consent=True
        )
        contract = services.create_contract(actor=actor, patient=patient)
        services.agree_next_step(
            actor=actor,
            contract=contract,
            expected_version=version(contract),
            scheduled_at=T0 + timedelta(hours=30),
            channel="visit",
            purpose="Kontroll",
        )
        add_commitment(contract, doctor, network, date(2026, 3, 3), owner_kind="patient")


def count_sweep_queries(now):
    with CaptureQueriesContext(connection) as queries:
        made = sweeps.run_all(now=now)
    return len(queries), made


def test_sweeps_run_one_statement_per_rule_whatever_the_number_of_plans(
    network, doctor, coordinator
):
    make_plans(5, 0, network, doctor)
    few, made_few = count_sweep_queries(T0)
    make_plans(45, 5, network, doctor)
    many, made_many = count_sweep_queries(T0 + timedelta(days=1))

    # One statement per rule, and two around them that set the session's settings (JIT,
    # timeouts) aside and back.
    assert few == many == len(sweeps.RULES) + 2
    assert made_few["next_step_reminders"]["notifications"] == 5
    assert made_few["commitments_due_tomorrow"]["notifications"] == 5
    assert made_many["next_step_reminders"]["notifications"] == 45
    assert Notification.objects.filter(kind="next_step_reminder").count() == 50


def test_a_second_run_makes_nothing(plan, coordinator, clock):
    clock.move_to(T0 + timedelta(days=200))
    sweeps.run_all()

    again = sweeps.run_all()

    assert all(not any(made.values()) for made in again.values())


def test_sweep_puts_jit_back_as_it_was():
    with connection.cursor() as cursor:
        cursor.execute("SET jit = on")
        sweeps.run_all(now=T0)
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("on",)


def limits():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
        )
        return cursor.fetchone()


def test_a_sweep_may_run_longer_than_a_web_request_and_puts_the_limits_back(settings):
    during = []
    sweeps.run_all(now=T0, on_rule=lambda name, seconds: during.append(limits()))
    # The connection's limits are a web request's (settings.py); a sweep's are longer.
    assert set(during) == {(settings.SWEEP_STATEMENT_TIMEOUT, settings.SWEEP_LOCK_TIMEOUT)}
    assert limits() == ("10s", "3s")


class Statements:
    """A cursor that keeps a rule's statement instead of running it."""

    rowcount = 0

    def execute(self, sql, params=None):
        self.sql, self.params = sql, params

    def fetchone(self):
        return (0, 0, 0)


def plan_of(rule, now=T0):
    statement = Statements()
    rule(statement, now)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement.sql, statement.params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_unseen_late_commitments_are_read_from_their_partial_index(plan):
    # Both this index and (status, due_date) can give late commitments by date, and the
    # planner, which cannot know that nearly all late ones are marked, estimated them
    # alike: at 1 000 000 plans it read the other and stepped over every marked one. The
    # batch's order (due_date, id) is this index's alone.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")

    assert "commitment_late_unseen" in plan_of(sweeps.overdue_commitments)


def test_only_the_unseen_index_gives_the_batch_its_order():
    # What keeps the choice above at scale: the batch is taken in (due_date, id) order,
    # which the partial index gives as it is and no other index of commitments does.
    # (A small test database cannot reproduce the planner's estimates at 1 000 000
    # plans, where ORDER BY due_date alone let it take the (status, due_date) index.)
    indexes = {index.name: index.fields for index in Commitment._meta.indexes}
    assert indexes.pop("commitment_late_unseen") == ["due_date", "id"]
    assert "ORDER BY u.due_date, u.id\n" in sweeps.UNSEEN_LATE
    assert not [fields for fields in indexes.values() if "id" in fields]


@pytest.mark.django_db(transaction=True)
def test_the_unseen_index_is_swapped_without_locking_the_table():
    # CREATE and DROP INDEX CONCURRENTLY refuse to run inside a transaction: this
    # migration runs outside one, builds the new index before the old one goes, and
    # goes back the same way.

    def indexes():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'contracts_commitment'"
            )
            return {row[0] for row in cursor.fetchall()} & {
                "commitment_overdue_unseen",
                "commitment_late_unseen",
            }

    with as_owner():  # a migration is the owner's work
        swap_and_back(indexes)


def swap_and_back(indexes):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("contracts", "0007_partial_reference_indexes")])
        assert indexes() == {"commitment_overdue_unseen"}
        executor = MigrationExecutor(connection)
        executor.migrate([("contracts", "0008_unseen_late_in_batch_order")])
        assert indexes() == {"commitment_late_unseen"}
    finally:
        # Every later migration back, for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_commitments_whose_late_task_may_be_stale_are_read_from_their_partial_index(plan):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")

    assert "commitment_overdue_stale" in plan_of(sweeps.close_resolved_follow_ups)
