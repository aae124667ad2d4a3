"""Bulk data for benchmarks: up to a million generated patients with whole plans.

`manage.py bench` calls `seed()` when its database holds fewer patients than asked for.
The people come from the demo network (contracts.demo): the same fictional names and
identity numbers from the test-person series, so none can be a real person. Nothing
outside bench/ and the tests imports this module.
"""

import math
import random
import time as clock
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from actors.models import Membership, Role, User
from contracts import days, demo
from contracts.demo.network import (
    DOMAIN,
    FAMILY_NAMES,
    FEMALE_NAMES,
    MALE_NAMES,
    STREETS,
    Network,
    birth_date_of,
    fictional_identity_number,
    fictional_phone,
    show_phone,
)
from contracts.demo.story import (
    GOALS,
    ORGANISATION_TASKS,
    OUTCOMES,
    PURPOSES,
    RELATIVE_TASKS,
    SELF_CARE,
    WHAT_MATTERS,
    story_identity_numbers,
)
from contracts.models import (
    Channel,
    Commitment,
    Contract,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
)
from patients import services as patient_services
from patients.models import IdentityKind, Patient, Relative, SupportProfile

# One generated district nurse per this many generated patients, so that worklists
# and care-contact queues have a realistic size.
PATIENTS_PER_NURSE = 1000
PLAN_AGES = (0, 1, 2, 4, 7, 14, 30, 60, 120, 240, 365)  # days since the plan started
PLAN_AGE_WEIGHTS = (2, 2, 2, 3, 4, 6, 10, 14, 20, 20, 17)
PROFILES = SupportProfile.values
PROFILE_WEIGHTS = (25, 35, 25, 15)
RELATIONS = ("dotter", "son", "make", "maka", "sambo", "granne", "barnbarn")


@dataclass
class Generated:
    requested: int = 0
    created: int = 0
    present: int = 0
    commitments: int = 0
    seconds: float = 0.0


def _nurse_pool(net: Network, size: int) -> list[User]:
    """District nurses for generated patients; no password, they are not demo logins."""
    vc = net.orgs["vardcentral"]
    emails = [f"distriktsskoterska.{i:04d}@{DOMAIN}" for i in range(size)]
    existing = {u.email: u for u in User.objects.filter(email__in=emails)}
    rng = random.Random("naravard-nurses")
    new = []
    for i, email in enumerate(emails):
        given, family = rng.choice(FEMALE_NAMES + MALE_NAMES), rng.choice(FAMILY_NAMES)
        if email not in existing:
            new.append(User(email=email, first_name=given, last_name=family,
                            password=make_password(None), phone=fictional_phone(i)))  # fmt: skip
    if new:
        User.objects.bulk_create(new)
        Membership.objects.bulk_create(
            Membership(user=user, organisation=vc, role=Role.CLINICIAN,
                       title="Distriktssköterska", phone=user.phone)
            for user in new
        )  # fmt: skip
        existing.update((u.email, u) for u in User.objects.filter(email__in=emails))
    return [existing[email] for email in emails]


def generate_patients(
    net: Network,
    count: int,
    *,
    seed: int = 1,
    commitments_min: int = 10,
    commitments_max: int = 100,
    batch_size: int = 1000,
    log=print,
) -> Generated:
    """Make sure the first `count` patients of the stream for `seed` exist.

    The identity numbers come from their own seeded stream, independent of the
    database, so a re-run finds the same numbers already present and adds nothing;
    a larger count or another seed adds more.

    Bulk inserts bypass the services on purpose: benchmarks need hundreds of
    thousands of plans, and the services take a lock and write an event per
    change. The rows still satisfy every model constraint; each plan gets one
    event (contract_created) so the history is never empty.
    """
    result = Generated(requested=count)
    if count <= 0:
        return result
    started = clock.monotonic()
    numbers = random.Random(f"naravard-bench-numbers-{seed}")
    rng = random.Random(f"naravard-bench-{seed}")
    taken = story_identity_numbers()
    pool = _nurse_pool(net, math.ceil(count / PATIENTS_PER_NURSE))
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        batch = [(start + i, *fictional_identity_number(numbers, taken)) for i in range(size)]
        present = set(
            Patient.objects.filter(identity_number__in=[n for _, n, _ in batch]).values_list(
                "identity_number", flat=True
            )
        )
        fresh = [row for row in batch if row[1] not in present]
        if fresh:
            with transaction.atomic():
                result.commitments += _insert_batch(
                    net, pool, fresh, rng, commitments_min, commitments_max
                )
        result.created += len(fresh)
        result.present += size - len(fresh)
        elapsed = clock.monotonic() - started
        log(
            f"  {start + size:>9,} / {count:,} patients"
            f"  ({result.created:,} new, {result.commitments:,} commitments, "
            f"{elapsed:.1f} s)"
        )
    result.seconds = clock.monotonic() - started
    return result


def _insert_batch(net, pool, rows, rng, commitments_min, commitments_max) -> int:
    """Insert one batch of patients with their whole plans. Returns the commitment count."""
    now = timezone.now()
    today = timezone.localdate()
    vc, coordinator = net.orgs["vardcentral"], net.staff["sara"]
    optional = [("home_health", 45), ("home_care", 35), ("cardiology", 30)]
    named = {"home_health": net.staff["lena"], "home_care": net.staff["johan"],
             "cardiology": net.staff["erik"]}  # fmt: skip

    people = []
    for index, number, female in rows:
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        people.append(
            {
                "patient": Patient(
                    identity_number=number,
                    given_name=given,
                    family_name=rng.choice(FAMILY_NAMES),
                    identity_kind=(
                        IdentityKind.SAMORDNINGSNUMMER
                        if int(number[6:8]) > 60
                        else IdentityKind.PERSONNUMMER
                    ),
                    birth_date=birth_date_of(number),
                    phone=fictional_phone(index),
                    address=f"{rng.choice(STREETS)} {rng.randint(1, 60)}, Tierp",
                    support_profile=rng.choices(PROFILES, PROFILE_WEIGHTS)[0],
                    preferred_channel="sms" if rng.random() < 0.8 else "none",
                ),
                "nurse": pool[index // PATIENTS_PER_NURSE % len(pool)],
                "age": rng.choices(PLAN_AGES, PLAN_AGE_WEIGHTS)[0],
                "team": ["vardcentral"] + [k for k, pct in optional if rng.random() * 100 < pct],
            }
        )
    Patient.objects.bulk_create([p["patient"] for p in people])

    joinings, relatives = [], []
    for p in people:
        patient, started = p["patient"], now - timedelta(days=p["age"])
        blocked = ""
        if len(p["team"]) > 1 and rng.random() < 0.03:
            blocked = rng.choice(p["team"][1:])
        for key in p["team"]:
            joinings.append((patient, net.orgs[key], started, now if key == blocked else None))
        p["owners"] = [k for k in p["team"] if k != blocked]
        p["relative"] = None
        if rng.random() < 0.3:
            p["relative"] = Relative(
                patient=patient,
                name=f"{rng.choice(FEMALE_NAMES + MALE_NAMES)} {patient.family_name}",
                relation=rng.choice(RELATIONS),
                phone=fictional_phone(rng.randrange(95)),
                access=rng.choice(Relative.Access.values),
            )
            relatives.append(p["relative"])
    patient_services.add_to_care_teams_in_bulk(joinings, recorded_by=coordinator)
    Relative.objects.bulk_create(relatives)

    contracts = []
    for p in people:
        started = now - timedelta(days=p["age"])
        agreed = rng.random() < 0.6
        p["contract"] = Contract(
            patient=p["patient"],
            status=Contract.Status.ACTIVE,
            version=1,
            what_matters=rng.choice(WHAT_MATTERS),
            agreed_version=1 if agreed else None,
            agreed_at=started if agreed else None,
            review_due=days.review_due(started.date(), p["patient"].support_profile),
            updated_at=started,
            created_by=p["nurse"],
        )
        contracts.append(p["contract"])
    Contract.objects.bulk_create(contracts)

    goals, done_steps, events, contacts = [], [], [], []
    for p in people:
        contract, nurse, started = p["contract"], p["nurse"], now - timedelta(days=p["age"])
        goals += [
            Goal(contract=contract, text=text, position=i)
            for i, text in enumerate(rng.sample(GOALS, rng.randint(1, 3)))
        ]
        events.append(
            Event(
                patient=p["patient"],
                contract=contract,
                version=1,
                at=started,
                kind=Event.Kind.CONTRACT_CREATED,
                actor=nurse,
                actor_kind=Event.ActorKind.STAFF,
                organisation=vc,
                after={"what_matters": contract.what_matters},
            )
        )
        p["done"] = None
        if p["age"] >= 7 and rng.random() < 0.5:
            p["done"] = NextStep(
                contract=contract,
                scheduled_at=started + timedelta(days=p["age"] // 2),
                channel=rng.choice(Channel.values),
                organisation=vc,
                staff=nurse,
                with_whom=f"{nurse.get_full_name()}, distriktssköterska",
                purpose=rng.choice(PURPOSES),
                status=NextStep.Status.DONE,
                outcome=rng.choice(OUTCOMES),
                outcome_recorded_at=started + timedelta(days=p["age"] // 2, hours=1),
                outcome_recorded_by=nurse,
            )
            done_steps.append(p["done"])
        if rng.random() < 0.8:
            contacts.append(
                FixedCareContact(
                    contract=contract,
                    staff=nurse,
                    organisation=vc,
                    started_on=started.date(),
                    how_to_reach=f"{show_phone(nurse.phone)}, vardagar 8–16",
                    assigned_by=coordinator,
                )
            )
    Goal.objects.bulk_create(goals)
    Event.objects.bulk_create(events)
    NextStep.objects.bulk_create(done_steps)
    FixedCareContact.objects.bulk_create(contacts)

    planned, commitments = [], []
    for p in people:
        contract, nurse = p["contract"], p["nurse"]
        if rng.random() < 0.9:
            # About one in twelve has passed without an outcome: the follow-up queue.
            ahead = -rng.randint(1, 10) if rng.random() < 0.08 else rng.randint(1, 60)
            planned.append(
                NextStep(
                    contract=contract,
                    scheduled_at=datetime.combine(
                        today + timedelta(days=ahead),
                        time(rng.randint(8, 15), rng.choice((0, 15, 30, 45))),
                        tzinfo=days.STOCKHOLM,
                    ),
                    channel=rng.choice(Channel.values),
                    organisation=vc,
                    staff=nurse,
                    with_whom=f"{nurse.get_full_name()}, distriktssköterska",
                    purpose=rng.choice(PURPOSES),
                    follows=p["done"],
                )
            )
        # Most plans have 10 to 30 commitments, a few many more: a right-skewed spread.
        count = commitments_min + round(
            (commitments_max - commitments_min) * rng.betavariate(1.3, 5)
        )
        commitments += [_commitment(net, p, named, rng, now, today) for _ in range(count)]
    NextStep.objects.bulk_create(planned)
    _insert_rows(Commitment, COMMITMENT_COLUMNS, commitments)

    # created_at is auto_now_add, so plans are dated back afterwards: one UPDATE
    # per age, so that the "no fixed care contact after 3 working days" queue fills.
    by_age: dict[int, list[int]] = {}
    for p in people:
        if p["age"]:
            by_age.setdefault(p["age"], []).append(p["contract"].pk)
    for age, ids in by_age.items():
        Contract.objects.filter(pk__in=ids).update(created_at=now - timedelta(days=age))
    return len(commitments)


COMMITMENT_COLUMNS = (
    "contract_id",
    "owner_kind",
    "owner_organisation_id",
    "owner_staff_id",
    "owner_relative_id",
    "what",
    "due_date",
    "status",
    "completed_at",
    "completed_by_id",
    "created_at",
)


def _commitment(net, p, named, rng, now, today) -> tuple:
    """One generated commitment as a row in COMMITMENT_COLUMNS order."""
    organisation = staff = relative = None
    roll = rng.random()
    if roll < 0.25:
        kind, what = OwnerKind.PATIENT, rng.choice(SELF_CARE)
    elif roll < 0.30 and p["relative"] is not None:
        kind, what = OwnerKind.RELATIVE, rng.choice(RELATIVE_TASKS)
        relative = p["relative"].pk
    else:
        key = rng.choice(p["owners"])
        kind, what = OwnerKind.ORGANISATION, rng.choice(ORGANISATION_TASKS[key])
        organisation = net.orgs[key].pk
        if roll > 0.85:
            kind = OwnerKind.STAFF
            staff = p["nurse"].pk if key == "vardcentral" else named[key].pk
    due = None if rng.random() < 0.25 else today + timedelta(days=rng.randint(-30, 120))
    status, completed_at = Commitment.Status.OPEN, None
    roll = rng.random()
    if roll < 0.3:
        status, completed_at = Commitment.Status.DONE, now - timedelta(days=rng.randint(0, 30))
    elif roll < 0.33:
        status = Commitment.Status.CANCELLED
    return (p["contract"].pk, kind, organisation, staff, relative, what, due, status,
            completed_at, None, now)  # fmt: skip


def _insert_rows(model, columns, rows) -> None:
    """Insert plain rows with COPY.

    Commitments are most of the generated rows (tens per plan), and building a
    model instance for each one made bulk_create the bottleneck; COPY takes plain
    tuples and is several times faster. The database still checks every constraint.
    """
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({names}) FROM STDIN"  # noqa: S608 - names come from the model
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


# --- everything ------------------------------------------------------------------------


def seed(
    *,
    patients: int,
    seed: int = 1,
    commitments_min: int = 10,
    commitments_max: int = 100,
    batch_size: int = 1000,
    log=print,
) -> Generated:
    """The demo network and story (as `seed_demo` makes them), then `patients` generated ones."""
    network = demo.seed(log=log)
    log(f"Generating {patients:,} patients (seed {seed}) ...")
    result = generate_patients(
        network,
        patients,
        seed=seed,
        commitments_min=commitments_min,
        commitments_max=commitments_max,
        batch_size=batch_size,
        log=log,
    )
    log(
        f"Generated {result.created:,} new patients ({result.present:,} were already there) "
        f"with {result.commitments:,} commitments in {result.seconds:.1f} s."
    )
    return result
