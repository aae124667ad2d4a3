"""Every change to a push subscription: one function per use case (REST, FHIR and the
administrators' page call these)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import ApiClient
from contracts.models import Event

from . import endpoints, fanout, signing
from .models import Delivery, Subscription

# Enough for every system an organisation runs; a bound, so a client in a loop cannot
# make the sender's work grow without end.
MAX_PER_CLIENT = 20


def check_endpoint(url: str, field: str = "url") -> str:
    url = (url or "").strip()
    try:
        endpoints.check(url)
    except endpoints.EndpointRefused as exc:
        raise ValidationError({field: [str(exc)]}) from exc
    return url


@transaction.atomic
def create_subscription(
    *,
    client: ApiClient,
    kind: str,
    endpoint: str,
    event_kinds=(),
    only_plans: bool = False,
    criteria: str = "",
    reason: str = "",
    field: str = "url",
) -> Subscription:
    """A new subscription of `client`'s organisation, told of changes from now on. Its
    signing secret is `subscription.secret`: show it to the client once, now."""
    endpoint = check_endpoint(endpoint, field)
    unknown = sorted(set(event_kinds) - set(Event.Kind.values))
    if unknown:
        raise ValidationError({"event_kinds": [_("Unknown event kind: %s") % ", ".join(unknown)]})
    if Subscription.objects.filter(api_client=client).count() >= MAX_PER_CLIENT:
        raise ValidationError(
            {field: [_("An integration may have at most %d subscriptions.") % MAX_PER_CLIENT]}
        )
    after_txid, after_id, snapshot = fanout.start_position()
    return Subscription.objects.create(
        organisation=client.organisation,
        api_client=client,
        kind=kind,
        endpoint=endpoint,
        secret=signing.new_secret(),
        event_kinds=sorted(set(event_kinds)),
        only_plans=only_plans,
        criteria=criteria,
        reason=reason[:200],
        after_txid=after_txid,
        after_id=after_id,
        start_snapshot=snapshot,
    )


@transaction.atomic
def delete_subscription(subscription: Subscription) -> None:
    """Gone, with the deliveries still waiting (those done go too: they hold no data)."""
    subscription.delete()


@transaction.atomic
def turn_on(subscription: Subscription) -> Subscription:
    """Back on after it was turned off (by failures or by hand): what waited is sent at
    once, and failures count from 0 again. The last error stays for reference."""
    Subscription.objects.filter(pk=subscription.pk).update(
        status=Subscription.Status.ACTIVE, failures=0, turned_off_at=None
    )
    Delivery.objects.filter(subscription=subscription, status=Delivery.Status.PENDING).update(
        next_attempt_at=None
    )
    subscription.refresh_from_db()
    return subscription


@transaction.atomic
def turn_off(subscription: Subscription) -> Subscription:
    """Paused by the organisation's administrator: the changes meanwhile wait in the event
    history and are sent when it is turned back on."""
    Subscription.objects.filter(pk=subscription.pk, status=Subscription.Status.ACTIVE).update(
        status=Subscription.Status.OFF, turned_off_at=timezone.now()
    )
    subscription.refresh_from_db()
    return subscription
