"""From the event history to the delivery outbox, after the writes have committed.

A write does nothing for push: it writes its event, as it always did, and commits. A
beat task (push.tasks) reads the event history in the change feed's order, (txid, id),
from each subscription's own position, and makes one delivery row per event the
subscription wants and its organisation may see (`patients.access`, the one rule, as
its SQL), in the statement that reads them; the position moves in the same
transaction. So the receiver being down, slow or hostile never reaches a write, and
an event is never lost between the history and the outbox: a run that dies leaves the
position where it was, and the rows it would have made are made by the next one
(ON CONFLICT DO NOTHING on (subscription, event)).

Only events below the change feed's cut are read (api.reads.FEED_CUT, the same
expression): a transaction that began earlier but commits later cannot land behind a
position already passed, and the lag is the change feed's (docs/operations.md).
"""

import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from api.reads import FEED_CUT
from patients.access import care_relationships_sql

from .models import Subscription

# A position before every event of a transaction not yet below the cut.
LAST_ID = 2**63 - 1


def start_position() -> tuple[int, int, str]:
    """Where a new subscription starts: (txid, id, snapshot). The position is before
    every transaction still running now, and the snapshot tells the fan-out which of the
    events after it were committed before the subscription (those are left out), so it
    is told of exactly the changes from now on, however far the cut lags."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({FEED_CUT}) - 1, pg_current_snapshot()::text")  # noqa: S608
        txid, snapshot = cursor.fetchone()
        return txid, LAST_ID, snapshot


def _statement() -> str:
    visible = (
        f"SELECT care.patient_id FROM ({care_relationships_sql()}) care"  # noqa: S608
        " WHERE care.organisation_id = %(organisation)s"
    )
    return f"""
WITH batch AS (
    SELECT e.id, e.txid, e.patient_id, e.kind, e.contract_id FROM contracts_event e
    WHERE (e.txid, e.id) > (%(txid)s, %(id)s) AND e.txid < ({FEED_CUT})
    ORDER BY e.txid, e.id
    LIMIT %(limit)s
),
made AS (
    INSERT INTO push_delivery
        (message_id, subscription_id, event_id, status, attempts, last_error, created_at)
    SELECT gen_random_uuid(), %(subscription)s, b.id, 'pending', 0, '', %(now)s
    FROM batch b
    WHERE b.patient_id IN ({visible})
      AND (cardinality(%(kinds)s::text[]) = 0 OR b.kind = ANY(%(kinds)s::text[]))
      AND (NOT %(only_plans)s::boolean OR b.contract_id IS NOT NULL)
      AND NOT pg_visible_in_snapshot(b.txid::text::xid8, %(snapshot)s::pg_snapshot)
    ORDER BY b.txid, b.id
    ON CONFLICT (subscription_id, event_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM made), (SELECT count(*) FROM batch),
       (SELECT array[txid, id] FROM batch ORDER BY txid DESC, id DESC LIMIT 1)
"""  # noqa: S608 - constant fragments; values are parameters


def collect_one(subscription_id: int) -> tuple[int, bool]:
    """One batch of events for one subscription: (deliveries made, whether more wait).
    Skips a subscription another run is collecting for right now."""
    limit = settings.PUSH_FANOUT_BATCH
    with transaction.atomic():
        subscription = (
            Subscription.objects.on()
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=subscription_id)
            .first()
        )
        if subscription is None:
            return 0, False
        with connection.cursor() as cursor:
            cursor.execute(
                _statement(),
                {
                    "txid": subscription.after_txid,
                    "id": subscription.after_id,
                    "limit": limit,
                    "subscription": subscription.pk,
                    "organisation": subscription.organisation_id,
                    "kinds": list(subscription.event_kinds),
                    "only_plans": subscription.only_plans,
                    # "1:1:" shows no transaction as committed: leaves out nothing.
                    "snapshot": subscription.start_snapshot or "1:1:",
                    "now": timezone.now(),
                },
            )
            made, read, last = cursor.fetchone()
        if last:
            Subscription.objects.filter(pk=subscription.pk).update(
                after_txid=last[0], after_id=last[1]
            )
    return made, read >= limit


def collect(*, time_budget: float = 5.0) -> int:
    """Deliveries for every subscription that is on, batch by batch, within the budget."""
    started = time.monotonic()
    made = 0
    waiting = list(Subscription.objects.on().order_by("id").values_list("id", flat=True))
    while waiting and time.monotonic() - started < time_budget:
        more = []
        for pk in waiting:
            count, left = collect_one(pk)
            made += count
            if left:
                more.append(pk)
        waiting = more
    return made
