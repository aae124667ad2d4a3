"""The staff's entries in the main menu: the coordinators' queues with the number of
items waiting, and the organisation administrators' pages."""

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
        memberships = _memberships(request)
        request.coordination_menu = None
        if any(m.role == Role.COORDINATOR for m in memberships):
            scope = queues.Scope(user=user, memberships=memberships, now=timezone.now())
            request.coordination_menu = queues.counts(scope)
    counts = request.coordination_menu
    if counts is None:
        return None
    return {"queues": counts, "total": sum(counts.values())}


def _memberships(request):
    """The user's active memberships, fetched once per request for the whole menu."""
    memberships = getattr(request, "coordination_memberships", None)
    if memberships is None:
        memberships = queues.memberships_of(request.user)
        request.coordination_memberships = memberships
    return memberships


@register.simple_tag(takes_context=True)
def administers(context) -> bool:
    """Whether the user is an organisation administrator (the emergency reads to review,
    the push subscriptions); no query beyond the menu's memberships."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return False
    return any(m.role == Role.ORG_ADMIN for m in _memberships(request))
