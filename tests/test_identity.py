"""Tests for patients.identity: no database, so no django_db marks."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from patients.identity import (
    PERSONNUMMER_OID,
    RESERVNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    IdentityNumber,
    is_valid,
    luhn_check_digit,
    normalise,
    parse,
    validate_identity_number,
    validate_identity_number_or_reserve,
)

# A fixed "today" keeps the century inference in these tests stable.
TODAY = date(2026, 6, 15)

TOLVAN = "191212121212"


def reference_luhn_ok(ten_digits):
    """Written independently of the module: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(ten_digits)):
        value = int(char) * (2 if position % 2 == 1 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def with_check_digit(nine_digits):
    matches = [d for d in "0123456789" if reference_luhn_ok(nine_digits + d)]
    assert len(matches) == 1
    return nine_digits + matches[0]


def build_number(birth, serial, *, coordination=False):
    """The canonical 12 digits for a birth date and a three-digit serial."""
    day = birth.day + (60 if coordination else 0)
    ten = with_check_digit(f"{birth:%y%m}{day:02d}{serial:03d}")
    return f"{birth.year // 100}{ten}"


def age_on(birth, today):
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def code_of(value, **kwargs):
    kwargs.setdefault("today", TODAY)
    with pytest.raises(ValidationError) as excinfo:
        parse(value, **kwargs)
    return excinfo.value.code


# Examples


def test_accepts_tolvan_tolvansson_with_separator():
    number = parse("19121212-1212", today=TODAY)
    assert number == IdentityNumber(
        value=TOLVAN, kind="personnummer", birth_date=date(1912, 12, 12)
    )


def test_accepts_canonical_form_with_default_today():
    assert normalise(TOLVAN) == TOLVAN


def test_display_puts_a_hyphen_before_the_last_four_digits():
    assert parse(TOLVAN, today=TODAY).display == "19121212-1212"


def test_short_form_with_hyphen_means_the_most_recent_century():
    assert normalise("121212-1212", today=TODAY) == "201212121212"


def test_short_form_without_separator_reads_like_hyphen():
    assert normalise("1212121212", today=TODAY) == "201212121212"


def test_short_form_with_plus_means_a_hundred_years_earlier():
    assert normalise("121212+1212", today=TODAY) == TOLVAN


def test_short_form_with_hyphen_never_lands_in_the_future():
    # 2026-12-24 has not happened yet on TODAY, so the number is from 1926.
    nine = "261224123"
    number = parse(f"{nine[:6]}-{with_check_digit(nine)[6:]}", today=TODAY)
    assert number.birth_date == date(1926, 12, 24)


def test_plus_from_the_year_someone_turns_one_hundred():
    # Skatteverket switches to '+' on 1 January of the year the person turns 100,
    # before the birthday itself.
    nine = "261224123"
    number = parse(f"{nine[:6]}+{with_check_digit(nine)[6:]}", today=TODAY)
    assert number.birth_date == date(1926, 12, 24)


def test_strips_surrounding_whitespace():
    assert normalise("  19121212-1212\n", today=TODAY) == TOLVAN


def test_accepts_leap_day_in_a_leap_year():
    value = build_number(date(2000, 2, 29), 123)
    assert parse(value, today=TODAY).birth_date == date(2000, 2, 29)


def test_short_form_leap_day_in_year_2000():
    ten = build_number(date(2000, 2, 29), 123)[2:]
    assert normalise(f"{ten[:6]}-{ten[6:]}", today=TODAY) == "20" + ten


def test_accepts_samordningsnummer_with_sixty_added_to_the_day():
    value = build_number(date(1912, 12, 12), 121, coordination=True)
    assert value[6:8] == "72"
    number = parse(value, today=TODAY)
    assert number.kind == "samordningsnummer"
    assert number.birth_date == date(1912, 12, 12)
    assert number.system == SAMORDNINGSNUMMER_OID


def test_personnummer_system_is_the_national_oid():
    assert parse(TOLVAN, today=TODAY).system == PERSONNUMMER_OID


def test_sex_follows_the_second_last_digit():
    assert parse(TOLVAN, today=TODAY).sex == "male"
    female = build_number(date(1912, 12, 12), 122)
    assert parse(female, today=TODAY).sex == "female"


def test_luhn_check_digit_of_tolvan():
    assert luhn_check_digit("121212121") == 2


def test_luhn_check_digit_refuses_anything_but_nine_ascii_digits():
    for bad in ["12121212", "1212121212", "12121212a", "１２１２１２１２１"]:
        with pytest.raises(ValueError):
            luhn_check_digit(bad)


# Rejections


def test_rejects_wrong_check_digit():
    assert code_of("19121212-1213") == "checksum"


def test_rejects_impossible_day():
    # Day 32 with a correct check digit, so that the date is what fails.
    assert code_of("19" + with_check_digit("121232121")) == "date"


def test_rejects_impossible_month():
    assert code_of("19" + with_check_digit("121312121")) == "date"


def test_rejects_day_between_personnummer_and_samordningsnummer_ranges():
    assert code_of("19" + with_check_digit("121245121")) == "date"


def test_rejects_leap_day_in_a_common_year():
    assert code_of("19" + with_check_digit("230229121")) == "date"


def test_rejects_leap_day_in_1900():
    assert code_of("19" + with_check_digit("000229121")) == "date"


def test_rejects_birth_date_in_the_future():
    assert code_of("20" + with_check_digit("261224121")) == "future"


def test_rejects_tomorrow_but_accepts_today():
    today = date(2026, 6, 15)
    assert is_valid(build_number(today, 123), today=today)
    assert code_of(build_number(date(2026, 6, 16), 123), today=today) == "future"


def test_rejects_centuries_before_1800():
    assert code_of("17" + with_check_digit("991231121")) == "date"


def test_rejects_full_width_digits():
    assert code_of("１９１２１２１２１２１２") == "format"


def test_rejects_arabic_indic_digits():
    assert code_of("١٩١٢١٢١٢١٢١٢") == "format"


def test_rejects_a_single_unicode_digit_among_ascii_ones():
    assert code_of("19121212121٢") == "format"


def test_rejects_letters():
    assert code_of("19121212-121X") == "format"
    assert code_of("abcdefghijkl") == "format"


def test_rejects_empty_and_blank():
    assert code_of("") == "format"
    assert code_of("   ") == "format"


def test_rejects_too_short_and_too_long():
    assert code_of("12121212") == "format"
    assert code_of("12121212121") == "format"
    assert code_of("1912121212120") == "format"


def test_rejects_internal_spaces():
    assert code_of("19121212 1212") == "format"
    assert code_of("191212-12 12") == "format"


def test_rejects_separators_in_the_wrong_place_or_doubled():
    assert code_of("191212-121212") == "format"
    assert code_of("121212--1212") == "format"
    assert code_of("1912-12-12-1212") == "format"


def test_rejects_plus_in_the_twelve_digit_form():
    # The century is explicit there, so '+' carries nothing and may be a typo.
    assert code_of("19121212+1212") == "format"


def test_rejects_trailing_newline_inside_the_match():
    # re's '$' would match before a final newline; the strip and fullmatch both matter.
    assert code_of("19121212-1212\nx") == "format"


def test_rejects_non_strings():
    assert code_of(None) == "format"
    assert code_of(191212121212) == "format"


def test_is_valid_says_no_instead_of_raising():
    assert is_valid("19121212-1212")
    assert not is_valid("19121212-1213")
    assert not is_valid(None)


def test_error_message_asks_for_the_expected_format():
    with pytest.raises(ValidationError) as excinfo:
        parse("nonsense")
    assert "YYYYMMDD-XXXX" in str(excinfo.value.messages[0])


# Reserve numbers


def test_rejects_reserve_number_unless_allowed():
    assert code_of("990101123456") == "format"


def test_accepts_reserve_number_when_allowed_without_a_check_digit():
    number = parse("99010112-3456", today=TODAY, allow_reserve=True)
    assert number.value == "990101123456"
    assert number.kind == "reservnummer"
    assert number.birth_date is None
    assert number.sex is None
    assert number.system == RESERVNUMMER_OID
    assert number.display == "99010112-3456"


def test_allowing_reserve_numbers_still_checks_personnummer():
    assert normalise("19121212-1212", allow_reserve=True) == TOLVAN
    assert code_of("19121212-1213", allow_reserve=True) == "checksum"


def test_reserve_prefix_needs_the_twelve_digit_form():
    # 10 digits starting with 99 is an ordinary personnummer from 1999.
    ten = with_check_digit("990101123")
    assert parse(ten, today=TODAY, allow_reserve=True).kind == "personnummer"


# Field validators


def test_field_validator_accepts_valid_and_raises_for_invalid():
    validate_identity_number("19121212-1212")
    with pytest.raises(ValidationError):
        validate_identity_number("19121212-1213")
    with pytest.raises(ValidationError):
        validate_identity_number("990101123456")


def test_reserve_field_validator_accepts_reserve_numbers():
    validate_identity_number_or_reserve("990101123456")
    with pytest.raises(ValidationError):
        validate_identity_number_or_reserve("19121212-1213")


# Properties


@st.composite
def births(draw):
    """A date of birth from 1890 up to a 'today' that is itself drawn."""
    today = draw(st.dates(date(2000, 1, 1), date(2080, 12, 31)))
    birth = draw(st.dates(date(1890, 1, 1), today))
    return birth, today


serials = st.integers(min_value=0, max_value=999)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_luhn_check_digit_agrees_with_an_independent_implementation(nine):
    assert reference_luhn_ok(nine + str(luhn_check_digit(nine)))


@given(births(), serials)
def test_any_real_number_round_trips_in_every_form(birth_and_today, serial):
    birth, today = birth_and_today
    canonical = build_number(birth, serial)
    ten = canonical[2:]
    separator = "+" if age_on(birth, today) >= 100 else "-"

    for form in [canonical, f"{canonical[:8]}-{canonical[8:]}", f"{ten[:6]}{separator}{ten[6:]}"]:
        number = parse(form, today=today)
        assert number.value == canonical
        assert number.kind == "personnummer"
        assert number.birth_date == birth
        assert parse(number.display, today=today) == number
    if separator == "-":
        assert normalise(ten, today=today) == canonical


@given(births(), serials)
def test_samordningsnummer_gives_the_date_sixty_days_back(birth_and_today, serial):
    birth, today = birth_and_today
    number = parse(build_number(birth, serial, coordination=True), today=today)
    assert number.kind == "samordningsnummer"
    assert number.birth_date == birth


@given(
    births(),
    serials,
    st.integers(min_value=2, max_value=11),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_fails_the_checksum(birth_and_today, serial, position, shift):
    birth, today = birth_and_today
    canonical = build_number(birth, serial)
    changed_digit = str((int(canonical[position]) + shift) % 10)
    changed = canonical[:position] + changed_digit + canonical[position + 1 :]
    assert code_of(changed, today=today) == "checksum"


@given(st.one_of(st.text(), st.from_regex(r"[0-9+\- ١１]{0,14}", fullmatch=True)))
def test_arbitrary_text_raises_nothing_but_validation_error(value):
    try:
        number = parse(value, allow_reserve=True)
    except ValidationError:
        return
    assert len(number.value) == 12
    assert number.value.isascii() and number.value.isdigit()


@given(st.text())
def test_is_valid_never_raises(value):
    assert is_valid(value) in (True, False)
