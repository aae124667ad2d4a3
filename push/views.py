"""The organisation administrator's page of push subscriptions: what each integration
is subscribed to, whether it works, and a button to turn one back on (or off)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from actors.models import Organisation

from . import services
from .models import Delivery, Subscription


def subscriptions_of_admin(user):
    """The subscriptions of the organisations the user administers, and of the units
    under a region or municipality they administer; PermissionDenied for anyone else."""
    organisations = Organisation.objects.administered_by(user)
    if not user.is_active or not organisations.exists():
        raise PermissionDenied
    return Subscription.objects.filter(organisation__in=organisations)


@login_required
def subscriptions(request):
    rows = (
        subscriptions_of_admin(request.user)
        .select_related("organisation", "api_client")
        .annotate(
            waiting=Count(
                "deliveries",
                filter=Q(deliveries__status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]),
            )
        )
        .order_by("organisation__name", "api_client__name", "id")
    )
    context = {"subscriptions": rows, "max_failures": settings.PUSH_MAX_FAILURES}
    return render(request, "push/subscriptions.html", context)


@login_required
@require_POST
def turn_on(request, pk):
    subscription = get_object_or_404(subscriptions_of_admin(request.user), pk=pk)
    services.turn_on(subscription)
    messages.success(request, _("The subscription is on again. What waited is sent now."))
    return redirect("push:subscriptions")


@login_required
@require_POST
def turn_off(request, pk):
    subscription = get_object_or_404(subscriptions_of_admin(request.user), pk=pk)
    services.turn_off(subscription)
    messages.success(request, _("The subscription is turned off. Changes wait until it is on."))
    return redirect("push:subscriptions")
