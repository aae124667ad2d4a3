"""The coordinators' entry in the main menu, with the number of items waiting."""

from django import template
from django.utils import timezone

from actors.models import Role

from .. import queues

register = template.Library()


@register.simple_tag(takes_context=True)
def coordination_counts(context):
    """The queue counts (unfiltered) for a coordinator, None for anyone else.

    Two queries for a coordinator (the memberships and one statement for all counts),
    one for other staff; kept on the request, so a page pays once however often it
    asks, and nothing when a coordination view has already counted."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return None
    if not hasattr(request, "coordination_menu"):
        memberships = getattr(request, "coordination_memberships", None)
        if memberships is None:
            memberships = queues.memberships_of(user)
        request.coordination_menu = None
        if any(m.role == Role.COORDINATOR for m in memberships):
            scope = queues.Scope(user=user, memberships=memberships, now=timezone.now())
            request.coordination_menu = queues.counts(scope)
    counts = request.coordination_menu
    if counts is None:
        return None
    return {"queues": counts, "total": sum(counts.values())}
