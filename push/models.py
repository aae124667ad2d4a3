"""Push to integrations: subscriptions (REST webhooks and FHIR R4 rest-hook) and the
delivery outbox that the sender works through (push.sender, docs/push.md).

A subscription belongs to an organisation, through the API client that made it, and
is told only of events of the patients that organisation may see (patients.access).
Each (subscription, event) pair is one delivery row, made after the event's
transaction committed (push.fanout): a write never waits for a receiver."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from actors.models import ApiClient, Organisation
from contracts.models import Event


class SubscriptionQuerySet(models.QuerySet):
    def on(self):
        return self.filter(status=Subscription.Status.ACTIVE, api_client__active=True)

    def of_organisations(self, organisations):
        return self.filter(organisation__in=organisations)


class Subscription(models.Model):
    """An integration's wish to be told of changes: where, how, and what it wants."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("REST webhook")
        FHIR = "fhir", _("FHIR subscription")

    class Status(models.TextChoices):
        ACTIVE = "active", _("On")
        OFF = "off", _("Turned off")

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="push_subscriptions",
    )
    api_client = models.ForeignKey(
        ApiClient,
        verbose_name=_("integration"),
        on_delete=models.CASCADE,
        related_name="push_subscriptions",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    endpoint = models.URLField(_("address"), max_length=500)
    # The signing secret (Standard Webhooks' "whsec_" + base64). Shown to the integration
    # once, when the subscription is made; the sender needs it, so it is kept as it is.
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    # Which event kinds (contracts.Event.Kind); empty for all.
    event_kinds = models.JSONField(_("event kinds"), default=list, blank=True)
    # Only changes to plans (FHIR's criteria "CarePlan").
    only_plans = models.BooleanField(_("only plan changes"), default=False)
    criteria = models.CharField(_("FHIR criteria"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE
    )
    # Failed attempts in a row; the subscription is turned off at PUSH_MAX_FAILURES.
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last delivery"), null=True, blank=True)
    turned_off_at = models.DateTimeField(_("turned off"), null=True, blank=True)
    # How far the fan-out has read the event history, in the change feed's order.
    after_txid = models.BigIntegerField(default=0, editable=False)
    after_id = models.BigIntegerField(default=0, editable=False)
    # PostgreSQL's snapshot when the subscription was made (pg_snapshot as text): the
    # events of transactions committed before it are not pushed (push.fanout).
    start_snapshot = models.TextField(default="", editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")
        ordering = ["organisation", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.pk} → {self.endpoint}"


class Delivery(models.Model):
    """The outbox of push: one row per event to tell one subscription of.

    `message_id` is the same at every attempt: the receiver's key for de-duplication
    (delivery is at least once, docs/push.md)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    message_id = models.UUIDField(_("message id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("push delivery")
        verbose_name_plural = _("push deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="push_one_per_event")
        ]
        indexes = [
            # What the sender looks for: the rows not yet done.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status__in=["pending", "sending"]),
                name="push_delivery_open",
            )
        ]

    def __str__(self):
        return f"{self.message_id} ({self.status})"
