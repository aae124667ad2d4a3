"""Follow-up tasks (uppföljning) for staff: the use case of marking one done.

The sweeps (`reminders.sweeps`) create the tasks and close those whose cause went
away; a person closes the rest here, from the worklist or the API.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership
from contracts.history import Actor, record_event
from contracts.models import Event, FollowUpTask


def _may_close(actor: Actor, task: FollowUpTask) -> bool:
    if actor.kind == Event.ActorKind.SYSTEM:
        return True
    if actor.kind != Event.ActorKind.STAFF or actor.user is None:
        return False
    if task.assigned_staff_id is not None:
        return task.assigned_staff_id == actor.user.pk
    return (
        task.assigned_organisation_id is not None
        and getattr(actor.organisation, "pk", None) == task.assigned_organisation_id
        and Membership.objects.filter(
            user=actor.user, organisation_id=task.assigned_organisation_id, active=True
        ).exists()
    )


@transaction.atomic
def complete_follow_up(*, actor: Actor, task: FollowUpTask) -> FollowUpTask:
    """The assigned person (or, for a unit's task, one of its staff) marks it done.

    The plan's content does not change, so its version stays; the event tells the
    care team who followed up and when."""
    task = (
        FollowUpTask.objects.select_for_update(of=("self",))
        .select_related("contract__patient")
        .get(pk=task.pk)
    )
    if not _may_close(actor, task):
        raise PermissionDenied(_("This task is assigned to someone else."))
    if task.status == FollowUpTask.Status.DONE:
        raise ValidationError(_("This task is already done."))
    task.status = FollowUpTask.Status.DONE
    task.done_at = timezone.now()
    task.done_by = actor.user
    task.save(update_fields=["status", "done_at", "done_by"])
    record_event(
        patient=task.contract.patient,
        contract=task.contract,
        actor=actor,
        kind=Event.Kind.FOLLOW_UP_DONE,
        after={"task": task.pk, "kind": task.kind},
    )
    return task
