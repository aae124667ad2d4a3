"""Notifications a use case queues itself, as opposed to the sweeps' reminders.

The service that makes the change calls these inside its transaction, so every
door to the use case (page, API, discharge flow, demo) tells the same people.
The rows go into the same outbox as the reminders, with a dedupe key per change
and recipient (ON CONFLICT DO NOTHING); the text is written at send time
(reminders.messages) and names no unit or person, only that there is news.
"""

from django.utils import timezone

from contracts.models import FixedCareContact, Notification

from . import wake


def care_contact_assigned(assignment: FixedCareContact) -> None:
    """Tell the new fixed care contact (by e-mail) and the patient (by their channel)."""
    contract = assignment.contract
    patient = contract.patient
    common = {"kind": "care_contact_assigned", "contract": contract, "body": ""}
    key = f"care_contact_assigned:{assignment.pk}"
    rows = []
    if assignment.staff.email:
        rows.append(
            Notification(
                dedupe_key=f"{key}:staff",
                channel=Notification.Channel.EMAIL,
                recipient_user=assignment.staff,
                address=assignment.staff.email,
                **common,
            )
        )
    address = patient.notice_address
    if address:
        rows.append(
            Notification(
                dedupe_key=f"{key}:patient",
                channel=patient.preferred_channel,
                recipient_patient=patient,
                address=address,
                **common,
            )
        )
    # ON CONFLICT DO NOTHING: a retried call queues nothing twice.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        wake.sender_on_commit()


def emergency_access_read(entry, patient) -> None:
    """Tell the patient that their plan was read with emergency access (nödåtkomst): at
    most once per reader and day (the dedupe key), by their own channel. The access log,
    behind the login, says who, from which organisation and why."""
    address = patient.notice_address
    if not address:
        return
    day = timezone.localdate(entry.at)
    Notification.objects.bulk_create(
        [
            Notification(
                dedupe_key=f"emergency_access:{patient.pk}:{entry.user_id}:{day.isoformat()}",
                kind=Notification.Kind.EMERGENCY_ACCESS,
                channel=patient.preferred_channel,
                recipient_patient=patient,
                address=address,
                body="",
            )
        ],
        ignore_conflicts=True,
    )
    wake.sender_on_commit()


def sharing_changed(*, patient, event) -> None:
    """Tell the patient that who may see their plan changed (alert on sharing changes): a
    unit that can now see it or no longer can, a relative's new access. One notice per
    change, keyed by the change's event; by the patient's channel.

    Sent also when the patient made the change: a receipt, and the warning they need
    when it was not them (someone with their login, or staff acting in their name)."""
    address = patient.notice_address
    if not address:
        return
    Notification.objects.bulk_create(
        [
            Notification(
                dedupe_key=f"sharing_changed:{event.pk}",
                kind=Notification.Kind.SHARING_CHANGED,
                channel=patient.preferred_channel,
                recipient_patient=patient,
                address=address,
                body="",
            )
        ],
        ignore_conflicts=True,
    )
    wake.sender_on_commit()
