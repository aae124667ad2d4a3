"""Events in plain words: the sentences a patient reads in the plan's history."""

from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from actors.models import Organisation, User

from .models import (
    Channel,
    Event,
    NextStep,
    OwnerKind,
)


def relative_label(relative) -> str:
    if relative is None:
        return _("A relative")
    if relative.relation:
        return f"{relative.name} ({relative.relation})"
    return relative.name


# --- Events in plain words ---------------------------------------------------


class EventWording:
    """Turns events into sentences a patient understands.

    Names mentioned in payloads (organisations, staff, relatives) are looked up in one
    query per kind for the whole batch, so a long history costs no more queries."""

    def __init__(self, patient, viewer, user=None, *, relatives=None):
        self.patient = patient
        self.viewer = viewer
        self.user_id = getattr(user, "pk", None)
        self.relatives = {r.pk: r for r in relatives} if relatives is not None else None
        self.organisations: dict = {}
        self.staff: dict = {}

    def all(self, events) -> list[tuple[Event, str]]:
        self.load_names(events)
        return self.sentences(events)

    def sentences(self, events) -> list[tuple[Event, str]]:
        return [(event, self.sentence(event)) for event in events]

    def load_names(self, events):
        """One query per kind of name (organisations, staff) for all the events given."""
        org_ids, staff_ids = set(), set()
        for event in events:
            for payload in (event.before or {}, event.after or {}):
                if not isinstance(payload, dict):
                    continue
                for key in ("owner_organisation", "organisation"):
                    if isinstance(payload.get(key), int):
                        org_ids.add(payload[key])
                for key in ("owner_staff", "staff"):
                    if isinstance(payload.get(key), int):
                        staff_ids.add(payload[key])
        if org_ids:
            self.organisations = Organisation.objects.in_bulk(org_ids)
        if staff_ids:
            self.staff = User.objects.in_bulk(staff_ids)
        if self.relatives is None:
            self.relatives = {r.pk: r for r in self.patient.relatives.all()}

    def who(self, event: Event) -> str:
        if self.user_id is not None and event.actor_id == self.user_id:
            return _("You")
        kind = event.actor_kind
        if kind == Event.ActorKind.PATIENT:
            return self.patient.full_name
        if kind == Event.ActorKind.RELATIVE:
            relative = next(
                (r for r in self.relatives.values() if r.user_id == event.actor_id), None
            )
            return relative.name if relative else _("A relative")
        if kind == Event.ActorKind.SYSTEM:
            return _("Naravard")
        # An integration acts with no person behind it: name the client instead.
        name = str(event.actor) if event.actor else event.actor_label
        organisation = event.organisation.name if event.organisation else ""
        if name and organisation:
            # The organisation is an aside: "Doris Doktor, Vårdcentralen Tierp, added ...".
            return f"{name}, {organisation},"
        return name or organisation or _("Someone")

    def owner(self, payload: dict) -> str:
        kind = payload.get("owner_kind")
        if kind == OwnerKind.PATIENT:
            if self.viewer is not None and self.viewer.kind == "patient":
                return _("you")
            return self.patient.full_name
        if kind == OwnerKind.RELATIVE:
            return relative_label(self.relatives.get(payload.get("owner_relative")))
        organisation = self.organisations.get(payload.get("owner_organisation"))
        org_name = organisation.name if organisation else _("an organisation")
        if kind == OwnerKind.STAFF:
            staff = self.staff.get(payload.get("owner_staff"))
            if staff:
                return f"{staff}, {org_name}"
        return org_name

    def sentence(self, event: Event) -> str:
        before, after = event.before or {}, event.after or {}
        args = {"who": self.who(event)}
        kind = event.kind
        if kind == "contract_created":
            return _("%(who)s started the plan.") % args
        if kind == "what_matters_changed":
            args["text"] = _short(after.get("what_matters", ""))
            if args["text"]:
                return _("%(who)s changed what matters: “%(text)s”") % args
            return _("%(who)s changed what matters.") % args
        if kind == "warning_signs_changed":
            return _("%(who)s changed what to look out for.") % args
        if kind == "contact_paths_changed":
            return _("%(who)s changed how to reach the care team.") % args
        if kind == "next_step_agreed":
            args["how"] = _channel(after.get("channel"))
            args["when"] = _when(after.get("scheduled_at"))
            return _("%(who)s agreed the next step: %(how)s, %(when)s.") % args
        if kind == "next_step_outcome":
            args["outcome"] = _short(after.get("outcome", ""))
            if after.get("status") == NextStep.Status.MISSED:
                return _("%(who)s noted that the next step did not happen: %(outcome)s") % args
            return _("%(who)s recorded what came of the next step: %(outcome)s") % args
        if kind in ("commitment_added", "commitment_completed", "commitment_reopened"):
            args["what"] = _short(after.get("what", ""))
            args["owner"] = self.owner(after)
            return {
                "commitment_added": _("%(who)s added a commitment for %(owner)s: %(what)s"),
                "commitment_completed": _("%(who)s ticked off: %(what)s"),
                "commitment_reopened": _("%(who)s marked as not done: %(what)s"),
            }[kind] % args
        if kind == "commitment_changed":
            args["what"] = _short(after.get("what", ""))
            args["owner"] = self.owner(after)
            if after.get("status") == "cancelled" and before.get("status") != "cancelled":
                return _("%(who)s cancelled a commitment: %(what)s") % args
            if self.owner(before) != args["owner"]:
                return _("%(who)s handed a commitment to %(owner)s: %(what)s") % args
            return _("%(who)s changed a commitment: %(what)s") % args
        if kind == "care_contact_assigned":
            staff = self.staff.get(after.get("staff"))
            args["name"] = str(staff) if staff else after.get("staff_name", "")
            return _("%(who)s made %(name)s the fixed care contact.") % args
        if kind == "plan_agreed":
            return _("%(who)s agreed to the plan.") % args
        return _("%(who)s changed the plan.") % args


def _short(text: str) -> str:
    return Truncator(text or "").chars(140)


def _channel(value) -> str:
    try:
        return str(Channel(value).label)
    except ValueError:
        return ""


def _when(iso) -> str:
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return date_format(timezone.localtime(moment), "j F Y, H:i")
