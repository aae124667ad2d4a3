"""Day counting: Swedish holidays, working days and the deadline rules built on them."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import django.conf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import days
from contracts.days import (
    RULES,
    STOCKHOLM,
    DayRule,
    add_months,
    add_working_days,
    easter_sunday,
    is_working_day,
    review_due,
    rule,
    swedish_holidays,
    working_days_between,
)


def sthlm(*args: int) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


THREE_WORKING_DAYS = DayRule(days=3, working_days=True)


# --- Holidays -----------------------------------------------------------------------------


def test_swedish_holidays_2026_are_the_known_dates():
    assert swedish_holidays(2026) == {
        date(2026, 1, 1): "nyårsdagen",
        date(2026, 1, 6): "trettondedag jul",
        date(2026, 4, 3): "långfredagen",
        date(2026, 4, 5): "påskdagen",
        date(2026, 4, 6): "annandag påsk",
        date(2026, 5, 1): "första maj",
        date(2026, 5, 14): "Kristi himmelsfärdsdag",
        date(2026, 5, 24): "pingstdagen",
        date(2026, 6, 6): "Sveriges nationaldag",
        date(2026, 6, 19): "midsommarafton",
        date(2026, 6, 20): "midsommardagen",
        date(2026, 10, 31): "alla helgons dag",
        date(2026, 12, 24): "julafton",
        date(2026, 12, 25): "juldagen",
        date(2026, 12, 26): "annandag jul",
        date(2026, 12, 31): "nyårsafton",
    }


def test_swedish_holidays_2027_move_with_easter_and_the_weekday_rules():
    holidays = swedish_holidays(2027)
    assert holidays[date(2027, 3, 26)] == "långfredagen"
    assert holidays[date(2027, 3, 28)] == "påskdagen"
    assert holidays[date(2027, 3, 29)] == "annandag påsk"
    assert holidays[date(2027, 5, 6)] == "Kristi himmelsfärdsdag"
    assert holidays[date(2027, 5, 16)] == "pingstdagen"
    assert holidays[date(2027, 6, 25)] == "midsommarafton"
    assert holidays[date(2027, 6, 26)] == "midsommardagen"
    assert holidays[date(2027, 11, 6)] == "alla helgons dag"
    assert len(holidays) == 16


@pytest.mark.parametrize(
    "year, easter",
    [
        (2008, date(2008, 3, 23)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter_sunday_matches_known_dates(year, easter):
    assert easter_sunday(year) == easter


def test_eves_are_listed_only_when_asked_for():
    official = swedish_holidays(2026, include_eves=False)
    assert date(2026, 6, 19) not in official
    assert date(2026, 12, 24) not in official
    assert date(2026, 12, 31) not in official
    assert len(official) == 13


def test_holidays_on_the_same_date_keep_both_names():
    # Easter 2008 was 23 March, so Kristi himmelsfärd fell on 1 May.
    assert swedish_holidays(2008)[date(2008, 5, 1)] == "första maj, Kristi himmelsfärdsdag"


def test_returned_holidays_are_a_copy_of_the_cache():
    swedish_holidays(2026).clear()
    assert date(2026, 12, 25) in swedish_holidays(2026)


def test_midsommarafton_is_not_a_working_day_unless_eves_are_excluded():
    assert not is_working_day(date(2026, 6, 19))
    assert is_working_day(date(2026, 6, 19), include_eves=False)
    assert not is_working_day(date(2026, 6, 20), include_eves=False)


def test_weekends_are_not_working_days():
    assert is_working_day(date(2026, 3, 13))  # Friday
    assert not is_working_day(date(2026, 3, 14))
    assert not is_working_day(date(2026, 3, 15))


# --- Working-day arithmetic ---------------------------------------------------------------


def test_add_working_days_over_christmas_and_new_year():
    wednesday_before_christmas = date(2026, 12, 23)
    # 24 Dec (eve), 25, 26 (Sat), 27 (Sun) are skipped.
    assert add_working_days(wednesday_before_christmas, 1) == date(2026, 12, 28)
    assert add_working_days(wednesday_before_christmas, 3) == date(2026, 12, 30)
    # 31 Dec (eve), 1 Jan, the weekend, then 6 Jan (trettondedag jul) are skipped.
    assert add_working_days(wednesday_before_christmas, 4) == date(2027, 1, 4)
    assert add_working_days(wednesday_before_christmas, 6) == date(2027, 1, 7)


def test_add_working_days_counts_eves_when_told_to():
    assert add_working_days(date(2026, 12, 23), 1, include_eves=False) == date(2026, 12, 24)


def test_add_working_days_backwards_and_zero():
    assert add_working_days(date(2026, 4, 7), -1) == date(2026, 4, 2)
    assert add_working_days(date(2026, 4, 4), 0) == date(2026, 4, 4)


def test_working_days_between_is_half_open_and_signed():
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 8)) == 2
    assert working_days_between(date(2026, 4, 8), date(2026, 4, 2)) == -2
    assert working_days_between(date(2026, 4, 8), date(2026, 4, 8)) == 0


# --- Deadlines ----------------------------------------------------------------------------


def test_event_on_friday_afternoon_counts_from_monday():
    friday = sthlm(2026, 3, 13, 14, 30)
    assert THREE_WORKING_DAYS.due_date(friday) == date(2026, 3, 18)
    assert THREE_WORKING_DAYS.deadline(friday) == sthlm(2026, 3, 19)


def test_event_on_saturday_moves_day_zero_to_monday():
    saturday = sthlm(2026, 3, 14, 10, 0)
    assert THREE_WORKING_DAYS.day_zero(saturday) == date(2026, 3, 16)
    assert THREE_WORKING_DAYS.due_date(saturday) == date(2026, 3, 19)


def test_calendar_day_rule_counts_the_weekend():
    rule_ = DayRule(days=3, working_days=False)
    assert rule_.due_date(sthlm(2026, 3, 13, 14, 30)) == date(2026, 3, 16)


def test_maundy_thursday_skips_good_friday_and_easter_monday():
    maundy_thursday = sthlm(2026, 4, 2, 10, 0)
    # Counting from the day after: Tue 7, Wed 8, Thu 9 April.
    assert THREE_WORKING_DAYS.due_date(maundy_thursday) == date(2026, 4, 9)
    # With the event day as day 1: Thu 2, Tue 7, Wed 8 April.
    counted = DayRule(days=3, working_days=True, count_day_zero=True)
    assert counted.due_date(maundy_thursday) == date(2026, 4, 8)


def test_event_before_midsommar_skips_the_eve_and_the_weekend():
    assert DayRule(days=1, working_days=True).due_date(sthlm(2026, 6, 18, 9)) == date(2026, 6, 22)


def test_event_on_midsommarafton_counts_from_the_next_working_day():
    rule_ = DayRule(days=1, working_days=True)
    assert rule_.day_zero(sthlm(2026, 6, 19, 9)) == date(2026, 6, 22)
    assert rule_.due_date(sthlm(2026, 6, 19, 9)) == date(2026, 6, 23)


def test_event_before_christmas_lands_between_the_holidays():
    assert THREE_WORKING_DAYS.due_date(sthlm(2026, 12, 23, 11)) == date(2026, 12, 30)


@pytest.mark.parametrize(
    "event, due",
    [
        (sthlm(2026, 3, 10, 15, 59), date(2026, 3, 11)),
        (sthlm(2026, 3, 10, 16, 0), date(2026, 3, 12)),
        # 14:59 UTC is 15:59 in Stockholm (CET, UTC+1): before the cut-off.
        (datetime(2026, 3, 10, 14, 59, tzinfo=UTC), date(2026, 3, 11)),
        (datetime(2026, 3, 10, 15, 0, tzinfo=UTC), date(2026, 3, 12)),
    ],
)
def test_cutoff_hour_moves_late_events_to_the_next_day(event, due):
    assert DayRule(days=1, working_days=True, cutoff_hour=16).due_date(event) == due


def test_cutoff_on_friday_moves_day_zero_past_the_weekend():
    rule_ = DayRule(days=1, working_days=True, cutoff_hour=16)
    assert rule_.day_zero(sthlm(2026, 3, 13, 16, 30)) == date(2026, 3, 16)
    assert rule_.due_date(sthlm(2026, 3, 13, 16, 30)) == date(2026, 3, 17)


def test_cutoff_on_a_calendar_rule_moves_one_calendar_day():
    rule_ = DayRule(days=1, working_days=False, cutoff_hour=16)
    assert rule_.due_date(sthlm(2026, 3, 13, 16, 30)) == date(2026, 3, 15)


@pytest.mark.parametrize(
    "count_day_zero, due", [(False, date(2026, 3, 12)), (True, date(2026, 3, 11))]
)
def test_day_zero_counted_or_not(count_day_zero, due):
    rule_ = DayRule(days=3, working_days=False, count_day_zero=count_day_zero)
    assert rule_.due_date(sthlm(2026, 3, 9, 8)) == due


def test_a_date_start_is_midnight_stockholm_time():
    assert THREE_WORKING_DAYS.due_date(date(2026, 4, 2)) == date(2026, 4, 9)
    rule_ = DayRule(days=1, working_days=True, cutoff_hour=16)
    assert rule_.due_date(date(2026, 3, 10)) == date(2026, 3, 11)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        THREE_WORKING_DAYS.deadline(datetime(2026, 3, 10, 12))


def test_day_deadline_is_midnight_local_time_even_after_dst_starts():
    deadline = DayRule(days=1, working_days=False).deadline(sthlm(2026, 3, 28, 12))
    assert deadline == sthlm(2026, 3, 30)
    assert deadline.utcoffset() == timedelta(hours=2)


# --- Hour rules and DST -------------------------------------------------------------------


def test_admission_notice_is_24_real_hours_when_clocks_go_forward():
    # DST starts Sunday 29 March 2026 at 02:00: the deadline is 13:00 summer time.
    admitted = sthlm(2026, 3, 28, 12, 0)
    notice = rule("admission_notice", overrides={})
    assert notice.deadline(admitted) == sthlm(2026, 3, 29, 13, 0)
    # Subtract in UTC: Python subtracts same-zone datetimes on the wall clock (25 h here).
    assert notice.deadline(admitted).astimezone(UTC) - admitted.astimezone(UTC) == timedelta(
        hours=24
    )
    assert notice.elapsed(admitted, sthlm(2026, 3, 29, 12, 0)) == 23
    assert not notice.is_overdue(admitted, sthlm(2026, 3, 29, 12, 59))
    assert notice.is_overdue(admitted, sthlm(2026, 3, 29, 13, 0))


def test_admission_notice_is_24_real_hours_when_clocks_go_back():
    # DST ends Sunday 25 October 2026 at 03:00: the deadline is 11:00 winter time.
    admitted = sthlm(2026, 10, 24, 12, 0)
    notice = rule("admission_notice", overrides={})
    assert notice.deadline(admitted) == sthlm(2026, 10, 25, 11, 0)
    assert notice.elapsed(admitted, sthlm(2026, 10, 25, 12, 0)) == 25
    assert notice.due_date(admitted) == date(2026, 10, 25)


def test_overdue_is_judged_in_real_time_during_the_repeated_hour():
    # 02:30 summer time on 24 Oct + 24 h ends at 02:30 summer time on 25 Oct; the
    # wall clock then shows 02:10 again, in winter time, 40 minutes after the deadline.
    notice = rule("admission_notice", overrides={})
    admitted = datetime(2026, 10, 24, 0, 30, tzinfo=UTC)
    assert notice.is_overdue(admitted, datetime(2026, 10, 25, 1, 10, tzinfo=UTC))
    assert not notice.is_overdue(admitted, datetime(2026, 10, 25, 0, 29, tzinfo=UTC))


def test_hour_rule_ending_at_midnight_is_due_the_day_before():
    rule_ = DayRule(days=0, working_days=False, hours=24)
    assert rule_.due_date(sthlm(2026, 3, 10, 0, 0)) == date(2026, 3, 10)


# --- Elapsed and overdue ------------------------------------------------------------------


def test_fixed_contact_escalation_is_overdue_after_the_third_working_day():
    escalation = rule("fixed_contact_escalation", overrides={})
    activated = sthlm(2026, 3, 9, 9, 0)  # Monday
    assert escalation.due_date(activated) == date(2026, 3, 12)
    assert escalation.elapsed(activated, sthlm(2026, 3, 9, 17)) == 0
    assert escalation.elapsed(activated, sthlm(2026, 3, 12, 23, 59)) == 2
    assert not escalation.is_overdue(activated, sthlm(2026, 3, 12, 23, 59))
    assert escalation.elapsed(activated, sthlm(2026, 3, 13, 0, 0)) == 3
    assert escalation.is_overdue(activated, sthlm(2026, 3, 13, 0, 0))


def test_elapsed_does_not_count_the_weekend():
    escalation = rule("fixed_contact_escalation", overrides={})
    friday = sthlm(2026, 3, 13, 9)
    assert escalation.elapsed(friday, sthlm(2026, 3, 16, 12)) == 0
    assert escalation.elapsed(friday, sthlm(2026, 3, 17, 12)) == 1


def test_elapsed_before_the_event_is_zero():
    assert THREE_WORKING_DAYS.elapsed(sthlm(2026, 3, 10, 9), sthlm(2026, 3, 1)) == 0


# --- Named rules and settings -------------------------------------------------------------


def test_named_rules_say_where_their_numbers_come_from():
    assert set(RULES) == {
        "admission_notice",
        "sip_meeting_call",
        "payment_liability",
        "fixed_contact_escalation",
        "next_step_outcome_overdue",
        "emergency_review_overdue",
    }
    assert all(r.reference for r in RULES.values())
    assert RULES["admission_notice"].basis == "law"
    assert RULES["payment_liability"].basis == "agreement"
    assert RULES["fixed_contact_escalation"].basis == "policy"


def test_rule_overrides_change_only_the_named_fields():
    liability = rule("payment_liability", overrides={"payment_liability": {"days": 2}})
    assert liability.days == 2
    assert liability.working_days is True
    assert liability.reference == RULES["payment_liability"].reference


def test_payment_liability_can_follow_the_law_default_of_calendar_days():
    liability = rule("payment_liability", overrides={"payment_liability": {"working_days": False}})
    # Notice on Friday: the law default without an agreement runs over the weekend.
    assert liability.due_date(sthlm(2026, 3, 13, 10)) == date(2026, 3, 16)


def test_rule_override_with_an_unknown_field_is_an_error():
    with pytest.raises(ValueError, match="unknown fields"):
        rule("payment_liability", overrides={"payment_liability": {"dayz": 2}})


def test_unknown_rule_name_is_an_error():
    with pytest.raises(KeyError):
        rule("no_such_rule", overrides={})


def test_rule_uses_defaults_when_django_settings_are_not_configured(monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setattr(django.conf, "settings", django.conf.LazySettings())
    assert rule("sip_meeting_call") == RULES["sip_meeting_call"]


def test_rule_reads_overrides_from_django_settings(monkeypatch):
    fake = SimpleNamespace(NARAVARD_DAY_RULES={"sip_meeting_call": {"working_days": False}})
    monkeypatch.setattr(django.conf, "settings", fake)
    assert rule("sip_meeting_call").working_days is False


def test_next_step_reminders_default_to_48_and_2_hours():
    assert days.next_step_reminder_hours(overrides={}) == (48, 2)
    assert days.next_step_reminder_hours(overrides={"next_step_reminders": [1, 24]}) == (24, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 3, "working_days": True, "basis": "custom"}, "basis"),
        ({"days": 0, "working_days": False, "count_day_zero": True}, "count_day_zero"),
        ({"days": 1, "working_days": False, "hours": 24}, "hour rule"),
        ({"days": 1, "working_days": False, "cutoff_hour": 24}, "cutoff_hour"),
    ],
)
def test_inconsistent_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DayRule(**kwargs)


# --- Review cadence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "agreed_on, profile, due",
    [
        (date(2026, 1, 31), "vulnerable_worried", date(2026, 4, 30)),
        (date(2024, 2, 29), "independent_engaged", date(2025, 2, 28)),
        (date(2026, 8, 31), "anything_else", date(2027, 2, 28)),
        (date(2026, 10, 15), "", date(2027, 4, 15)),
    ],
)
def test_review_due_by_support_profile(agreed_on, profile, due):
    assert review_due(agreed_on, profile, overrides={}) == due


def test_review_months_can_be_overridden():
    overrides = {"review_months": {"default": 4, "vulnerable_worried": 2}}
    assert review_due(date(2026, 1, 15), "vulnerable_worried", overrides) == date(2026, 3, 15)
    assert review_due(date(2026, 1, 15), "other", overrides) == date(2026, 5, 15)
    assert review_due(date(2026, 1, 15), "independent_engaged", overrides) == date(2027, 1, 15)


def test_add_months_crosses_the_year_and_clamps():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)


# --- Properties ---------------------------------------------------------------------------

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
working_dates = dates.map(days.next_working_day)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
day_rules = st.builds(
    DayRule,
    days=st.integers(min_value=1, max_value=30),
    working_days=st.booleans(),
    count_day_zero=st.booleans(),
    cutoff_hour=st.none() | st.integers(min_value=0, max_value=23),
)
any_rules = day_rules | st.builds(
    DayRule, days=st.just(0), working_days=st.just(False), hours=st.integers(0, 200)
)


@given(dates, st.integers(min_value=1, max_value=60))
def test_add_working_days_always_lands_on_a_working_day(d, n):
    assert is_working_day(add_working_days(d, n))


@given(working_dates, st.integers(min_value=-60, max_value=60))
def test_working_days_between_inverts_add_working_days(d, n):
    assert working_days_between(d, add_working_days(d, n)) == n
    assert add_working_days(add_working_days(d, n), -n) == d


@given(any_rules, moments, moments)
def test_deadline_is_monotonic_in_the_start_time(rule_, a, b):
    early, late = sorted([a, b])
    assert rule_.deadline(early).astimezone(UTC) <= rule_.deadline(late).astimezone(UTC)


@given(day_rules, moments, st.integers(min_value=0, max_value=60 * 24 * 60))
def test_overdue_exactly_when_all_counted_days_have_passed(rule_, start, minutes_later):
    now = start + timedelta(minutes=minutes_later)
    assert rule_.is_overdue(start, now) == (rule_.elapsed(start, now) >= rule_.days)
    assert rule_.due_date(start) >= start.astimezone(STOCKHOLM).date()
