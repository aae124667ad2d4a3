"""Notifications a use case queues itself, as opposed to the sweeps' reminders.

The service that makes the change calls these inside its transaction, so every
door to the use case (page, API, discharge flow, demo) tells the same people.
The rows go into the same outbox as the reminders, with a dedupe key per change
and recipient (ON CONFLICT DO NOTHING); the text is written at send time
(reminders.messages) and names no unit or person, only that there is news.
"""

from contracts.models import FixedCareContact, Notification
from patients.models import Channel as PatientChannel

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
    address = {PatientChannel.SMS: patient.phone, PatientChannel.EMAIL: patient.email}.get(
        patient.preferred_channel, ""
    )
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
