"""FHIR R4 Subscription (rest-hook) at /fhir/R4/Subscription: create, read, search, delete.

Why R4's own Subscription and not the R4B topic-based backport: the facade is R4, and
R4 clients (HAPI's, fhir.resources, Medplum's) create an R4 Subscription with a
criteria and a rest-hook channel without more; the backport needs SubscriptionTopic,
the status Parameters and a $events operation, three moving parts for the same news.

What is supported, and anything else is refused with an OperationOutcome naming it:
- `criteria` "CarePlan": every change to a plan of a patient the organisation may see;
- `channel.type` "rest-hook" with an https `channel.endpoint`;
- `channel.payload` left out: the notification is an empty POST (R4: "no payload ...
  just a notification"), so it carries no health data; the subscriber reads what
  changed with its own token (e.g. `CarePlan?_lastUpdated=gt...`), which checks access
  and logs the read as every read does;
- `reason` (required by R4), `status` "requested" or "active" (it starts active).
Every notification is signed as a webhook is (docs/push.md): the signing secret is in
the extension SECRET_URL of the resource returned by the create, and only there.
"""

import re

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response

from fhir_r4.views import FhirView
from naravard.integrator import LimitedJSONParser

from . import services
from .models import Subscription

SECRET_URL = "https://naravard.se/fhir/StructureDefinition/subscription-signing-secret"
CRITERIA = {"CarePlan": True}  # criteria -> only plan changes
KNOWN = {"resourceType", "id", "meta", "text", "status", "reason", "criteria", "channel"}
CHANNEL = {"type", "endpoint", "payload"}


class FhirJSONParser(LimitedJSONParser):
    media_type = "application/fhir+json"


def _status(subscription) -> str:
    if subscription.status == Subscription.Status.ACTIVE:
        return "active"
    return "error" if subscription.failures else "off"


def resource(subscription, *, secret: bool = False) -> dict:
    body = {
        "resourceType": "Subscription",
        "id": str(subscription.pk),
        "status": _status(subscription),
        "reason": subscription.reason,
        "criteria": subscription.criteria,
        "channel": {"type": "rest-hook", "endpoint": subscription.endpoint},
    }
    if subscription.last_error and body["status"] == "error":
        body["error"] = subscription.last_error
    if secret:
        body["extension"] = [{"url": SECRET_URL, "valueString": subscription.secret}]
    return body


def _invalid(name: str, message: str):
    return exceptions.ValidationError({name: [message]})


def _parse(data) -> dict:
    if not isinstance(data, dict) or data.get("resourceType") != "Subscription":
        raise _invalid("resourceType", _("Send a Subscription resource."))
    for name in sorted(set(data) - KNOWN):
        raise _invalid(name, _("Not supported here: %s") % name)
    if data.get("status", "requested") not in ("requested", "active"):
        raise _invalid("status", _("A new subscription is requested or active."))
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _invalid("reason", _("Say why you subscribe (reason)."))
    criteria = data.get("criteria")
    if criteria not in CRITERIA:
        raise _invalid("criteria", _("Supported criteria: %s") % ", ".join(CRITERIA))
    channel = data.get("channel")
    if not isinstance(channel, dict):
        raise _invalid("channel", _("Give a channel of type rest-hook."))
    for name in sorted(set(channel) - CHANNEL):
        raise _invalid(f"channel.{name}", _("Not supported here: %s") % name)
    if channel.get("type") != "rest-hook":
        raise _invalid("channel.type", _("Only rest-hook is supported."))
    if channel.get("payload") is not None:
        raise _invalid(
            "channel.payload",
            _("Leave out the payload: notifications are empty; read what changed."),
        )
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str):
        raise _invalid("channel.endpoint", _("Give the address to notify."))
    return {"reason": reason.strip(), "criteria": criteria, "endpoint": endpoint}


def _own(integrator, resource_id):
    subscription = (
        Subscription.objects.filter(
            organisation=integrator.organisation, kind=Subscription.Kind.FHIR
        )
        .filter(pk=int(resource_id) if re.fullmatch(r"[0-9]{1,18}", resource_id) else -1)
        .first()
    )
    if subscription is None:
        raise Http404
    return subscription


# Subscription's entry in the CapabilityStatement (fhir_r4.views.Metadata): what the
# views below serve. The search takes no parameters: an organisation has a few at most.
SUBSCRIPTION_CAPABILITY = {
    "type": "Subscription",
    "interaction": [
        {"code": "read"},
        {"code": "search-type"},
        {"code": "create"},
        {"code": "delete"},
    ],
    "documentation": "rest-hook subscriptions to your organisation's care plans "
    "(criteria CarePlan; payload none): docs/push.md.",
}


class SubscriptionType(FhirView):
    parser_classes = [FhirJSONParser, LimitedJSONParser]

    def get(self, request):
        self.strict_params()
        subscriptions = Subscription.objects.filter(
            organisation=self.integrator.organisation, kind=Subscription.Kind.FHIR
        ).order_by("id")
        base = self.base_url()
        entries = [
            {
                "fullUrl": f"{base}Subscription/{s.pk}",
                "resource": resource(s),
                "search": {"mode": "match"},
            }
            for s in subscriptions
        ]
        return Response(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(entries),
                "link": [{"relation": "self", "url": f"{base}Subscription"}],
                "entry": entries,
            }
        )

    def post(self, request):
        self.strict_params()
        fields = _parse(request.data)
        subscription = services.create_subscription(
            client=self.integrator.client,
            kind=Subscription.Kind.FHIR,
            endpoint=fields["endpoint"],
            only_plans=CRITERIA[fields["criteria"]],
            criteria=fields["criteria"],
            reason=fields["reason"],
            field="channel.endpoint",
        )
        location = f"{self.base_url()}Subscription/{subscription.pk}"
        return Response(
            resource(subscription, secret=True), status=201, headers={"Location": location}
        )


class SubscriptionInstance(FhirView):
    def get(self, request, resource_id):
        self.strict_params()
        return Response(resource(_own(self.integrator, resource_id)))

    def delete(self, request, resource_id):
        self.strict_params()
        services.delete_subscription(_own(self.integrator, resource_id))
        return Response(status=204)
