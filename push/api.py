"""REST webhooks at /api/v1/webhooks/: an integration subscribes to the change feed's
events of its organisation's patients (docs/push.md). Thin views over push.services;
strict about query parameters (they take none) as every REST view is (api.views.ReadView)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.views import ReadView
from contracts.models import Event

from . import services
from .models import Subscription


class WebhookIn(serializers.Serializer):
    url = serializers.CharField(
        max_length=500,
        help_text="Where to post: https, on a public address. Redirects are not followed.",
    )
    event_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.Kind.choices),
        required=False,
        default=list,
        max_length=len(Event.Kind.values),
        help_text="Only these kinds of event; leave out for all.",
    )


class WebhookOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(source="endpoint")
    event_kinds = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(
        choices=Subscription.Status.choices,
        help_text="`off` after repeated failure, until your organisation's administrator "
        "turns it back on; what changed meanwhile is sent then.",
    )
    failures = serializers.IntegerField(help_text="Failed attempts in a row.")
    last_error = serializers.CharField()
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    turned_off_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookCreated(WebhookOut):
    secret = serializers.CharField(
        help_text="The signing secret (Standard Webhooks, `whsec_...`). Shown only now."
    )


class WebhookListOut(serializers.Serializer):
    results = WebhookOut(many=True)


def _webhooks(integrator):
    return Subscription.objects.filter(
        organisation=integrator.organisation, kind=Subscription.Kind.WEBHOOK
    ).order_by("id")


class WebhookList(ReadView):
    """Your organisation's webhooks; a new one."""

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: WebhookListOut},
    )
    def get(self, request):
        return Response({"results": WebhookOut(_webhooks(self.integrator), many=True).data})

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookIn,
        responses={201: WebhookCreated},
    )
    def post(self, request):
        data = WebhookIn(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.create_subscription(
            client=self.integrator.client,
            kind=Subscription.Kind.WEBHOOK,
            endpoint=data.validated_data["url"],
            event_kinds=data.validated_data["event_kinds"],
        )
        body = WebhookCreated(subscription).data
        location = request.build_absolute_uri(f"{request.path}{subscription.pk}/")
        return Response(body, status=201, headers={"Location": location})


class WebhookDetail(ReadView):
    """One of your organisation's webhooks."""

    @extend_schema(
        operation_id="webhooks_retrieve",
        responses={200: WebhookOut},
    )
    def get(self, request, pk):
        return Response(WebhookOut(get_object_or_404(_webhooks(self.integrator), pk=pk)).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        responses={204: None},
    )
    def delete(self, request, pk):
        services.delete_subscription(get_object_or_404(_webhooks(self.integrator), pk=pk))
        return Response(status=204)
