"""Claiming outbox rows with a lease and a fencing token: one helper for every outbox.

The reminder outbox (reminders.outbox) and the push deliveries (push.sender) work the
same way. A claim is its own short transaction: `SELECT ... FOR UPDATE SKIP LOCKED`
picks due rows no other sender holds, and the same transaction marks them `sending`,
counts the attempt, and gives them a lease (`lease_until`) and a fresh `lease_token`.
The delivery happens after that commit; its result is written only where the row still
carries the token (`held`), so a sender whose lease ran out and whose row another
sender took over cannot overwrite the newer state.

A model claimed here has the fields `status`, `attempts`, `lease_until` and
`lease_token`, and a status value for "being sent" (`sending`).
"""

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q


def claim(
    queryset,
    claimable: Q,
    *,
    order_by: tuple[str, ...],
    batch_size: int,
    lease_seconds: float,
    now: datetime,
    sending: str = "sending",
) -> tuple[uuid.UUID, list[tuple]]:
    """Take up to `batch_size` rows of `queryset` matching `claimable` for this sender.

    Returns the lease token and the claimed rows as they were before the claim: (id,
    status, attempts). A row whose status was `sending` is taken over from a sender that
    vanished (its lease had run out), and its `attempts` is the attempt it lost. Read the
    rows again with `held`."""
    token = uuid.uuid4()
    with transaction.atomic():
        rows = list(
            queryset.filter(claimable)
            .order_by(*order_by)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", "status", "attempts")[:batch_size]
        )
        if rows:
            queryset.model.objects.filter(id__in=[row[0] for row in rows]).update(
                status=sending,
                attempts=F("attempts") + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                lease_token=token,
            )
    return token, rows


def held(model, pk, token: uuid.UUID, sending: str = "sending"):
    """The row `pk`, as a queryset, only while this sender's lease on it holds."""
    return model.objects.filter(pk=pk, status=sending, lease_token=token)
