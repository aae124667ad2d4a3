"""A moment in the plan's history, quickly: `iso_time` and `short_time`.

The plan page lists up to forty events, each in a `<time>` element with
`|date:'c'` for the machine and `|date:"j M H:i"` for people. The `date` filter
cost about 45 µs an event there (a formatter object and a translation lookup per
letter), some 2 ms of a staff page; these write the same text from the local time
and the month names, looked up once per language. The markup stays in the
templates; tests/test_plan_page.py holds the text to the `date` filter's.
"""

from django import template
from django.utils.dates import MONTHS_3
from django.utils.translation import get_language

register = template.Library()

_MONTHS: dict[str, dict[int, str]] = {}


def _month(number: int) -> str:
    """As the `M` format letter writes it ("jan", "Jan"), in the active language."""
    language = get_language() or ""
    names = _MONTHS.get(language)
    if names is None:
        names = _MONTHS[language] = {n: str(name).title() for n, name in MONTHS_3.items()}
    return names[number]


@register.filter(expects_localtime=True)
def iso_time(moment):
    """`{{ moment|date:'c' }}`, for a `<time datetime>`."""
    return moment.isoformat() if moment else ""


@register.filter(expects_localtime=True)
def short_time(moment, with_year=False):
    """`{{ moment|date:"j M H:i" }}`, or "j M Y H:i" when `with_year` is given."""
    if not moment:
        return ""
    year = f" {moment.year}" if with_year else ""
    return f"{moment.day} {_month(moment.month)}{year} {moment.hour:02d}:{moment.minute:02d}"
