"""Set-based sweeps: each rule of DESIGN.md §3 is ONE SQL statement.

Every rule is `INSERT ... SELECT ... ON CONFLICT (dedupe_key) DO NOTHING`: the
SELECT finds everything due now across all plans, the dedupe key names the one
reminder or task it stands for, so a re-run (or two beats, or a retried task)
inserts nothing new. The cost is a fixed number of statements whatever the
number of plans (`tests/test_sweeps.py` counts them).

SQL cannot call the holiday calendar, so `contracts.days` turns each rule into
a cut-off instant or date in Python ("plans created before X are 3 working days
old now") and the statement takes it as a parameter.

Staff work becomes a follow-up task (`FollowUpTask`) assigned to the fixed care
contact, or, when the plan has none, to the patient's primary-care unit (its
coordinators share it out); who that is, is worked out once per plan. The
statement that creates tasks also queues, in the same statement (a data-modifying
CTE), an e-mail to each person they concern, at most one per person per day: a
unit's first sweep can find hundreds of late commitments, and one "you have new
follow-up tasks" is worth more than hundreds.

A sweep runs every few minutes over every plan, so each rule looks only at what can
be newly due: a window of time, or rows not yet handled. Late commitments are most
of the work (a few per plan, staying late for weeks), so each carries the due date
its task was made for (`Commitment.overdue_task_for`), and two partial indexes hold
the late commitments not yet seen and those whose task may have lost its cause. One
run makes at most SWEEP_LATE_BATCH of them into tasks, oldest first: a backlog (a bulk
import of plans already late) is worked off in short runs, each asking for the next
(reminders.tasks.run_sweeps), instead of one that holds its locks for minutes. The
other rules make at most one task per plan and skip those made before working out
who is responsible (NOT EXISTS on the dedupe key: a lookup per candidate, or one
pass over the tasks when the planner expects many). Tasks are closed first, so a
commitment whose date moved gets its task for the new date in the same sweep.

Who may see a patient is not restated here: the statements take the SQL of the one
access rule from `patients.access` (care relationships, relatives with access).

Hook for discharge and SIP deadlines (Lag 2017:612, a later issue): write the
SELECT of what is due, with `days.rule("sip_meeting_call").overdue_before(now)` as
the cut-off, add a FollowUpTask kind, and pass it to `_tasks_and_tell` in a new
rule function listed in RULES.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from time import perf_counter

from django.conf import settings
from django.db import connection
from django.utils import timezone

from contracts import days
from naravard.dbutil import session_settings
from patients.access import care_relationships_sql, relatives_with_access_sql
from patients.models import SupportProfile


def _compose(*fragments: str) -> str:
    """Join this module's constant SQL fragments; values always go in as parameters."""
    return "\n".join(fragments)


# The fixed care contact (fast vårdkontakt) of plan `c`, and the patient's primary-care
# unit (vårdcentral) in a care relationship with them, as `fcc` and `pcu`. `{care}` is
# the access rule's SQL (patients.access.care_relationships_sql).
RESPONSIBLE = """
    LEFT JOIN contracts_fixedcarecontact fcc ON fcc.contract_id = c.id AND fcc.ended_on IS NULL
    LEFT JOIN LATERAL (
        SELECT min(care.organisation_id) AS organisation_id
        FROM ({care}) care
        JOIN actors_organisation unit
            ON unit.id = care.organisation_id AND unit.kind = 'primary_care'
        WHERE care.patient_id = c.patient_id
    ) pcu ON true
"""

NOTIFICATION_COLUMNS = """
    dedupe_key, kind, channel, recipient_user_id, recipient_patient_id, address,
    contract_id, next_step_id, commitment_id, follow_up_id, subject, body,
    due_at, expires_at, status, attempts, last_error, created_at
"""

# `due` yields (dedupe_key, kind, contract_id, next_step_id, commitment_id, due_at);
# `{before}` may hold CTEs it reads from. A task goes to the plan's fixed care contact,
# else to the primary-care unit, looked up once per plan: a plan's first sweep can
# find tens of late commitments. New tasks are announced by e-mail to the assigned
# staff member, or to the assigned unit's coordinators; the key holds the day, so a
# person gets one such e-mail a day (policy), about the first task made for them.
TASKS_AND_TELL = _compose(
    """
WITH {before}
due (dedupe_key, kind, contract_id, next_step_id, commitment_id, due_at) AS ({due}),
responsible AS (
    SELECT c.id AS contract_id, coalesce(fcc.organisation_id, pcu.organisation_id)
           AS organisation_id, fcc.staff_id
    FROM contracts_contract c
    """,
    RESPONSIBLE,
    """
    WHERE c.id = ANY (ARRAY(SELECT DISTINCT contract_id FROM due))
),
new_task AS (
    INSERT INTO contracts_followuptask
        (dedupe_key, kind, contract_id, next_step_id, commitment_id,
         assigned_organisation_id, assigned_staff_id, due_at, status, created_at)
    SELECT due.dedupe_key, due.kind, due.contract_id, due.next_step_id, due.commitment_id,
           r.organisation_id, r.staff_id, due.due_at, 'open', %(now)s
    FROM due JOIN responsible r ON r.contract_id = due.contract_id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, assigned_organisation_id, assigned_staff_id
),
told AS (
    INSERT INTO contracts_notification ({columns})
    SELECT 'follow_ups:' || u.id || ':' || %(day)s, 'follow_up', 'email', u.id, NULL, u.email,
           NULL, NULL, NULL, first.task_id, '', '',
           %(now)s, NULL, 'pending', 0, '', %(now)s
    FROM (
        -- Tasks for the same person or unit tell the same people: group them first.
        SELECT told_whom.user_id, min(t.id) AS task_id
        FROM (
            SELECT assigned_organisation_id, assigned_staff_id, min(id) AS id
            FROM new_task GROUP BY assigned_organisation_id, assigned_staff_id
        ) t
        CROSS JOIN LATERAL (
            SELECT t.assigned_staff_id AS user_id WHERE t.assigned_staff_id IS NOT NULL
            UNION ALL
            SELECT m.user_id FROM actors_membership m
            WHERE t.assigned_staff_id IS NULL AND m.organisation_id = t.assigned_organisation_id
              AND m.role = 'coordinator' AND m.active
        ) told_whom
        GROUP BY told_whom.user_id
    ) first
    JOIN actors_user u ON u.id = first.user_id AND u.is_active AND u.email <> ''
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_task), (SELECT count(*) FROM told), (SELECT count(*) FROM due)
""",
)


def _tasks_and_tell(
    cursor, due_sql: str, params: dict, before: str = "", count_due_as: str = ""
) -> Counter:
    """Run a rule; what it made, and with `count_due_as` how many rows were due."""
    sql = TASKS_AND_TELL.format(
        before=before, due=due_sql, columns=NOTIFICATION_COLUMNS, care=care_relationships_sql()
    )
    day = timezone.localdate(params["now"]).isoformat()
    cursor.execute(sql, {**params, "day": day})
    tasks, notifications, due = cursor.fetchone()
    made = Counter(tasks=tasks, notifications=notifications)
    if count_due_as:
        made[count_due_as] = due
    return made


# --- Reminders to the patient and the people who do things ----------------------------------


NEXT_STEP_REMINDERS = _compose(
    "INSERT INTO contracts_notification (",
    NOTIFICATION_COLUMNS,
    ")",
    """
    SELECT 'next_step:' || s.id || ':' || r.hours || 'h', 'next_step_reminder',
           p.preferred_channel, NULL, p.id,
           CASE p.preferred_channel WHEN 'sms' THEN p.phone ELSE p.email END,
           c.id, s.id, NULL, NULL, '', '',
           %(now)s, s.scheduled_at - make_interval(hours => r.until_hours),
           'pending', 0, '', %(now)s
    FROM contracts_nextstep s
    JOIN contracts_contract c ON c.id = s.contract_id AND c.status = 'active'
    JOIN patients_patient p ON p.id = c.patient_id
    JOIN unnest(%(profiles)s::text[], %(hours)s::int[], %(until)s::int[])
        AS r(profile, hours, until_hours) ON r.profile = p.support_profile
    WHERE s.status = 'planned'
      AND s.scheduled_at > %(now)s AND s.scheduled_at <= %(horizon)s
      AND s.scheduled_at <= %(now)s + make_interval(hours => r.hours)
      AND s.scheduled_at > %(now)s + make_interval(hours => r.until_hours)
      AND ((p.preferred_channel = 'sms' AND p.phone <> '')
           OR (p.preferred_channel = 'email' AND p.email <> ''))
    ON CONFLICT (dedupe_key) DO NOTHING
    """,
)


def _reminder_windows() -> list[tuple[str, int, int]]:
    """(profile, hours before, until hours before): each reminder is queued while its
    window is open, so a step agreed late gets the latest reminder that still fits and
    never two at once."""
    windows = []
    for profile in SupportProfile.values:
        hours = days.reminder_intensity(profile)["hours"]
        for i, before in enumerate(hours):
            until = hours[i + 1] if i + 1 < len(hours) else 0
            windows.append((profile, before, until))
    return windows


def next_step_reminders(cursor, now: datetime) -> Counter:
    """Policy: remind the patient 48 h and 2 h before the next step, by their channel;
    the support profile decides how many of these they get (days.REMINDER_INTENSITY)."""
    windows = _reminder_windows()
    if not windows:
        return Counter()
    profiles, hours, until = (list(column) for column in zip(*windows, strict=True))
    cursor.execute(
        NEXT_STEP_REMINDERS,
        {
            "now": now,
            "horizon": now + timedelta(hours=max(hours)),
            "profiles": profiles,
            "hours": hours,
            "until": until,
        },
    )
    return Counter(notifications=cursor.rowcount)


# Tomorrow's commitments, then whom each reminds: one join per kind of owner over all
# of them at once (looked up per commitment, each one re-read the whole staff table).
# `{relatives}` is the access rule's SQL for relatives (patients.access).
COMMITMENT_DUE = _compose(
    """
    WITH due AS (
        SELECT m.id, m.due_date, m.owner_kind, m.owner_organisation_id, m.owner_staff_id,
               m.owner_relative_id, c.id AS contract_id, c.patient_id
        FROM contracts_commitment m
        JOIN contracts_contract c ON c.id = m.contract_id AND c.status = 'active'
        WHERE m.status = 'open' AND m.due_date = %(tomorrow)s
    ),
    owner (commitment_id, who, channel, user_id, patient_id, address) AS (
        -- Self-care (egenvård): the patient, by the channel they chose.
        SELECT d.id, 'patient', p.preferred_channel, NULL::bigint, p.id,
               CASE p.preferred_channel WHEN 'sms' THEN p.phone ELSE p.email END
        FROM due d JOIN patients_patient p ON p.id = d.patient_id
        WHERE d.owner_kind = 'patient'
        UNION ALL
        -- A relative who can log in to see the plan: by text when we have a number.
        SELECT d.id, 'relative' || r.id, CASE WHEN r.phone <> '' THEN 'sms' ELSE 'email' END,
               r.user_id, NULL, CASE WHEN r.phone <> '' THEN r.phone ELSE r.email END
        FROM due d JOIN ({relatives}) r ON r.id = d.owner_relative_id
        WHERE d.owner_kind = 'relative' AND r.user_id IS NOT NULL
        UNION ALL
        -- A named staff member; for an organisation, its staff named on this patient's
        -- care team, or its coordinators when the team names nobody there.
        SELECT staff.commitment_id, 'user' || u.id, 'email', u.id, NULL, u.email
        FROM (
            SELECT d.id AS commitment_id, d.owner_staff_id AS user_id
            FROM due d WHERE d.owner_kind = 'staff'
            UNION
            SELECT d.id, named.staff_id
            FROM due d
            JOIN patients_careteammember named
                ON named.patient_id = d.patient_id
                AND named.organisation_id = d.owner_organisation_id
                AND named.active AND named.staff_id IS NOT NULL
            WHERE d.owner_kind = 'organisation'
            UNION
            SELECT d.id, coordinator.user_id
            FROM due d
            JOIN actors_membership coordinator
                ON coordinator.organisation_id = d.owner_organisation_id
                AND coordinator.role = 'coordinator' AND coordinator.active
            WHERE d.owner_kind = 'organisation' AND NOT EXISTS (
                SELECT 1 FROM patients_careteammember named
                WHERE named.patient_id = d.patient_id
                  AND named.organisation_id = d.owner_organisation_id
                  AND named.active AND named.staff_id IS NOT NULL
            )
        ) staff
        JOIN actors_user u ON u.id = staff.user_id AND u.is_active
    )
    INSERT INTO contracts_notification (""",
    NOTIFICATION_COLUMNS,
    """)
    SELECT 'commitment_due:' || d.id || ':' || to_char(d.due_date, 'YYYY-MM-DD') || ':' || o.who,
           'commitment_due', o.channel, o.user_id, o.patient_id, o.address,
           d.contract_id, NULL, d.id, NULL, '', '',
           %(now)s, %(expires)s, 'pending', 0, '', %(now)s
    FROM owner o JOIN due d ON d.id = o.commitment_id
    WHERE o.channel IN ('sms', 'email') AND o.address <> ''
    ON CONFLICT (dedupe_key) DO NOTHING
    """,
)


def commitments_due_tomorrow(cursor, now: datetime) -> Counter:
    """Policy: the day before a commitment is due, remind whoever owns it."""
    tomorrow = timezone.localdate(now) + timedelta(days=1)
    # Worth sending until the due day is over.
    expires = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=days.STOCKHOLM)
    sql = COMMITMENT_DUE.format(relatives=relatives_with_access_sql())
    cursor.execute(sql, {"now": now, "tomorrow": tomorrow, "expires": expires})
    return Counter(notifications=cursor.rowcount)


# --- Follow-up tasks for staff ---------------------------------------------------------------


def next_steps_without_outcome(cursor, now: datetime) -> Counter:
    """Policy: a next step passed 24 h ago with no recorded outcome."""
    due = """
        SELECT 'next_step_no_outcome:' || s.id, 'next_step_no_outcome', c.id, s.id,
               NULL::bigint, %(now)s::timestamptz
        FROM contracts_nextstep s
        JOIN contracts_contract c ON c.id = s.contract_id AND c.status = 'active'
        WHERE s.status = 'planned' AND s.scheduled_at < %(cutoff)s
          AND NOT EXISTS (
              SELECT 1 FROM contracts_followuptask made
              WHERE made.dedupe_key = 'next_step_no_outcome:' || s.id)
    """
    cutoff = days.rule("next_step_outcome_overdue").overdue_before(now)
    return _tasks_and_tell(cursor, due, {"now": now, "cutoff": cutoff})


def plans_without_care_contact(cursor, now: datetime) -> Counter:
    """Policy: an active plan still without a fixed care contact after 3 working days
    goes to the coordinators of the patient's primary-care unit."""
    due = """
        SELECT 'no_care_contact:' || c.id, 'no_care_contact', c.id, NULL::bigint,
               NULL::bigint, %(now)s::timestamptz
        FROM contracts_contract c
        WHERE c.status = 'active' AND c.created_at < %(cutoff)s
          AND NOT EXISTS (
              SELECT 1 FROM contracts_fixedcarecontact fcc
              WHERE fcc.contract_id = c.id AND fcc.ended_on IS NULL)
          AND NOT EXISTS (
              SELECT 1 FROM contracts_followuptask made
              WHERE made.dedupe_key = 'no_care_contact:' || c.id)
    """
    cutoff = days.rule("fixed_contact_escalation").overdue_before(now)
    return _tasks_and_tell(cursor, due, {"now": now, "cutoff": cutoff})


# Open late commitments not yet seen, through the partial index that holds just them
# (commitment_late_unseen, whose condition this WHERE implies), at most %(batch)s of
# them, oldest date first, marked in one pass: the UPDATE locks each row and re-reads one
# that a user or a second sweep changed meanwhile, so the date it returns, and the task
# is made for, is the date it marks. A plan that is not active gets no task, so its
# commitments are left unmarked.
UNSEEN_LATE = """
late AS (
    UPDATE contracts_commitment m SET overdue_task_for = m.due_date
    FROM (
        SELECT u.id FROM contracts_commitment u
        JOIN contracts_contract uc ON uc.id = u.contract_id AND uc.status = 'active'
        WHERE u.status = 'open' AND u.overdue_task_for IS NULL AND u.due_date < %(today)s
        ORDER BY u.due_date, u.id
        LIMIT %(batch)s
    ) picked, contracts_contract c
    WHERE m.id = picked.id AND c.id = m.contract_id AND c.status = 'active'
      AND m.status = 'open' AND m.overdue_task_for IS NULL AND m.due_date < %(today)s
    RETURNING m.id, m.contract_id, m.due_date
),
"""
# (Picked in a subquery, not by an array of ids: the planner reads the number of rows
# from the subquery, where it took an array for a few and joined the batch's late
# commitments to their plans in a nested loop, 95 000 x 90 000 on a day at 1 000 000.)


def overdue_commitments(cursor, now: datetime) -> Counter:
    """Policy: an open commitment past its date is followed up by the fixed care contact.

    Each late commitment is looked at once per due date: it is marked with the due date
    its task is made for. One reopened on a date that already has its task is skipped by
    the conflict clause, and marked all the same. At most settings.SWEEP_LATE_BATCH are
    looked at in one run; `late` says how many were, and a run that reached the batch
    leaves the rest to the next (see `backlog_left`)."""
    due = """
        SELECT 'commitment_overdue:' || id || ':' || to_char(due_date, 'YYYY-MM-DD'),
               'commitment_overdue', contract_id, NULL::bigint, id, %(now)s::timestamptz
        FROM late
    """
    params = {
        "now": now,
        "today": timezone.localdate(now),
        "batch": settings.SWEEP_LATE_BATCH,
    }
    return _tasks_and_tell(cursor, due, params, before=UNSEEN_LATE, count_due_as="late")


# The rule a run that met a full batch is followed by, alone (see `backlog_left`).
LATE_RULE = overdue_commitments.__name__


def reviews_due(cursor, now: datetime) -> Counter:
    """Policy: review the plan every 6 months; 3 for vulnerable_worried, 12 for
    independent_engaged. The plan's own review date wins; a plan without one counts
    from when it was agreed (or made) by the patient's profile, as days.review_due."""
    # Written as "the review date has passed, or there is none and the counted one
    # has": the first half is a range on the (status, review_due) index.
    due = """
        SELECT r.dedupe_key, 'review_due', c.id, NULL::bigint, NULL::bigint,
               (r.review_on::timestamp AT TIME ZONE 'Europe/Stockholm')
        FROM contracts_contract c
        JOIN patients_patient p ON p.id = c.patient_id
        LEFT JOIN unnest(%(profiles)s::text[], %(months)s::int[]) AS pm(profile, months)
            ON pm.profile = p.support_profile
        CROSS JOIN LATERAL (
            SELECT coalesce(
                c.review_due,
                ((coalesce(c.agreed_at, c.created_at) AT TIME ZONE 'Europe/Stockholm')::date
                 + make_interval(months => coalesce(pm.months, %(default_months)s)))::date
            ) AS review_on
        ) counted
        CROSS JOIN LATERAL (
            SELECT counted.review_on,
                   'review_due:' || c.id || ':' || to_char(counted.review_on, 'YYYY-MM-DD')
                   AS dedupe_key
        ) r
        WHERE c.status = 'active'
          AND (c.review_due <= %(today)s
               OR (c.review_due IS NULL AND counted.review_on <= %(today)s))
          AND NOT EXISTS (
              SELECT 1 FROM contracts_followuptask made WHERE made.dedupe_key = r.dedupe_key)
    """
    profiles = list(SupportProfile.values)
    params = {
        "now": now,
        "today": timezone.localdate(now),
        "profiles": profiles,
        "months": [days.review_months(profile) for profile in profiles],
        "default_months": days.review_months(""),
    }
    return _tasks_and_tell(cursor, due, params)


def calls_before_next_step(cursor, now: datetime) -> Counter:
    """Policy: for profiles that need it (vulnerable_worried), the fixed care contact
    calls the patient before the next step; the task appears with the first reminder."""
    callers = [
        (profile, days.reminder_intensity(profile)["hours"][0])
        for profile in SupportProfile.values
        if days.reminder_intensity(profile)["call"]
    ]
    if not callers:
        return Counter()
    due = """
        SELECT 'call_before_next_step:' || s.id, 'call_before_next_step', c.id, s.id,
               NULL::bigint, s.scheduled_at
        FROM contracts_nextstep s
        JOIN contracts_contract c ON c.id = s.contract_id AND c.status = 'active'
        JOIN patients_patient p ON p.id = c.patient_id
        JOIN unnest(%(profiles)s::text[], %(hours)s::int[]) AS r(profile, hours)
            ON r.profile = p.support_profile
        WHERE s.status = 'planned' AND s.scheduled_at > %(now)s
          AND s.scheduled_at <= %(horizon)s
          AND s.scheduled_at <= %(now)s + make_interval(hours => r.hours)
    """
    profiles, hours = (list(column) for column in zip(*callers, strict=True))
    # The horizon bounds the index range; the planner cannot read one from r.hours.
    params = {"now": now, "horizon": now + timedelta(hours=max(hours))}
    return _tasks_and_tell(cursor, due, {**params, "profiles": profiles, "hours": hours})


def emergency_reads_unreviewed(cursor, now: datetime) -> Counter:
    """Policy (issue 15): an emergency read (nödåtkomst) that no administrator has
    reviewed within 5 working days becomes a follow-up task for the patient's own care
    team (fixed care contact, else primary-care unit), one per read; reviewing the read
    closes it (patients.services.review_emergency_read). A patient with no active plan
    has no team to give it to: the administrators' review list still shows the read."""
    due = """
        SELECT 'emergency_unreviewed:' || l.id, 'emergency_unreviewed', c.id, NULL::bigint,
               NULL::bigint, %(now)s::timestamptz
        FROM patients_accesslogentry l
        CROSS JOIN LATERAL (
            SELECT c.id FROM contracts_contract c
            WHERE c.patient_id = l.patient_id AND c.status = 'active'
            ORDER BY c.id DESC LIMIT 1
        ) c
        WHERE l.emergency AND l.at < %(cutoff)s
          AND NOT EXISTS (SELECT 1 FROM patients_emergencyreview r WHERE r.entry_id = l.id)
          AND NOT EXISTS (
              SELECT 1 FROM contracts_followuptask made
              WHERE made.dedupe_key = 'emergency_unreviewed:' || l.id)
    """
    cutoff = days.rule("emergency_review_overdue").overdue_before(now)
    return _tasks_and_tell(cursor, due, {"now": now, "cutoff": cutoff})


# A commitment marked with a date it no longer has, or no longer open, may have a late
# task whose cause went away (STALE implies the condition of the partial index
# commitment_overdue_stale, which holds just those). Its open late tasks are checked
# as before and its marker cleared; the others are still due on the date they were
# made for.
STALE = """
    m.overdue_task_for IS NOT NULL
    AND (m.status <> 'open' OR m.due_date IS NULL OR m.due_date <> m.overdue_task_for)
"""

# The other tasks (at most one of each kind per plan) are checked one by one, and a
# closed plan's all at once. Tasks are looked up by an array of the few ids found: the
# planner guesses the number of stale commitments from statistics that know nothing of
# how the marker follows the dates (300 000 of 2.9 million, where there were none),
# and a join planned on that guess read every task.
CLOSE_RESOLVED = _compose(
    """
WITH stale AS (
    SELECT m.id FROM contracts_commitment m WHERE""",
    STALE,
    """
),
unmarked AS (
    UPDATE contracts_commitment m SET overdue_task_for = NULL
    WHERE m.id = ANY (ARRAY(SELECT id FROM stale)) AND""",
    STALE,
    """
),
resolved AS (
    SELECT t.id FROM contracts_followuptask t
    WHERE t.status = 'open' AND t.kind <> 'commitment_overdue' AND (
        (t.kind = 'next_step_no_outcome' AND NOT EXISTS (
            SELECT 1 FROM contracts_nextstep s WHERE s.id = t.next_step_id AND s.status = 'planned'
        ))
        OR (t.kind = 'call_before_next_step' AND NOT EXISTS (
            SELECT 1 FROM contracts_nextstep s
            WHERE s.id = t.next_step_id AND s.status = 'planned' AND s.scheduled_at > %(now)s
        ))
        OR (t.kind = 'no_care_contact' AND EXISTS (
            SELECT 1 FROM contracts_fixedcarecontact f
            WHERE f.contract_id = t.contract_id AND f.ended_on IS NULL
        ))
        OR (t.kind = 'review_due' AND EXISTS (
            SELECT 1 FROM contracts_contract c
            WHERE c.id = t.contract_id
              AND c.review_due > (t.due_at AT TIME ZONE 'Europe/Stockholm')::date
        ))
    )
    UNION
    SELECT t.id FROM contracts_followuptask t
    WHERE t.commitment_id = ANY (ARRAY(SELECT id FROM stale))
      AND t.status = 'open' AND t.kind = 'commitment_overdue' AND NOT EXISTS (
        -- still open, still late, and still due on the date the task was made for
        SELECT 1 FROM contracts_commitment m
        WHERE m.id = t.commitment_id AND m.status = 'open' AND m.due_date < %(today)s
          AND t.dedupe_key = 'commitment_overdue:' || m.id || ':'
                             || to_char(m.due_date, 'YYYY-MM-DD')
    )
    UNION
    SELECT t.id FROM contracts_contract c
    JOIN contracts_followuptask t ON t.contract_id = c.id
    WHERE c.status = 'closed' AND t.status = 'open'
)
UPDATE contracts_followuptask t SET status = 'done', done_at = %(now)s
WHERE t.id = ANY (ARRAY(SELECT id FROM resolved)) AND t.status = 'open'
""",
)


def close_resolved_follow_ups(cursor, now: datetime) -> Counter:
    """A task whose cause went away (outcome recorded, contact assigned, commitment done
    or moved, plan reviewed or closed) leaves the worklists by itself."""
    cursor.execute(CLOSE_RESOLVED, {"now": now, "today": timezone.localdate(now)})
    return Counter(closed=cursor.rowcount)


# Closing comes first: a commitment whose date moved has its marker cleared there, so
# overdue_commitments makes the task for the new date in the same sweep.
RULES = [
    close_resolved_follow_ups,
    next_step_reminders,
    commitments_due_tomorrow,
    next_steps_without_outcome,
    plans_without_care_contact,
    overdue_commitments,
    reviews_due,
    calls_before_next_step,
    emergency_reads_unreviewed,
]


# The rules' statements are index lookups and small joins, but their estimated cost
# (guesses of thousands of rows where there are none) crosses PostgreSQL's JIT
# threshold, and compiling them took longer than running them: 0.1-0.9 s a statement
# at 100 000 plans. JIT is off while the sweep runs. A rule's statement covers every
# plan and may take longer than a web request may (SWEEP_STATEMENT_TIMEOUT), and may
# wait a little longer for a row a writer holds (SWEEP_LOCK_TIMEOUT).


def run_all(
    now: datetime | None = None,
    only: Iterable[str] | None = None,
    on_rule: Callable[[str, float], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Run every rule once (or those named in `only`), one statement each; returns what
    each rule made. `on_rule(name, seconds)` hears how long each took (make bench)."""
    now = now or timezone.now()
    rules = RULES if only is None else [rule for rule in RULES if rule.__name__ in only]
    made = {}
    with (
        session_settings(
            jit="off",
            statement_timeout=settings.SWEEP_STATEMENT_TIMEOUT,
            lock_timeout=settings.SWEEP_LOCK_TIMEOUT,
        ),
        connection.cursor() as cursor,
    ):
        for sweep in rules:
            started = perf_counter()
            made[sweep.__name__] = dict(sweep(cursor, now))
            if on_rule:
                on_rule(sweep.__name__, perf_counter() - started)
    return made


def backlog_left(made: dict[str, dict[str, int]]) -> bool:
    """Whether the run looked at a full batch of late commitments, so more may wait."""
    return made.get(LATE_RULE, {}).get("late", 0) >= settings.SWEEP_LATE_BATCH
