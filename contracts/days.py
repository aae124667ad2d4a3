"""Day counting for every deadline rule: the one place that knows the calendar.

Reminders, escalations and the discharge deadlines of Lag (2017:612) om samverkan
vid utskrivning från sluten hälso- och sjukvård all count days here, so that
"3 working days" means the same thing in a Celery sweep, a view and a test.

Conventions (read these before writing a rule):

* Time zone is Europe/Stockholm. Functions take aware datetimes (converted to
  Stockholm time) or dates. A date stands for 00:00 Stockholm time on that day.
  Naive datetimes are refused: guessing their zone is how deadlines drift by an hour.
* Day 0 is the local day of the event. With ``cutoff_hour`` an event at or after
  that hour counts as happening on the next day (next working day for working-day
  rules). A working-day rule also moves an event on a weekend or holiday to the
  next working day.
* ``count_day_zero=False`` (the default) starts counting the day after day 0.
* ``due_date`` is the last allowed day; ``deadline`` is the exclusive end of it,
  i.e. 00:00 Stockholm time on the following day. ``now >= deadline`` is overdue.
* Hour rules (``hours`` set) count real elapsed time (UTC), so "24 hours" across a
  DST change is still 24 hours, not the same wall-clock time the next day.
"""

from __future__ import annotations

import calendar
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

BASES = ("law", "agreement", "policy")

_ONE_DAY = timedelta(days=1)


# --- Swedish holidays ---------------------------------------------------------------------


def easter_sunday(year: int) -> date:
    """Easter Sunday (påskdagen), anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leg = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leg) // 451
    month, day = divmod(h + leg - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _weekday_between(year: int, month: int, first_day: int, weekday: int) -> date:
    """The given weekday (Mon=0) in the 7-day window starting at first_day."""
    start = date(year, month, first_day)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def _add(holidays: dict[date, str], day: date, name: str) -> None:
    # Two holidays can share a date (Kristi himmelsfärd fell on 1 May in 2008),
    # so names are joined rather than overwritten.
    holidays[day] = f"{holidays[day]}, {name}" if day in holidays else name


@lru_cache(maxsize=64)
def _official_holidays(year: int) -> tuple[tuple[date, str], ...]:
    """Helgdagar by law (lag 1989:253 om allmänna helgdagar)."""
    easter = easter_sunday(year)
    holidays: dict[date, str] = {}
    for day, name in [
        (date(year, 1, 1), "nyårsdagen"),
        (date(year, 1, 6), "trettondedag jul"),
        (easter - timedelta(days=2), "långfredagen"),
        (easter, "påskdagen"),
        (easter + timedelta(days=1), "annandag påsk"),
        (date(year, 5, 1), "första maj"),
        (easter + timedelta(days=39), "Kristi himmelsfärdsdag"),
        (date(year, 6, 6), "Sveriges nationaldag"),
        (easter + timedelta(days=49), "pingstdagen"),
        (_weekday_between(year, 6, 20, calendar.SATURDAY), "midsommardagen"),
        (_weekday_between(year, 10, 31, calendar.SATURDAY), "alla helgons dag"),
        (date(year, 12, 25), "juldagen"),
        (date(year, 12, 26), "annandag jul"),
    ]:
        _add(holidays, day, name)
    return tuple(sorted(holidays.items()))


@lru_cache(maxsize=64)
def _eves(year: int) -> tuple[tuple[date, str], ...]:
    """Helgaftnar: not holidays by law, but non-working days in practice.

    Collective agreements and municipal/regional services treat them as Sundays, so a
    working-day deadline that landed on julafton would land on an empty office.
    """
    return (
        (_weekday_between(year, 6, 19, calendar.FRIDAY), "midsommarafton"),
        (date(year, 12, 24), "julafton"),
        (date(year, 12, 31), "nyårsafton"),
    )


def swedish_holidays(year: int, include_eves: bool = True) -> dict[date, str]:
    """Swedish holidays in `year`, date -> Swedish name.

    Official helgdagar always; midsommarafton, julafton and nyårsafton too unless
    include_eves is False. Sundays are only listed when they are named holidays.
    """
    holidays = dict(_official_holidays(year))
    if include_eves:
        for day, name in _eves(year):
            _add(holidays, day, name)
    return dict(sorted(holidays.items()))


def is_working_day(d: date, include_eves: bool = True) -> bool:
    """Monday to Friday and not a holiday (nor, by default, a helgafton)."""
    if isinstance(d, datetime):
        d = _local(d).date()
    return d.weekday() < 5 and d not in swedish_holidays(d.year, include_eves)


def next_working_day(d: date, include_eves: bool = True) -> date:
    """`d` itself if it is a working day, else the first working day after it."""
    while not is_working_day(d, include_eves):
        d += _ONE_DAY
    return d


def add_working_days(d: date, n: int, include_eves: bool = True) -> date:
    """The n-th working day after `d` (before it when n < 0); `d` itself when n == 0.

    `d` need not be a working day: from a Saturday, 1 working day is the Monday.
    """
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        d += step
        if is_working_day(d, include_eves):
            remaining -= 1
    return d


def working_days_between(a: date, b: date, include_eves: bool = True) -> int:
    """Working days in (a, b]: after `a`, up to and including `b`; negative if b < a.

    The half-open interval makes it the inverse of add_working_days:
    working_days_between(d, add_working_days(d, n)) == n.
    """
    if b < a:
        return -working_days_between(b, a, include_eves)
    count = 0
    d = a + _ONE_DAY
    while d <= b:
        count += is_working_day(d, include_eves)
        d += _ONE_DAY
    return count


def add_months(d: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    year, month_index = divmod(d.month - 1 + months, 12)
    year += d.year
    month = month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last_day))


# --- Rules --------------------------------------------------------------------------------


def _local(moment: datetime | date) -> datetime:
    """An aware Stockholm datetime; a plain date means 00:00 Stockholm time that day."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment!r}: pass an aware datetime or a date")
        return moment.astimezone(STOCKHOLM)
    return datetime.combine(moment, time(0), tzinfo=STOCKHOLM)


@dataclass(frozen=True)
class DayRule:
    """A deadline counted from an event, in days (calendar or working) or in hours.

    days: how many days to count; working_days: skip weekends and holidays.
    count_day_zero: the event's own day counts as day 1.
    cutoff_hour: events at or after this local hour count from the next day.
    hours: when set, the rule is "this many real hours after the event" and the
        day fields must stay at their neutral values (days=0, calendar days).
    basis: "law", "agreement" (regional agreement under the law) or "policy" (ours).
    reference: where the number comes from.
    """

    days: int
    working_days: bool
    count_day_zero: bool = False
    cutoff_hour: int | None = None
    basis: str = "policy"
    reference: str = ""
    hours: int | None = None

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, not {self.basis!r}")
        if self.cutoff_hour is not None and not 0 <= self.cutoff_hour <= 23:
            raise ValueError(f"cutoff_hour must be 0-23, not {self.cutoff_hour}")
        if self.hours is not None:
            if self.hours < 0:
                raise ValueError("hours must not be negative")
            if (
                self.days
                or self.working_days
                or self.count_day_zero
                or self.cutoff_hour is not None
            ):
                raise ValueError("an hour rule takes no days, working_days, day 0 or cut-off")
            return
        if self.days < 0:
            raise ValueError("days must not be negative")
        if self.count_day_zero and self.days < 1:
            # Counting day 0 as day 1 of 0 days would put the deadline before the event.
            raise ValueError("count_day_zero needs days >= 1")

    def day_zero(self, start: datetime | date) -> date:
        """The day counting is anchored to, after the cut-off and non-working-day moves."""
        local = _local(start)
        day = local.date()
        if self.cutoff_hour is not None and local.hour >= self.cutoff_hour:
            day += _ONE_DAY
        if self.working_days:
            day = next_working_day(day)
        return day

    def due_date(self, start: datetime | date) -> date:
        """The last day on which the deadline is still met."""
        if self.hours is not None:
            # The day holding the last allowed instant, so that a deadline at exactly
            # 00:00 belongs to the day before, as it does for day rules.
            return (self.deadline(start) - timedelta(microseconds=1)).date()
        day0 = self.day_zero(start)
        counted = self.days - 1 if self.count_day_zero else self.days
        if self.working_days:
            return add_working_days(day0, counted)
        return day0 + timedelta(days=counted)

    def deadline(self, start: datetime | date) -> datetime:
        """The first instant (Stockholm time) at which the deadline is missed."""
        if self.hours is not None:
            # Add in UTC: aware arithmetic in one zone is wall-clock arithmetic in
            # Python, which would make 24 h across a DST change 23 or 25 real hours.
            utc = _local(start).astimezone(UTC) + timedelta(hours=self.hours)
            return utc.astimezone(STOCKHOLM)
        return datetime.combine(self.due_date(start) + _ONE_DAY, time(0), tzinfo=STOCKHOLM)

    def elapsed(self, start: datetime | date, now: datetime | date) -> int:
        """Counted units fully passed by `now`: days for day rules, hours for hour rules.

        For day rules a counted day has passed once `now` is on a later local day,
        so elapsed(start, now) >= days exactly when the rule is overdue.
        """
        if self.hours is not None:
            seconds = (_local(now).astimezone(UTC) - _local(start).astimezone(UTC)).total_seconds()
            return max(0, int(seconds // 3600))
        day0 = self.day_zero(start)
        first_counted = day0 if self.count_day_zero else day0 + _ONE_DAY
        today = _local(now).date()
        if today <= first_counted:
            return 0
        if self.working_days:
            # Working days in [first_counted, today), written in the (a, b] form.
            return working_days_between(first_counted - _ONE_DAY, today - _ONE_DAY)
        return (today - first_counted).days

    def is_overdue(self, start: datetime | date, now: datetime | date) -> bool:
        # Compare in UTC: same-zone comparison ignores `fold` and would misjudge the
        # hour that happens twice when DST ends.
        return _local(now).astimezone(UTC) >= self.deadline(start).astimezone(UTC)

    def overdue_before(self, now: datetime) -> datetime:
        """The instant X such that an event is overdue at `now` exactly when it began before X.

        A SQL sweep cannot call this module, so it filters `start < X` with X computed
        here: one statement, and the calendar rules still live in one place. The
        deadline only changes at local midnight and at the cut-off hour, and moves
        forward with the event, so walking back over those boundaries finds X.
        """
        if self.hours is not None:
            # Overdue at exactly `hours` after the start, so the start itself is included:
            # one microsecond later is "before" at the resolution of Python and PostgreSQL.
            utc = _local(now).astimezone(UTC) - timedelta(hours=self.hours, microseconds=-1)
            return utc.astimezone(STOCKHOLM)
        end = _local(now)
        day = end.date()
        # Deadlines are at most `days` working days plus the holidays between away;
        # ten years back is far beyond any rule and only guards against a bad rule.
        for _ in range(3660):
            starts = [datetime.combine(day, time(0), tzinfo=STOCKHOLM)]
            if self.cutoff_hour is not None:
                starts.append(datetime.combine(day, time(self.cutoff_hour), tzinfo=STOCKHOLM))
            for start in reversed(starts):
                if start >= end:
                    continue
                if self.is_overdue(start, now):
                    return end
                end = start
            day -= _ONE_DAY
        raise ValueError(f"no overdue start found for {self!r}")


# Every default names its basis so a reader can tell law from local choice. Regions
# and municipalities agree their own numbers; settings.NARAVARD_DAY_RULES overrides
# any field by rule name, e.g. {"payment_liability": {"days": 2}}.
RULES: dict[str, DayRule] = {
    # Inskrivningsmeddelande no later than 24 h after admission (or after the
    # physician's later assessment that the patient will need support).
    "admission_notice": DayRule(
        days=0,
        working_days=False,
        hours=24,
        basis="law",
        reference="Lag (2017:612), inskrivningsmeddelande inom 24 timmar",
    ),
    # The fixed care contact calls the SIP meeting "inom tre dagar" of the
    # ready-for-discharge notice. The law does not say which days; working days is
    # our default and the regional agreement decides.
    "sip_meeting_call": DayRule(
        days=3,
        working_days=True,
        basis="law",
        reference="Lag (2017:612), kallelse till SIP inom tre dagar; dagtyp enligt "
        "regional överenskommelse",
    ),
    # Law default where no agreement: the municipality pays from three *calendar*
    # days after the ready-for-discharge notice. Most regions agree otherwise, and
    # 3 working days is the common agreed form, hence the default here.
    "payment_liability": DayRule(
        days=3,
        working_days=True,
        basis="agreement",
        reference="Lag (2017:612) 5 kap.; lagens utfall utan överenskommelse: tre kalenderdagar",
    ),
    # Our policy (DESIGN §3): an active plan without a fixed care contact
    # (fast vårdkontakt) is escalated to the unit's coordinators.
    "fixed_contact_escalation": DayRule(
        days=3, working_days=True, basis="policy", reference="DESIGN.md §3"
    ),
    # Our policy (issue 15): an emergency read (nödåtkomst) not reviewed within 5
    # working days becomes a follow-up task for the patient's own care team.
    "emergency_review_overdue": DayRule(
        days=5, working_days=True, basis="policy", reference="issue 15"
    ),
    # Our policy (DESIGN §3): a next step passed without a recorded outcome.
    "next_step_outcome_overdue": DayRule(
        days=0, working_days=False, hours=24, basis="policy", reference="DESIGN.md §3"
    ),
}

# Our policy (DESIGN §3): remind the patient 48 h and 2 h before a next step.
NEXT_STEP_REMINDER_HOURS: tuple[int, ...] = (48, 2)

# Our policy (DESIGN §3): plan review cadence in months by support profile.
REVIEW_MONTHS: dict[str, int] = {"vulnerable_worried": 3, "independent_engaged": 12}
DEFAULT_REVIEW_MONTHS = 6


def _settings_overrides() -> dict[str, Any]:
    # Imported and read here, not at module import, so this module works (and is
    # testable) without Django settings; unconfigured settings mean the defaults.
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return dict(getattr(settings, "NARAVARD_DAY_RULES", None) or {})
    except ImproperlyConfigured:
        return {}


def rule(name: str, overrides: dict[str, Any] | None = None) -> DayRule:
    """The named rule with overrides applied (from settings.NARAVARD_DAY_RULES by default).

    Pass `overrides` (same shape as the setting) to bypass settings, e.g. in tests.
    """
    base = RULES[name]
    if overrides is None:
        overrides = _settings_overrides()
    changes = overrides.get(name) or {}
    unknown = set(changes) - {f.name for f in dataclasses.fields(DayRule)}
    if unknown:
        raise ValueError(f"NARAVARD_DAY_RULES[{name!r}] has unknown fields {sorted(unknown)}")
    return dataclasses.replace(base, **changes)


def next_step_reminder_hours(overrides: dict[str, Any] | None = None) -> tuple[int, ...]:
    """Hours before a next step at which to remind, largest first."""
    if overrides is None:
        overrides = _settings_overrides()
    hours = overrides.get("next_step_reminders", NEXT_STEP_REMINDER_HOURS)
    return tuple(sorted(hours, reverse=True))


def review_months(support_profile: str, overrides: dict[str, Any] | None = None) -> int:
    """Months between plan reviews; NARAVARD_DAY_RULES["review_months"] may override
    per profile, with the key "default" for profiles not listed."""
    if overrides is None:
        overrides = _settings_overrides()
    months = {"default": DEFAULT_REVIEW_MONTHS, **REVIEW_MONTHS}
    months.update(overrides.get("review_months") or {})
    return months.get(support_profile, months["default"])


def review_due(
    agreed_on: date, support_profile: str, overrides: dict[str, Any] | None = None
) -> date:
    """The date the plan agreed on `agreed_on` is due for review."""
    return add_months(agreed_on, review_months(support_profile, overrides))


# --- Reminder intensity and quiet hours ---------------------------------------------------

# Our policy: how much a support profile (SKR group) is reminded. "all" gets every
# next-step reminder in next_step_reminder_hours(), "first" only the earliest one.
# `call` puts "call the patient before the next step" on the fixed care contact's
# list when the first reminder goes out. Override per profile with
# NARAVARD_DAY_RULES["reminder_intensity"] = {"worried_engaged": {"reminders": "first"}}.
REMINDER_INTENSITY: dict[str, dict[str, Any]] = {
    "independent_engaged": {"reminders": "first", "call": False},
    "worried_engaged": {"reminders": "all", "call": False},
    "traditional_unconcerned": {"reminders": "all", "call": False},
    "vulnerable_worried": {"reminders": "all", "call": True},
}

# Our policy: no text messages from 21:00 to 08:00 Stockholm time; they wait until 08:00.
SMS_QUIET_HOURS: tuple[int, int] = (21, 8)


def reminder_intensity(
    support_profile: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """{"hours": reminder hours before a next step, largest first, "call": bool}."""
    if overrides is None:
        overrides = _settings_overrides()
    policy = {**REMINDER_INTENSITY.get(support_profile, REMINDER_INTENSITY["worried_engaged"])}
    policy.update((overrides.get("reminder_intensity") or {}).get(support_profile) or {})
    hours = next_step_reminder_hours(overrides)
    if policy["reminders"] == "first":
        hours = hours[:1]
    return {"hours": hours, "call": bool(policy["call"])}


def sms_allowed_from(moment: datetime, overrides: dict[str, Any] | None = None) -> datetime:
    """The first instant at or after `moment` at which a text message may be sent.

    NARAVARD_DAY_RULES["sms_quiet_hours"] = (from_hour, until_hour) changes the quiet
    hours; equal hours mean none."""
    if overrides is None:
        overrides = _settings_overrides()
    quiet_from, quiet_until = overrides.get("sms_quiet_hours", SMS_QUIET_HOURS)
    local = _local(moment)
    over_midnight = quiet_from > quiet_until
    if over_midnight:
        quiet = local.hour >= quiet_from or local.hour < quiet_until
    else:
        quiet = quiet_from <= local.hour < quiet_until
    if not quiet:
        return local
    # In the evening part of quiet hours that span midnight, the morning is tomorrow.
    day = local.date() + _ONE_DAY if over_midnight and local.hour >= quiet_from else local.date()
    return datetime.combine(day, time(quiet_until), tzinfo=STOCKHOLM)
