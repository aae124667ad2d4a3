"""Who acts, and the event history (händelselogg) every service writes explicitly."""

from dataclasses import dataclass

from django.utils import timezone

from .models import Event


@dataclass(frozen=True)
class Actor:
    """The person or process behind a write, as the event history names it."""

    kind: str
    user: object | None = None
    organisation: object | None = None
    # For integrations: the API client's name; for the system: the job's name.
    label: str = ""

    @classmethod
    def staff(cls, user, organisation):
        return cls(Event.ActorKind.STAFF, user=user, organisation=organisation)

    @classmethod
    def patient(cls, user):
        return cls(Event.ActorKind.PATIENT, user=user)

    @classmethod
    def relative(cls, user):
        return cls(Event.ActorKind.RELATIVE, user=user)

    @classmethod
    def integration(cls, organisation, label, user=None):
        return cls(Event.ActorKind.INTEGRATION, user=user, organisation=organisation, label=label)

    @classmethod
    def system(cls, label=""):
        return cls(Event.ActorKind.SYSTEM, label=label)

    @property
    def is_staff_like(self) -> bool:
        return self.kind in (Event.ActorKind.STAFF, Event.ActorKind.INTEGRATION)


def record_event(
    *, patient, actor: Actor, kind: Event.Kind, contract=None, before=None, after=None
):
    if kind not in Event.Kind.values:
        # A kind the history cannot put in words is a bug in the writer: refuse it
        # rather than store a row that reads as an unexplained change.
        raise ValueError(f"unknown event kind {kind!r}; add it to Event.Kind")
    return Event.objects.create(
        patient=patient,
        contract=contract,
        version=contract.version if contract is not None else None,
        at=timezone.now(),
        kind=kind,
        actor=actor.user,
        actor_kind=actor.kind,
        actor_label=actor.label,
        organisation=actor.organisation,
        before=before,
        after=after,
    )
