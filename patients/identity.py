"""Swedish identity numbers for patients, and the one place they are normalised.

Three kinds are understood:

- personal identity number (personnummer): YYYYMMDD-NNNC, or YYMMDD-NNNC where
  the separator is optional and becomes '+' from the year the person turns 100;
- coordination number (samordningsnummer): the same, with 60 added to the day;
- reserve number (reservnummer): only when the caller passes ``allow_reserve=True``.
  Reserve numbers are regional, not national, and their formats differ between
  regions. This module accepts only the 12-digit form starting with one of
  ``RESERVE_PREFIXES`` and checks neither a date nor a check digit in it.

The canonical form, stored and compared everywhere, is 12 ASCII digits with no
separator ('191212121212'). Everything else is rejected with a ValidationError
whose code says why: 'format', 'checksum', 'date' or 'future'.
"""

import re
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

PERSONNUMMER = "personnummer"
SAMORDNINGSNUMMER = "samordningsnummer"
RESERVNUMMER = "reservnummer"

# FHIR Identifier.system values.
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"
# Reserve numbers have no national OID: each region registers its own, so this
# one is right for one region only and must be revisited when we add another.
RESERVNUMMER_OID = "urn:oid:1.2.752.97.3.1.3"

# No personnummer has a century of 98 or 99, so these cannot clash with one.
RESERVE_PREFIXES = ("98", "99")

# Skatteverket stores centuries 18, 19 and 20 only.
EARLIEST_BIRTH_YEAR = 1800

SAMORDNING_DAY_OFFSET = 60

_SYSTEMS = {
    PERSONNUMMER: PERSONNUMMER_OID,
    SAMORDNINGSNUMMER: SAMORDNINGSNUMMER_OID,
    RESERVNUMMER: RESERVNUMMER_OID,
}

# [0-9], not \d: str.isdigit() and \d without re.ASCII accept full-width and
# Arabic-Indic digits, which int() would then quietly turn into a valid number.
_LONG_FORM = re.compile(r"([0-9]{8})(-?)([0-9]{4})", re.ASCII)
_SHORT_FORM = re.compile(r"([0-9]{6})([-+]?)([0-9]{4})", re.ASCII)
_NINE_DIGITS = re.compile(r"[0-9]{9}", re.ASCII)

FORMAT_MESSAGE = _("Enter a personal identity number as YYYYMMDD-XXXX.")
RESERVE_NOT_ALLOWED_MESSAGE = _("Reserve numbers are not accepted here.")
CHECKSUM_MESSAGE = _("The last digit of the number does not match. Check it for a typo.")
DATE_MESSAGE = _("The number does not contain a real date of birth.")
FUTURE_MESSAGE = _("The date of birth in the number is in the future.")


@dataclass(frozen=True)
class IdentityNumber:
    """A checked identity number in canonical form.

    ``birth_date`` is the date written in the number. Skatteverket sometimes
    gives a nearby day when a day runs out of numbers, so it is usually, not
    always, the real date of birth. It is None for reserve numbers.
    """

    value: str
    kind: str
    birth_date: date | None

    @property
    def display(self) -> str:
        return f"{self.value[:8]}-{self.value[8:]}"

    @property
    def sex(self) -> str | None:
        # The legal sex when the number was given; a change gives a new number.
        if self.kind == RESERVNUMMER:
            return None
        return "female" if int(self.value[10]) % 2 == 0 else "male"

    @property
    def system(self) -> str:
        return _SYSTEMS[self.kind]


def luhn_check_digit(nine_digits: str) -> int:
    """The check digit for YYMMDDNNN (modulus 10, weights 2 and 1)."""
    if not isinstance(nine_digits, str) or not _NINE_DIGITS.fullmatch(nine_digits):
        raise ValueError("luhn_check_digit needs exactly nine ASCII digits")
    total = 0
    for position, char in enumerate(nine_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def parse(value: str, *, today: date | None = None, allow_reserve: bool = False) -> IdentityNumber:
    """Check ``value`` and return it as an IdentityNumber, or raise ValidationError."""
    today = today or date.today()
    if not isinstance(value, str):
        raise ValidationError(FORMAT_MESSAGE, code="format")
    text = value.strip()

    if long_form := _LONG_FORM.fullmatch(text):
        digits = long_form[1] + long_form[3]
        if digits.startswith(RESERVE_PREFIXES):
            if not allow_reserve:
                raise ValidationError(RESERVE_NOT_ALLOWED_MESSAGE, code="format")
            return IdentityNumber(value=digits, kind=RESERVNUMMER, birth_date=None)
        century, ten, separator = digits[:2], digits[2:], None
    elif short_form := _SHORT_FORM.fullmatch(text):
        century, ten, separator = None, short_form[1] + short_form[3], short_form[2]
    else:
        raise ValidationError(FORMAT_MESSAGE, code="format")

    # Checked before the date so that any one mistyped digit reports as a typo.
    if int(ten[9]) != luhn_check_digit(ten[:9]):
        raise ValidationError(CHECKSUM_MESSAGE, code="checksum")

    yy, month, day = int(ten[0:2]), int(ten[2:4]), int(ten[4:6])
    kind = PERSONNUMMER
    if day > SAMORDNING_DAY_OFFSET:
        kind, day = SAMORDNINGSNUMMER, day - SAMORDNING_DAY_OFFSET

    if century is None:
        year = _infer_year(yy, month, day, separator, today)
    else:
        year = int(century) * 100 + yy
    if year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(DATE_MESSAGE, code="date")
    try:
        birth_date = date(year, month, day)
    except ValueError:
        raise ValidationError(DATE_MESSAGE, code="date") from None
    if birth_date > today:
        raise ValidationError(FUTURE_MESSAGE, code="future")

    return IdentityNumber(value=f"{year // 100}{ten}", kind=kind, birth_date=birth_date)


def _infer_year(yy: int, month: int, day: int, separator: str, today: date) -> int:
    """The full birth year for a 10-digit number."""
    if separator == "+":
        # '+' is used from the year the person turns 100 (folkbokföringslagen 18 §),
        # so the year is the latest one ending in YY at least 100 years ago.
        # Reading it as "100 years before the '-' reading" would put someone who
        # turns 100 later this year in the wrong century.
        latest = today.year - 100
        return latest - (latest - yy) % 100
    # '-' or no separator: the most recent date that is not in the future.
    year = today.year - (today.year - yy) % 100
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    return year


def normalise(value: str, **kwargs) -> str:
    """The canonical 12-digit form of ``value``; takes the same options as parse."""
    return parse(value, **kwargs).value


def is_valid(value, **kwargs) -> bool:
    try:
        parse(value, **kwargs)
    except ValidationError:
        return False
    return True


def validate_identity_number(value) -> None:
    """Field validator: a personnummer or samordningsnummer in any accepted form.

    It checks, it does not rewrite: store ``normalise(value)``, not the input.
    """
    parse(value)


def validate_identity_number_or_reserve(value) -> None:
    """Field validator that also accepts the reserve numbers in RESERVE_PREFIXES."""
    parse(value, allow_reserve=True)
