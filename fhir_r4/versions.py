"""Versions and history of the FHIR resources: meta.versionId and meta.lastUpdated, the
ETag, vread and _history, all from what the database already keeps.

How each resource's version is derived:

- CarePlan: the plan's own version (Contract.version). Every write in contracts.services
  bumps it and writes one event naming the new version, so the plan's versions are its
  events of the kinds in PLAN_KINDS. Events that leave the plan as it was (the patient
  agreeing, discharge steps, follow-ups) carry the version they saw and add none. An
  older version is rebuilt from the current plan by undoing, newest first, each later
  event with its `before`. A goal list that a later event replaced is shown by its texts
  (references with `display` only): the replaced Goal rows no longer exist.
- Task for a commitment (commitment-N) or a next step (nextstep-N): its own version, the
  number of events that changed it; 1 is the event that added it. Each of those events
  carries the whole commitment or step as it was after the change (a step replaced by a
  newer one is the `before` of the event that agreed the new one), so every version can
  be rebuilt. Owners are named as they are named now.
- Goal and CareTeam: no event names one of their rows, so the version is a hash of the
  content (leaving out the translated name, so that it is the same in every language)
  and lastUpdated is the time of the latest event that can have changed it: the plan's
  goals, or the patient's team, consent, contact paths and fixed care contact.
- Patient, Organization, Practitioner, PractitionerRole: a hash of the row's
  `updated_at`, which every save moves, and `updated_at` as lastUpdated (built in
  resources.py).

Goal, CareTeam, Patient, Organization, Practitioner and PractitionerRole keep no earlier
content anywhere, so their history has one entry, the current version, and a vread of any
other version is 404 with an OperationOutcome that says so. A CarePlan or Task version the
events do not allow rebuilding (an event of a kind this module cannot undo, or a plan
written without events, as generated benchmark data is) is answered the same way: it is
never made up.
"""

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Max, Q
from django.utils.translation import gettext as _

from actors.models import Organisation, User
from contracts.models import Commitment, Event, FixedCareContact, Goal, NextStep
from patients.models import Relative

from .resources import commitment_task, compact, instant, step_task

K = Event.Kind
# The kinds that make a new version of the plan (contracts.services._bump and
# create_contract), and how each is undone by `_undo`.
PLAN_KINDS = (
    K.CONTRACT_CREATED,
    K.WHAT_MATTERS_CHANGED,
    K.WARNING_SIGNS_CHANGED,
    K.CONTACT_PATHS_CHANGED,
    K.NEXT_STEP_AGREED,
    K.NEXT_STEP_OUTCOME,
    K.COMMITMENT_ADDED,
    K.COMMITMENT_COMPLETED,
    K.COMMITMENT_REOPENED,
    K.COMMITMENT_CHANGED,
    K.CARE_CONTACT_ASSIGNED,
)
COMMITMENT_KINDS = (
    K.COMMITMENT_ADDED,
    K.COMMITMENT_COMPLETED,
    K.COMMITMENT_REOPENED,
    K.COMMITMENT_CHANGED,
)
STEP_KINDS = (K.NEXT_STEP_AGREED, K.NEXT_STEP_OUTCOME)
# What can change a CareTeam: the patient's team and consent, the plan's contact paths
# (the team's telecom) and its fixed care contact.
TEAM_KINDS = (
    K.PATIENT_REGISTERED,
    K.CONSENT_GIVEN,
    K.CONSENT_WITHDRAWN,
    K.CARE_TEAM_JOINED,
    K.CONTACT_PATHS_CHANGED,
    K.CARE_CONTACT_ASSIGNED,
)
COMMITMENT_FIELDS = (
    "what",
    "due_date",
    "owner_kind",
    "owner_organisation",
    "owner_staff",
    "owner_relative",
    "status",
)
STEP_FIELDS = ("scheduled_at", "channel", "location", "with_whom", "purpose", "status")


def content_version(resource: dict, leave_out=("meta", "name")) -> str:
    """A version id from the content itself, without the translated name."""
    body = {k: v for k, v in resource.items() if k not in leave_out}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def version_of(resource: dict) -> str | None:
    return resource.get("meta", {}).get("versionId")


def _set_meta(resource: dict, version_id: str, last_updated) -> None:
    meta = dict(resource.get("meta", {}))
    meta["versionId"] = str(version_id)
    if last_updated:
        meta["lastUpdated"] = instant(last_updated)
    # In place (the caller's lists hold the dict), and next to the id as FHIR shows it.
    rest = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    head = {k: resource[k] for k in ("resourceType", "id") if k in resource}
    resource.clear()
    resource.update({**head, "meta": meta, **rest})


def _ref_id(reference: dict | None, kind: str) -> int | None:
    value = (reference or {}).get("reference", "")
    tail = value.removeprefix(f"{kind}/")
    return int(tail) if tail != value and tail.isascii() and tail.isdigit() else None


def _number(resource_id: str, prefix: str) -> int:
    return int(resource_id.removeprefix(f"{prefix}-"))


# --- Task versions: a timeline per commitment and next step -------------------------------


@dataclass
class TaskVersion:
    number: int
    at: datetime
    snapshot: dict
    # When it was ticked off (commitment) or its outcome recorded (step), in this version.
    finished_at: datetime | None
    event_id: int


def task_events(contract_ids):
    return (
        Event.objects.filter(
            contract_id__in=list(contract_ids), kind__in=[*COMMITMENT_KINDS, *STEP_KINDS]
        )
        .order_by("id")
        .only("id", "kind", "at", "before", "after", "contract_id")
    )


FINISHED = {"commitment": {"done"}, "nextstep": {"done", "missed"}}


def task_timelines(events) -> dict[str, list[TaskVersion]]:
    """Each Task's versions, oldest first, from its plans' events in order."""
    timelines: dict[str, list[TaskVersion]] = {}

    def touch(prefix, snapshot, event):
        if not isinstance(snapshot, dict) or "id" not in snapshot:
            return
        timeline = timelines.setdefault(f"{prefix}-{snapshot['id']}", [])
        last = timeline[-1] if timeline else None
        if last is not None and last.snapshot == snapshot:
            return
        finished = snapshot.get("status") in FINISHED[prefix]
        if finished and last is not None and last.snapshot.get("status") in FINISHED[prefix]:
            finished_at = last.finished_at
        else:
            finished_at = event.at if finished else None
        timeline.append(TaskVersion(len(timeline) + 1, event.at, snapshot, finished_at, event.pk))

    for event in events:
        if event.kind in COMMITMENT_KINDS:
            touch("commitment", event.after, event)
        elif event.kind == K.NEXT_STEP_AGREED:
            # The step it replaced, now cancelled, then the new one.
            touch("nextstep", event.before, event)
            touch("nextstep", event.after, event)
        elif event.kind == K.NEXT_STEP_OUTCOME:
            touch("nextstep", event.after, event)
    return timelines


def stamp_task(resource, timeline):
    """A Task's version: how many events changed it, and when the last did."""
    if timeline:
        _set_meta(resource, timeline[-1].number, timeline[-1].at)
    else:
        # Written without events (generated data): what there is now is all there is.
        _set_meta(resource, 1, resource.get("authoredOn"))


# --- stamping what the builders cannot version themselves --------------------------------


def stamp(resources) -> list:
    """Fill meta.versionId and meta.lastUpdated on Tasks, Goals and CareTeams, which need
    the event history for it; a fixed number of queries for any number of resources."""
    todo = [r for r in resources if not version_of(r)]
    tasks = [r for r in todo if r["resourceType"] == "Task"]
    if tasks:
        plans = {_ref_id((r.get("basedOn") or [None])[0], "CarePlan") for r in tasks}
        timelines = task_timelines(task_events(plans - {None}))
        for resource in tasks:
            stamp_task(resource, timelines.get(resource["id"], []))
    goals = [r for r in todo if r["resourceType"] == "Goal"]
    if goals:
        plan_of = dict(
            Goal.objects.filter(pk__in=[int(g["id"]) for g in goals]).values_list(
                "pk", "contract_id"
            )
        )
        # The goals are written whole by a "what matters" change that names them; the
        # plan's start stands in for goals written without one (generated data).
        changed = dict(
            Event.objects.filter(contract_id__in=set(plan_of.values()))
            .filter(
                Q(kind=K.WHAT_MATTERS_CHANGED, after__has_key="goals") | Q(kind=K.CONTRACT_CREATED)
            )
            .values("contract_id")
            .annotate(last=Max("at"))
            .values_list("contract_id", "last")
        )
        for resource in goals:
            _set_meta(
                resource,
                content_version(resource),
                changed.get(plan_of.get(int(resource["id"]))),
            )
    teams = [r for r in todo if r["resourceType"] == "CareTeam"]
    if teams:
        patients = {_ref_id(r.get("subject"), "Patient") for r in teams}
        changed = dict(
            Event.objects.filter(patient_id__in=patients - {None}, kind__in=TEAM_KINDS)
            .values("patient_id")
            .annotate(last=Max("at"))
            .values_list("patient_id", "last")
        )
        for resource in teams:
            _set_meta(
                resource,
                content_version(resource),
                changed.get(_ref_id(resource.get("subject"), "Patient")),
            )
    return resources


# --- rebuilding earlier versions --------------------------------------------------------


class NotKept(Exception):
    """This version's content cannot be rebuilt from what is kept."""


@dataclass
class Version:
    """One entry of a history: the version id, when, and the content (None when it
    cannot be rebuilt; `why` then says why)."""

    version_id: str
    at: datetime | None
    resource: dict | None
    first: bool = False
    why: str = ""
    event_id: int | None = None


def not_kept_text(kind: str) -> str:
    return _("Earlier versions of %(kind)s are not kept: only the current version can be read.") % {
        "kind": kind
    }


def cannot_rebuild_text() -> str:
    return _("This version cannot be rebuilt from the event history, so it is not shown.")


def current_only(resource: dict) -> list[Version]:
    """The whole history of a resource without an event trail: the current version."""
    meta = resource.get("meta", {})
    return [Version(meta["versionId"], meta.get("lastUpdated"), resource, first=True)]


@dataclass
class PlanHistory:
    """One plan's versions, rebuilt from its current CarePlan and its events."""

    current: dict
    events: list = field(default_factory=list)  # the plan's PLAN_KINDS events, oldest first
    contacts: list = field(default_factory=list)  # its FixedCareContact ids, in order

    @property
    def version(self) -> int:
        return int(self.current["meta"]["versionId"])

    def bumps(self) -> dict[int, Event]:
        """The event that made each version (the first naming it)."""
        made = {}
        for event in self.events:
            if event.version is not None:
                made.setdefault(event.version, event)
        return made

    def versions(self) -> list[int]:
        """Every version the plan has had, newest first."""
        return sorted({v for v in self.bumps() if v <= self.version} | {self.version}, reverse=True)

    def at(self, version: int) -> Version:
        bumps = self.bumps()
        event = bumps.get(version)
        if version == self.version:
            return Version(
                str(version),
                self.current["meta"].get("lastUpdated"),
                self.current,
                first=version == 1,
                event_id=event.pk if event else None,
            )
        try:
            if not 1 <= version < self.version or event is None:
                raise NotKept
            resource = copy.deepcopy(self.current)
            for newer in range(self.version, version, -1):
                if newer not in bumps:
                    raise NotKept
                _undo(resource, bumps[newer], self.contacts)
        except NotKept:
            return Version(
                str(version), event.at if event else None, None, why=cannot_rebuild_text()
            )
        resource = compact(resource)
        _set_meta(resource, version, event.at)
        return Version(str(version), event.at, resource, first=version == 1, event_id=event.pk)


def _activity(resource, task_id):
    reference = f"Task/{task_id}"
    for activity in resource.get("activity", []):
        if activity.get("reference", {}).get("reference") == reference:
            return activity
    raise NotKept


def _undo(resource: dict, event: Event, contacts: list[int]) -> None:
    """Turn the CarePlan as it was after `event` into the CarePlan as it was before it."""
    before, after = event.before or {}, event.after or {}
    kind = event.kind
    if kind == K.WHAT_MATTERS_CHANGED:
        if "what_matters" not in before:
            raise NotKept
        resource["description"] = before["what_matters"]
        if "goals" in before:
            resource["goal"] = [{"display": text} for text in before["goals"]]
    elif kind == K.WARNING_SIGNS_CHANGED:
        if "signs" not in before:
            raise NotKept
        resource["note"] = [{"text": f"{s['sign']}: {s['action']}"} for s in before["signs"]]
    elif kind in (K.NEXT_STEP_AGREED, K.COMMITMENT_ADDED):
        prefix = "nextstep" if kind == K.NEXT_STEP_AGREED else "commitment"
        if "id" not in after:
            raise NotKept
        added = _activity(resource, f"{prefix}-{after['id']}")
        resource["activity"] = [a for a in resource["activity"] if a is not added]
    elif kind == K.COMMITMENT_CHANGED:
        if "id" not in before or "what" not in before:
            raise NotKept
        activity = _activity(resource, f"commitment-{before['id']}")
        activity["reference"] = {**activity["reference"], "display": before["what"]}
    elif kind == K.CARE_CONTACT_ASSIGNED:
        teams = resource.get("careTeam", [])
        current = [t for t in teams if t.get("reference", "").startswith("CareTeam/contact-")]
        if len(current) != 1:
            raise NotKept
        contact_id = _number(current[0]["reference"].removeprefix("CareTeam/"), "contact")
        rest = [t for t in teams if t is not current[0]]
        if not event.before:
            resource["careTeam"] = rest
        else:
            # Assignments are kept as rows, in order: the one before is the previous row.
            position = contacts.index(contact_id) if contact_id in contacts else 0
            if position == 0:
                raise NotKept
            resource["careTeam"] = rest + [
                {"reference": f"CareTeam/contact-{contacts[position - 1]}"}
            ]
    elif kind not in (
        K.CONTACT_PATHS_CHANGED,
        K.NEXT_STEP_OUTCOME,
        K.COMMITMENT_COMPLETED,
        K.COMMITMENT_REOPENED,
    ):
        # Not a part of the CarePlan these kinds change; any other kind cannot be undone.
        raise NotKept


def plan_histories(contracts, careplans: dict[int, dict]) -> dict[int, PlanHistory]:
    """The histories of some plans (already checked for access): two queries."""
    ids = [c.pk for c in contracts]
    histories = {pk: PlanHistory(careplans[pk]) for pk in ids}
    events = (
        Event.objects.filter(contract_id__in=ids, kind__in=PLAN_KINDS)
        .order_by("id")
        .only("id", "kind", "at", "version", "before", "after", "contract_id")
    )
    for event in events:
        histories[event.contract_id].events.append(event)
    contacts = FixedCareContact.objects.filter(contract_id__in=ids).order_by("id")
    for contract_id, contact_id in contacts.values_list("contract_id", "id"):
        histories[contract_id].contacts.append(contact_id)
    return histories


# --- Task versions --------------------------------------------------------------------------


def _owners(snapshots):
    """The organisations, staff and relatives the snapshots name, as they are now."""

    def ids(name):
        return {s.get(name) for s in snapshots} - {None}

    return (
        Organisation.objects.in_bulk(ids("owner_organisation")),
        User.objects.in_bulk(ids("owner_staff")),
        Relative.objects.in_bulk(ids("owner_relative")),
    )


def _parse_day(value):
    return date.fromisoformat(value) if value else None


def commitment_at(current: Commitment, contract, version: TaskVersion, owners) -> dict:
    snapshot = version.snapshot
    if any(name not in snapshot for name in COMMITMENT_FIELDS):
        raise NotKept
    organisations, staff, relatives = owners
    commitment = Commitment(
        pk=current.pk,
        contract=contract,
        owner_kind=snapshot["owner_kind"],
        owner_organisation=organisations.get(snapshot["owner_organisation"]),
        owner_staff=staff.get(snapshot["owner_staff"]),
        owner_relative=relatives.get(snapshot["owner_relative"]),
        what=snapshot["what"],
        due_date=_parse_day(snapshot["due_date"]),
        status=snapshot["status"],
        created_at=current.created_at,
        completed_at=version.finished_at,
    )
    if (snapshot["owner_organisation"] and commitment.owner_organisation is None) or (
        snapshot["owner_staff"] and commitment.owner_staff is None
    ):
        raise NotKept
    if snapshot["owner_relative"] and commitment.owner_relative is None:
        raise NotKept
    return commitment_task(commitment, contract)


def step_at(current: NextStep, contract, version: TaskVersion) -> dict:
    snapshot = version.snapshot
    if any(name not in snapshot for name in STEP_FIELDS):
        raise NotKept
    step = NextStep(
        pk=current.pk,
        contract=contract,
        scheduled_at=datetime.fromisoformat(snapshot["scheduled_at"]),
        channel=snapshot["channel"],
        location=snapshot["location"],
        with_whom=snapshot["with_whom"],
        purpose=snapshot["purpose"],
        status=snapshot["status"],
        outcome=snapshot.get("outcome") or "",
        organisation=current.organisation,
        staff=current.staff,
        created_at=current.created_at,
        outcome_recorded_at=version.finished_at,
    )
    return step_task(step, contract)


def task_versions(task, current_resource: dict, timeline: list[TaskVersion]) -> list[Version]:
    """Every version of one Task (a Commitment or NextStep row with its contract loaded),
    newest first."""
    if not timeline:
        return current_only(current_resource)
    owners = _owners([v.snapshot for v in timeline]) if isinstance(task, Commitment) else None
    out = []
    for version in reversed(timeline):
        if version.number == timeline[-1].number:
            resource = current_resource
        else:
            try:
                if isinstance(task, Commitment):
                    resource = commitment_at(task, task.contract, version, owners)
                else:
                    resource = step_at(task, task.contract, version)
            except (NotKept, ValueError, TypeError, KeyError):
                resource = None
            if resource is not None:
                _set_meta(resource, version.number, version.at)
        out.append(
            Version(
                str(version.number),
                version.at,
                resource,
                first=version.number == 1,
                why="" if resource is not None else cannot_rebuild_text(),
                event_id=version.event_id,
            )
        )
    return out
