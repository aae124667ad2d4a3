"""Events in plain words: the sentences a patient reads in the plan's history."""

from datetime import date, datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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

    def organisation_name(self, payload: dict) -> str:
        organisation = self.organisations.get(payload.get("organisation"))
        return organisation.name if organisation else payload.get("organisation_name", "")

    def staff_name(self, payload: dict) -> str:
        staff = self.staff.get(payload.get("staff"))
        return str(staff) if staff else payload.get("staff_name", "")

    def sentence(self, event: Event) -> str:
        said = SENTENCES[event.kind]
        args = {"who": self.who(event)}
        if isinstance(said, Promise):
            return said % args
        return said(self, event.before or {}, event.after or {}, args)


# --- one sentence per kind of event ---------------------------------------------------
# A template with %(who)s, or, where the payload changes the words, a function of
# (wording, before, after, args) that returns the sentence.


def _what_matters(wording, before, after, args):
    args["text"] = _short(after.get("what_matters", ""))
    if args["text"]:
        return _("%(who)s changed what matters: “%(text)s”") % args
    return _("%(who)s changed what matters.") % args


def _next_step_agreed(wording, before, after, args):
    args["how"] = _channel(after.get("channel"))
    args["when"] = _when(after.get("scheduled_at"))
    return _("%(who)s agreed the next step: %(how)s, %(when)s.") % args


def _next_step_outcome(wording, before, after, args):
    args["outcome"] = _short(after.get("outcome", ""))
    if after.get("status") == NextStep.Status.MISSED:
        return _("%(who)s noted that the next step did not happen: %(outcome)s") % args
    return _("%(who)s recorded what came of the next step: %(outcome)s") % args


def _commitment(template):
    """A sentence that names the commitment and its owner."""

    def sentence(wording, before, after, args):
        what = _short(after.get("what", ""))
        return template % {**args, "what": what, "owner": wording.owner(after)}

    return sentence


def _commitment_changed(wording, before, after, args):
    args["what"] = _short(after.get("what", ""))
    args["owner"] = wording.owner(after)
    if after.get("status") == "cancelled" and before.get("status") != "cancelled":
        return _("%(who)s cancelled a commitment: %(what)s") % args
    if wording.owner(before) != args["owner"]:
        return _("%(who)s handed a commitment to %(owner)s: %(what)s") % args
    return _("%(who)s changed a commitment: %(what)s") % args


def _naming_staff(template):
    """A sentence that names the staff member the event is about."""

    def sentence(wording, before, after, args):
        return template % {**args, "name": wording.staff_name(after)}

    return sentence


def _naming_organisation(template, side="after"):
    """A sentence that names the organisation in the event's `before` or `after`."""

    def sentence(wording, before, after, args):
        named = before if side == "before" else after
        return template % {**args, "organisation": wording.organisation_name(named)}

    return sentence


def _relative_access(wording, before, after, args):
    return _("%(who)s changed what %(name)s may do with the plan.") % {
        **args,
        "name": after.get("name", ""),
    }


def _emergency_access_reviewed(wording, before, after, args):
    # Written by patients.services.review_emergency_read; `after` holds the verdict.
    if after.get("verdict") == "justified":
        return _("%(who)s reviewed an emergency read of the plan and found it justified.") % args
    return _("%(who)s reviewed an emergency read of the plan and found it not justified.") % args


def _discharge_planned(wording, before, after, args):
    args["date"] = _day(after.get("planned_on"))
    return _("%(who)s planned the discharge from hospital for %(date)s.") % args


def _sip_meeting_called(wording, before, after, args):
    args["when"] = _when(after.get("meeting_at"))
    return _("%(who)s called a coordinated care planning meeting (SIP) for %(when)s.") % args


Kind = Event.Kind

SENTENCES = {
    Kind.CONTRACT_CREATED: gettext_lazy("%(who)s started the plan."),
    Kind.WHAT_MATTERS_CHANGED: _what_matters,
    Kind.WARNING_SIGNS_CHANGED: gettext_lazy("%(who)s changed what to look out for."),
    Kind.CONTACT_PATHS_CHANGED: gettext_lazy("%(who)s changed how to reach the care team."),
    Kind.NEXT_STEP_AGREED: _next_step_agreed,
    Kind.NEXT_STEP_OUTCOME: _next_step_outcome,
    Kind.COMMITMENT_ADDED: _commitment(
        gettext_lazy("%(who)s added a commitment for %(owner)s: %(what)s")
    ),
    Kind.COMMITMENT_COMPLETED: _commitment(gettext_lazy("%(who)s ticked off: %(what)s")),
    Kind.COMMITMENT_REOPENED: _commitment(gettext_lazy("%(who)s marked as not done: %(what)s")),
    Kind.COMMITMENT_CHANGED: _commitment_changed,
    Kind.CARE_CONTACT_ASSIGNED: _naming_staff(
        gettext_lazy("%(who)s made %(name)s the fixed care contact.")
    ),
    Kind.PLAN_AGREED: gettext_lazy("%(who)s agreed to the plan."),
    Kind.FOLLOW_UP_DONE: gettext_lazy("%(who)s marked a follow-up task as done."),
    Kind.PATIENT_REGISTERED: gettext_lazy("%(who)s registered the patient in Naravard."),
    Kind.CONSENT_GIVEN: _naming_organisation(
        gettext_lazy("%(who)s recorded consent for %(organisation)s to take part in the plan.")
    ),
    Kind.CONSENT_WITHDRAWN: _naming_organisation(
        gettext_lazy("%(who)s withdrew consent for %(organisation)s to see the plan."),
        side="before",
    ),
    Kind.CARE_TEAM_JOINED: _naming_organisation(
        gettext_lazy("%(who)s added %(organisation)s to the care team.")
    ),
    Kind.RELATIVE_ACCESS_CHANGED: _relative_access,
    Kind.EMERGENCY_ACCESS_REVIEWED: _emergency_access_reviewed,
    Kind.ADMISSION_REGISTERED: gettext_lazy("%(who)s registered a hospital stay."),
    Kind.ADMISSION_NOTICE_SENT: gettext_lazy("%(who)s sent the admission notice."),
    Kind.DISCHARGE_NOTICE_SENT: gettext_lazy("%(who)s sent a notice about the hospital stay."),
    Kind.DISCHARGE_PLANNED: _discharge_planned,
    Kind.READY_FOR_DISCHARGE: gettext_lazy("%(who)s judged the patient ready to leave hospital."),
    Kind.DISCHARGED: gettext_lazy("%(who)s recorded that the patient has left hospital."),
    Kind.DISCHARGE_NOTICE_ACKNOWLEDGED: gettext_lazy(
        "%(who)s confirmed reading a notice about the hospital stay."
    ),
    Kind.DISCHARGE_CARE_CONTACT_APPOINTED: _naming_staff(
        gettext_lazy("%(who)s named %(name)s the fixed care contact for the discharge.")
    ),
    Kind.SIP_MEETING_CALLED: _sip_meeting_called,
    Kind.SIP_MEETING_HELD: gettext_lazy("%(who)s recorded that the SIP meeting was held."),
    Kind.SURVEY_ANSWERED: gettext_lazy("%(who)s answered whether they know where to turn."),
}


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


def _day(iso) -> str:
    if not iso:
        return ""
    try:
        return date_format(date.fromisoformat(iso), "j F Y")
    except ValueError:
        return iso
