"""The next step as an iCalendar file (RFC 5545), for the patient's own calendar."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

# A next step has a start only; calendars need an end, so give it this long.
DEFAULT_LENGTH = timedelta(minutes=30)


def escape(text: str) -> str:
    """TEXT value escaping: backslash, semicolon, comma and newlines."""
    text = (text or "").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets, never inside a UTF-8 character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        # Continuation lines start with a space, which counts towards their 75.
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def next_step_calendar(step, patient, *, now=None) -> str:
    """One VEVENT for the step, times in UTC, lines ending in CRLF."""
    now = now or timezone.now()
    host = urlsplit(settings.SITE_URL).hostname or "naravard"
    summary = _("Next step: %(how)s") % {"how": step.get_channel_display()}
    with_whom = step.with_whom or (str(step.staff) if step.staff_id else "")
    if with_whom:
        summary = f"{summary} – {with_whom}"
    where = step.location or (step.organisation.name if step.organisation_id else "")
    description = _("Why: %(why)s") % {"why": step.purpose}
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Naravard//Next step//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:next-step-{step.pk}@{host}",
        f"DTSTAMP:{utc(now)}",
        f"DTSTART:{utc(step.scheduled_at)}",
        f"DTEND:{utc(step.scheduled_at + DEFAULT_LENGTH)}",
        f"SUMMARY:{escape(summary)}",
        f"LOCATION:{escape(where)}",
        f"DESCRIPTION:{escape(description)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
