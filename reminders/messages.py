"""What a notification says, written when it is sent, in the reader's language.

Text messages and e-mail are not secure channels: a message says when and where,
and that there is something to see, never why. No diagnosis, purpose, commitment
text, care unit name or patient name leaves Naravard this way; the reader logs in
to see the rest. The same texts go by e-mail, which is no safer.

Writing the text at send time (not when the sweep queues the row) means a
reminder for a step that was moved, cancelled or already happened is dropped,
and the patient's current channel and address are used.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from contracts.models import Channel, Commitment, NextStep, Notification, OwnerKind


@dataclass(frozen=True)
class Message:
    channel: str
    address: str
    subject: str
    body: str


def render(notification: Notification, now: datetime) -> Message | None:
    """The message to send now, or None when it is no longer wanted."""
    writer = WRITERS.get(notification.kind)
    if writer is None:
        raise ValueError(f"no text for notification kind {notification.kind!r}")
    channel, address = _current_address(notification)
    if not address:
        return None
    with translation.override(_language(notification)):
        written = writer(notification, now)
        if written is None:
            return None
        subject, body = written
        return Message(channel, address, str(subject), str(body))


def _current_address(notification: Notification) -> tuple[str, str]:
    """A patient may have changed channel or number since the row was queued."""
    patient = notification.recipient_patient
    if patient is None:
        return notification.channel, notification.address
    if patient.preferred_channel in Notification.Channel.values:
        return patient.preferred_channel, patient.notice_address
    return notification.channel, ""


def _language(notification: Notification) -> str:
    if notification.recipient_patient is not None:
        return notification.recipient_patient.preferred_language or settings.LANGUAGE_CODE
    return settings.LANGUAGE_CODE


def _when(moment: datetime) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {
        "date": formats.date_format(local, "l j F"),
        "time": formats.time_format(local, "H:i"),
    }


def _next_step_reminder(notification, now):
    step: NextStep | None = notification.next_step
    if step is None or step.status != NextStep.Status.PLANNED or step.scheduled_at <= now:
        return None
    # The place stays out: a unit's name can tell whoever reads the phone what the
    # care is about. The plan, behind the login, says where.
    when = {**_when(step.scheduled_at), "url": settings.SITE_URL}
    if step.channel == Channel.VISIT:
        text = _("Reminder: you have an appointment on %(date)s at %(time)s.")
    elif step.channel == Channel.VIDEO:
        text = _("Reminder: you have a video appointment on %(date)s at %(time)s.")
    elif step.channel == Channel.PHONE:
        text = _("Reminder: we will phone you on %(date)s at %(time)s.")
    else:
        text = _("Reminder: we will visit you at home on %(date)s at %(time)s.")
    body = (text + " " + _("Log in to Naravard to see your plan: %(url)s")) % when
    return _("Reminder from Naravard"), body


def _commitment_due(notification, now):
    commitment: Commitment | None = notification.commitment
    today = timezone.localdate(now)
    if (
        commitment is None
        or commitment.status != Commitment.Status.OPEN
        or commitment.due_date is None
        or commitment.due_date < today
    ):
        return None
    values = {
        "date": formats.date_format(commitment.due_date, "l j F"),
        "url": settings.SITE_URL,
    }
    if commitment.owner_kind == OwnerKind.PATIENT:
        text = _("Reminder: you have something to do in your plan by %(date)s.")
    elif commitment.owner_kind == OwnerKind.RELATIVE:
        text = _("Reminder: you have promised to do something in a care plan by %(date)s.")
    else:
        text = _("Reminder: your team has a commitment in a care plan due on %(date)s.")
    body = (text + " " + _("Log in to Naravard to see what it is: %(url)s")) % values
    return _("Reminder from Naravard"), body


def _follow_up(notification, now):
    # One e-mail a day however many tasks arrived (see reminders.sweeps); the
    # worklist has them all.
    body = _("You have new follow-up tasks in Naravard. Log in to see them: %(url)s") % {
        "url": settings.SITE_URL
    }
    return _("New follow-up tasks in Naravard"), body


def _care_contact_assigned(notification, now):
    # Queued by reminders.notify.care_contact_assigned: news that there is a fixed care
    # contact, naming no unit or person.
    values = {"url": settings.SITE_URL}
    if notification.recipient_patient is not None:
        body = _("You now have a fixed care contact. Log in to Naravard to see who: %(url)s")
    else:
        body = _(
            "You are now the fixed care contact for a patient. Log in to Naravard to see "
            "the plan: %(url)s"
        )
    return _("News from Naravard"), body % values


def _sharing_changed(notification, now):
    # Queued by reminders.notify.sharing_changed: that who can see the plan changed,
    # naming no unit or person (a unit's name can tell what care it gives).
    body = _("Who can see your care plan has changed. Log in to Naravard to see who: %(url)s") % {
        "url": settings.SITE_URL
    }
    return _("News from Naravard"), body


def _emergency_access(notification, now):
    # Queued by reminders.notify.emergency_access_read, on the day of the read.
    values = {
        "date": formats.date_format(timezone.localtime(notification.created_at), "j F Y"),
        "url": settings.SITE_URL,
    }
    body = _(
        "Your care plan was opened with emergency access on %(date)s. Log in to Naravard "
        "to see who in your access log: %(url)s"
    )
    return _("News from Naravard"), body % values


WRITERS = {
    "next_step_reminder": _next_step_reminder,
    "commitment_due": _commitment_due,
    "follow_up": _follow_up,
    "care_contact_assigned": _care_contact_assigned,
    "emergency_access": _emergency_access,
    "sharing_changed": _sharing_changed,
}
