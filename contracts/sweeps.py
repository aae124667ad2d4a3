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
coordinators share it out). The statement that creates tasks also queues, in the
same statement (a data-modifying CTE), an e-mail to each person they concern, at
most one per person per day: a unit's first sweep can find hundreds of late
commitments, and one "you have new follow-up tasks" is worth more than hundreds.

The SQL is PostgreSQL's (data-modifying CTEs, unnest, make_interval); on another
database the sweeps log a warning and do nothing.

Hook for discharge and SIP deadlines (Lag 2017:612, a later issue): write the
SELECT of what is due, with `days.rule("sip_meeting_call").overdue_before(now)` as
the cut-off, add a FollowUpTask kind, and pass it to `_tasks_and_tell` in a new
rule function listed in RULES.
"""

import logging
from collections import Counter
from datetime import datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from patients.models import SupportProfile

from . import days

log = logging.getLogger(__name__)

# The fixed care contact (fast vårdkontakt) of plan `c`, and the patient's
# primary-care unit (vårdcentral) on the care team with consent, as `fcc` and `pcu`.
RESPONSIBLE = """
    LEFT JOIN contracts_fixedcarecontact fcc ON fcc.contract_id = c.id AND fcc.ended_on IS NULL
    LEFT JOIN LATERAL (
        SELECT min(team.organisation_id) AS organisation_id
        FROM patients_careteammember team
        JOIN actors_organisation unit
            ON unit.id = team.organisation_id AND unit.kind = 'primary_care'
        JOIN patients_consent consent
            ON consent.patient_id = team.patient_id
            AND consent.organisation_id = team.organisation_id
            AND consent.status = 'given'
        WHERE team.patient_id = c.patient_id AND team.active
    ) pcu ON true
"""

NOTIFICATION_COLUMNS = """
    dedupe_key, kind, channel, recipient_user_id, recipient_patient_id, address,
    contract_id, next_step_id, commitment_id, follow_up_id, subject, body,
    due_at, expires_at, status, attempts, last_error, created_at
"""

# `due` yields (dedupe_key, kind, contract_id, next_step_id, commitment_id,
# assigned_organisation_id, assigned_staff_id, due_at). New tasks are announced by
# e-mail to the assigned staff member, or to the assigned unit's coordinators; the
# key holds the day, so a person gets one such e-mail a day (policy).
TASKS_AND_TELL = """
WITH due (dedupe_key, kind, contract_id, next_step_id, commitment_id,
          assigned_organisation_id, assigned_staff_id, due_at) AS ({due}),
new_task AS (
    INSERT INTO contracts_followuptask
        (dedupe_key, kind, contract_id, next_step_id, commitment_id,
         assigned_organisation_id, assigned_staff_id, due_at, status, created_at)
    SELECT dedupe_key, kind, contract_id, next_step_id, commitment_id,
           assigned_organisation_id, assigned_staff_id, due_at, 'open', %(now)s
    FROM due
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, contract_id, assigned_organisation_id, assigned_staff_id
),
told AS (
    INSERT INTO contracts_notification ({columns})
    SELECT DISTINCT ON (u.id)
           'follow_ups:' || u.id || ':' || %(day)s, 'follow_up', 'email', u.id, NULL, u.email,
           NULL, NULL, NULL, t.id, '', '',
           %(now)s, NULL, 'pending', 0, '', %(now)s
    FROM new_task t
    CROSS JOIN LATERAL (
        SELECT t.assigned_staff_id AS user_id WHERE t.assigned_staff_id IS NOT NULL
        UNION ALL
        SELECT m.user_id FROM actors_membership m
        WHERE t.assigned_staff_id IS NULL AND m.organisation_id = t.assigned_organisation_id
          AND m.role = 'coordinator' AND m.active
    ) told_whom
    JOIN actors_user u ON u.id = told_whom.user_id AND u.is_active AND u.email <> ''
    ORDER BY u.id, t.id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_task), (SELECT count(*) FROM told)
"""


def _compose(*fragments: str) -> str:
    """Join this module's constant SQL fragments; values always go in as parameters."""
    return "\n".join(fragments)


def _tasks_and_tell(cursor, due_sql: str, params: dict) -> Counter:
    sql = TASKS_AND_TELL.format(due=due_sql, columns=NOTIFICATION_COLUMNS)
    day = timezone.localdate(params["now"]).isoformat()
    cursor.execute(sql, {**params, "day": day})
    tasks, notifications = cursor.fetchone()
    return Counter(tasks=tasks, notifications=notifications)


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


COMMITMENT_DUE = _compose(
    "INSERT INTO contracts_notification (",
    NOTIFICATION_COLUMNS,
    ")",
    """
    SELECT 'commitment_due:' || m.id || ':' || to_char(m.due_date, 'YYYY-MM-DD') || ':' || o.who,
           'commitment_due', o.channel, o.user_id, o.patient_id, o.address,
           c.id, NULL, m.id, NULL, '', '',
           %(now)s, %(expires)s, 'pending', 0, '', %(now)s
    FROM contracts_commitment m
    JOIN contracts_contract c ON c.id = m.contract_id AND c.status = 'active'
    JOIN patients_patient p ON p.id = c.patient_id
    CROSS JOIN LATERAL (
        -- Self-care (egenvård): the patient, by the channel they chose.
        SELECT 'patient' AS who, p.preferred_channel AS channel, NULL::bigint AS user_id,
               p.id AS patient_id,
               CASE p.preferred_channel WHEN 'sms' THEN p.phone ELSE p.email END AS address
        WHERE m.owner_kind = 'patient'
        UNION ALL
        -- A relative who can log in to see the plan: by text when we have a number.
        SELECT 'relative' || r.id, CASE WHEN r.phone <> '' THEN 'sms' ELSE 'email' END,
               r.user_id, NULL, CASE WHEN r.phone <> '' THEN r.phone ELSE r.email END
        FROM patients_relative r
        WHERE m.owner_kind = 'relative' AND r.id = m.owner_relative_id
          AND r.user_id IS NOT NULL AND r.access <> 'none'
        UNION ALL
        -- A named staff member; for an organisation, its staff named on this
        -- patient's care team, or its coordinators when the team names nobody there.
        SELECT 'user' || u.id, 'email', u.id, NULL, u.email
        FROM actors_user u
        WHERE u.is_active AND (
            (m.owner_kind = 'staff' AND u.id = m.owner_staff_id)
            OR (m.owner_kind = 'organisation' AND u.id IN (
                SELECT named.staff_id FROM patients_careteammember named
                WHERE named.patient_id = c.patient_id
                  AND named.organisation_id = m.owner_organisation_id
                  AND named.active AND named.staff_id IS NOT NULL
                UNION
                SELECT coordinator.user_id FROM actors_membership coordinator
                WHERE coordinator.organisation_id = m.owner_organisation_id
                  AND coordinator.role = 'coordinator' AND coordinator.active
                  AND NOT EXISTS (
                      SELECT 1 FROM patients_careteammember named
                      WHERE named.patient_id = c.patient_id
                        AND named.organisation_id = m.owner_organisation_id
                        AND named.active AND named.staff_id IS NOT NULL
                  )
            ))
        )
    ) o
    WHERE m.status = 'open' AND m.due_date = %(tomorrow)s
      AND o.channel IN ('sms', 'email') AND o.address <> ''
    ON CONFLICT (dedupe_key) DO NOTHING
    """,
)


def commitments_due_tomorrow(cursor, now: datetime) -> Counter:
    """Policy: the day before a commitment is due, remind whoever owns it."""
    tomorrow = timezone.localdate(now) + timedelta(days=1)
    # Worth sending until the due day is over.
    expires = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=days.STOCKHOLM)
    cursor.execute(COMMITMENT_DUE, {"now": now, "tomorrow": tomorrow, "expires": expires})
    return Counter(notifications=cursor.rowcount)


# --- Follow-up tasks for staff ---------------------------------------------------------------


def next_steps_without_outcome(cursor, now: datetime) -> Counter:
    """Policy: a next step passed 24 h ago with no recorded outcome."""
    due = _compose(
        """
        SELECT 'next_step_no_outcome:' || s.id, 'next_step_no_outcome', c.id, s.id,
               NULL::bigint, coalesce(fcc.organisation_id, pcu.organisation_id),
               fcc.staff_id, %(now)s::timestamptz
        FROM contracts_nextstep s
        JOIN contracts_contract c ON c.id = s.contract_id AND c.status = 'active'
        """,
        RESPONSIBLE,
        """
        WHERE s.status = 'planned' AND s.scheduled_at < %(cutoff)s
        """,
    )
    cutoff = days.rule("next_step_outcome_overdue").overdue_before(now)
    return _tasks_and_tell(cursor, due, {"now": now, "cutoff": cutoff})


def plans_without_care_contact(cursor, now: datetime) -> Counter:
    """Policy: an active plan still without a fixed care contact after 3 working days
    goes to the coordinators of the patient's primary-care unit."""
    due = _compose(
        """
        SELECT 'no_care_contact:' || c.id, 'no_care_contact', c.id, NULL::bigint,
               NULL::bigint, pcu.organisation_id, NULL::bigint, %(now)s::timestamptz
        FROM contracts_contract c
        """,
        RESPONSIBLE,
        """
        WHERE c.status = 'active' AND c.created_at < %(cutoff)s AND fcc.id IS NULL
        """,
    )
    cutoff = days.rule("fixed_contact_escalation").overdue_before(now)
    return _tasks_and_tell(cursor, due, {"now": now, "cutoff": cutoff})


def overdue_commitments(cursor, now: datetime) -> Counter:
    """Policy: an open commitment past its date is followed up by the fixed care contact."""
    due = _compose(
        """
        SELECT 'commitment_overdue:' || m.id || ':' || to_char(m.due_date, 'YYYY-MM-DD'),
               'commitment_overdue', c.id, NULL::bigint, m.id,
               coalesce(fcc.organisation_id, pcu.organisation_id), fcc.staff_id,
               %(now)s::timestamptz
        FROM contracts_commitment m
        JOIN contracts_contract c ON c.id = m.contract_id AND c.status = 'active'
        """,
        RESPONSIBLE,
        """
        WHERE m.status = 'open' AND m.due_date < %(today)s
          -- Skip tasks already made before finding who is responsible: a repeat sweep
          -- then costs one index probe per late commitment (issue 7, make bench).
          AND NOT EXISTS (
              SELECT 1 FROM contracts_followuptask done
              WHERE done.dedupe_key =
                  'commitment_overdue:' || m.id || ':' || to_char(m.due_date, 'YYYY-MM-DD'))
        """,
    )
    return _tasks_and_tell(cursor, due, {"now": now, "today": timezone.localdate(now)})


def reviews_due(cursor, now: datetime) -> Counter:
    """Policy: review the plan every 6 months; 3 for vulnerable_worried, 12 for
    independent_engaged. The plan's own review date wins; a plan without one counts
    from when it was agreed (or made) by the patient's profile, as days.review_due."""
    due = _compose(
        """
        SELECT 'review_due:' || c.id || ':' || to_char(r.review_on, 'YYYY-MM-DD'),
               'review_due', c.id, NULL::bigint, NULL::bigint,
               coalesce(fcc.organisation_id, pcu.organisation_id), fcc.staff_id,
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
        ) r
        """,
        RESPONSIBLE,
        """
        WHERE c.status = 'active' AND r.review_on <= %(today)s
        """,
    )
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
    due = _compose(
        """
        SELECT 'call_before_next_step:' || s.id, 'call_before_next_step', c.id, s.id,
               NULL::bigint, coalesce(fcc.organisation_id, pcu.organisation_id),
               fcc.staff_id, s.scheduled_at
        FROM contracts_nextstep s
        JOIN contracts_contract c ON c.id = s.contract_id AND c.status = 'active'
        JOIN patients_patient p ON p.id = c.patient_id
        JOIN unnest(%(profiles)s::text[], %(hours)s::int[]) AS r(profile, hours)
            ON r.profile = p.support_profile
        """,
        RESPONSIBLE,
        """
        WHERE s.status = 'planned' AND s.scheduled_at > %(now)s
          AND s.scheduled_at <= %(now)s + make_interval(hours => r.hours)
        """,
    )
    profiles, hours = (list(column) for column in zip(*callers, strict=True))
    return _tasks_and_tell(cursor, due, {"now": now, "profiles": profiles, "hours": hours})


CLOSE_RESOLVED = """
    UPDATE contracts_followuptask t SET status = 'done', done_at = %(now)s
    WHERE t.status = 'open' AND (
        (t.kind = 'next_step_no_outcome' AND NOT EXISTS (
            SELECT 1 FROM contracts_nextstep s WHERE s.id = t.next_step_id AND s.status = 'planned'
        ))
        OR (t.kind = 'call_before_next_step' AND NOT EXISTS (
            SELECT 1 FROM contracts_nextstep s
            WHERE s.id = t.next_step_id AND s.status = 'planned' AND s.scheduled_at > %(now)s
        ))
        OR (t.kind = 'commitment_overdue' AND NOT EXISTS (
            -- still open, still late, and still due on the date the task was made for
            SELECT 1 FROM contracts_commitment m
            WHERE m.id = t.commitment_id AND m.status = 'open' AND m.due_date < %(today)s
              AND t.dedupe_key = 'commitment_overdue:' || m.id || ':'
                                 || to_char(m.due_date, 'YYYY-MM-DD')
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
        OR EXISTS (
            SELECT 1 FROM contracts_contract c WHERE c.id = t.contract_id AND c.status = 'closed'
        )
    )
"""


def close_resolved_follow_ups(cursor, now: datetime) -> Counter:
    """A task whose cause went away (outcome recorded, contact assigned, commitment done,
    plan reviewed or closed) leaves the worklists by itself."""
    cursor.execute(CLOSE_RESOLVED, {"now": now, "today": timezone.localdate(now)})
    return Counter(closed=cursor.rowcount)


RULES = [
    next_step_reminders,
    commitments_due_tomorrow,
    next_steps_without_outcome,
    plans_without_care_contact,
    overdue_commitments,
    reviews_due,
    calls_before_next_step,
    close_resolved_follow_ups,
]


def run_all(now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Run every rule once, one statement each; returns what each rule made."""
    if connection.vendor != "postgresql":
        log.warning("the reminder sweeps need PostgreSQL; skipped on %s", connection.vendor)
        return {}
    now = now or timezone.now()
    made = {}
    with connection.cursor() as cursor:
        for sweep in RULES:
            made[sweep.__name__] = dict(sweep(cursor, now))
    return made
