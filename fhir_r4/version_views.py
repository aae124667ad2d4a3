"""FHIR vread and history at /fhir/R4/: `[type]/[id]/_history/[vid]`,
`[type]/[id]/_history` and `[type]/_history`, as Bundles of type history, newest first,
paged with `_count` and `_cursor`. How versions are derived and rebuilt: versions.py.

The history of a type is kept for CarePlan and Task, the resources with an event trail:
it is the organisation's visible plans' events, one entry per version they made. Other
types have no past to list (their instance history is the current version)."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response

from contracts.models import Commitment, Contract, Event, NextStep
from naravard.paging import decode_cursor, encode_cursor
from naravard.strict import mark_lenient

from .etags import log_patients, versioned_response
from .queries import careplan_of, fhir_contracts, number, read_resource
from .resources import commitment_task, compact, instant, step_task
from .versions import (
    COMMITMENT_KINDS,
    PLAN_KINDS,
    STEP_KINDS,
    Version,
    current_only,
    not_kept_text,
    plan_histories,
    stamp,
    stamp_task,
    task_events,
    task_timelines,
    task_versions,
)
from .views import FhirView

HISTORY_PARAMS = ("_count", "_cursor")
DEFAULT_COUNT = 20
MAX_COUNT = 100
TYPE_HISTORIES = ("CarePlan", "Task")


@dataclass
class Trail:
    """One resource's versions: their ids, newest first, and how to get one."""

    ids: list
    get: object
    missing: str


def task_row(resource_id: str):
    """The Commitment or NextStep behind a Task id (access already checked)."""
    if pk := number(resource_id, "commitment"):
        return (
            Commitment.objects.select_related(
                "contract__patient", "owner_organisation", "owner_staff", "owner_relative"
            )
            .filter(pk=pk)
            .first()
        )
    if pk := number(resource_id, "nextstep"):
        return (
            NextStep.objects.select_related("contract__patient", "organisation", "staff")
            .filter(pk=pk)
            .first()
        )
    return None


def task_resource(row) -> dict:
    build = commitment_task if isinstance(row, Commitment) else step_task
    return build(row, row.contract)


def versions_of(view, resource_type: str, resource_id: str) -> Trail:
    """The versions of one resource the organisation may read (404 otherwise); the read
    is logged as a read is."""
    integrator = view.integrator
    found = read_resource(
        integrator.organisation, integrator.client.name, resource_type, resource_id
    )
    view.log_reads(found)
    current = stamp(found.matches)[0]
    no_such = _("There is no such version of this resource.")
    if resource_type == "CarePlan":
        pk = int(current["id"])
        history = plan_histories([Contract(pk=pk)], {pk: current})[pk]
        return Trail([str(v) for v in history.versions()], lambda v: history.at(int(v)), no_such)
    if resource_type == "Task":
        row = task_row(resource_id)
        timeline = task_timelines(task_events([row.contract_id])).get(resource_id, [])
        versions = {v.version_id: v for v in task_versions(row, current, timeline)}
        return Trail(list(versions), versions.get, no_such)
    versions = current_only(current)
    return Trail([versions[0].version_id], lambda v: versions[0], not_kept_text(resource_type))


class FhirVRead(FhirView):
    """`GET [type]/[id]/_history/[vid]`: one version, as it was."""

    def get(self, request, resource_type, resource_id, version_id):
        self.strict_params()
        trail = versions_of(self, resource_type, resource_id)
        if version_id not in trail.ids:
            raise exceptions.NotFound(trail.missing)
        version = trail.get(version_id)
        if version.resource is None:
            raise exceptions.NotFound(version.why)
        return versioned_response(request, version.resource)


# --- history Bundles ----------------------------------------------------------------------


def history_params(view):
    """`_count` (1 to 100) and `_cursor` (and `_format`); anything else is refused as a
    search's is."""
    params = view.strict_params(*HISTORY_PARAMS)
    lenient = view.lenient_applied
    raw = params.get("_count", str(DEFAULT_COUNT))
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_COUNT):
        raise exceptions.ValidationError(
            {"_count": [_("Ask for between 1 and 100 results per page.")]}
        )
    cursor = params.get("_cursor")
    after = decode_cursor(cursor, ("int",), "_cursor")[0] if cursor else None
    return params, int(raw), after, lenient


def entry(base, kind, resource_id, version: Version) -> dict:
    response = {
        "status": "201 Created" if version.first else "200 OK",
        "etag": f'"{version.version_id}"',
        "lastModified": instant(version.at),
    }
    if version.resource is None:
        response["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "not-found", "diagnostics": version.why}],
        }
    return compact(
        {
            "fullUrl": f"{base}{kind}/{resource_id}",
            "resource": version.resource,
            "request": {
                "method": "POST" if version.first else "PUT",
                "url": kind if version.first else f"{kind}/{resource_id}",
            },
            "response": response,
        }
    )


def history_bundle(view, params, entries, next_key, total=None) -> dict:
    request = view.request
    url = request.build_absolute_uri(request.path)
    query = {k: params[k] for k in HISTORY_PARAMS if k in params}
    links = [{"relation": "self", "url": f"{url}?{urlencode(query)}" if query else url}]
    if next_key is not None:
        query["_cursor"] = encode_cursor([next_key])
        links.append({"relation": "next", "url": f"{url}?{urlencode(query)}"})
    return compact(
        {
            "resourceType": "Bundle",
            "type": "history",
            "timestamp": timezone.now().isoformat(),
            "total": total,
            "link": links,
            "entry": entries,
        }
    )


def _answer(view, bundle, lenient):
    response = Response(bundle)
    if lenient:
        mark_lenient(response)
    return response


class FhirInstanceHistory(FhirView):
    """`GET [type]/[id]/_history`: every version of one resource, newest first."""

    def get(self, request, resource_type, resource_id):
        params, count, after, lenient = history_params(self)
        trail = versions_of(self, resource_type, resource_id)
        ids = trail.ids
        if after is not None:
            if str(after) not in ids:
                raise exceptions.ValidationError(
                    {"_cursor": [_("This cursor is not valid. Start again without it.")]}
                )
            ids = ids[ids.index(str(after)) + 1 :]
        page, more = ids[:count], len(ids) > count
        base = self.base_url()
        entries = [entry(base, resource_type, resource_id, trail.get(v)) for v in page]
        bundle = history_bundle(
            self, params, entries, int(page[-1]) if more else None, total=len(trail.ids)
        )
        return _answer(self, bundle, lenient)


class FhirTypeHistory(FhirView):
    """`GET CarePlan/_history`, `GET Task/_history`: the versions the organisation's
    visible plans went through, newest first, one page of events at a time."""

    def get(self, request, resource_type):
        if resource_type not in TYPE_HISTORIES:
            raise exceptions.MethodNotAllowed(
                "GET",
                _("The history of this type is not kept: read each resource's own history."),
            )
        params, count, after, lenient = history_params(self)
        organisation = self.integrator.organisation
        kinds = PLAN_KINDS if resource_type == "CarePlan" else (*COMMITMENT_KINDS, *STEP_KINDS)
        events = Event.objects.filter(
            contract__in=Contract.objects.visible_to_organisation(organisation), kind__in=kinds
        )
        total = events.count() if resource_type == "CarePlan" else None
        if after is not None:
            events = events.filter(id__lt=after)
        rows = list(events.order_by("-id").only("id", "contract_id", "version")[: count + 1])
        page, more = rows[:count], len(rows) > count
        build = plan_entries if resource_type == "CarePlan" else task_entries
        entries = build(self, organisation, page)
        bundle = history_bundle(self, params, entries, page[-1].pk if more else None, total=total)
        return _answer(self, bundle, lenient)


def plan_entries(view, organisation, events) -> list:
    ids = {e.contract_id for e in events}
    contracts = list(fhir_contracts(organisation).filter(pk__in=ids))
    log_patients(view.integrator, [c.patient_id for c in contracts])
    histories = plan_histories(contracts, {c.pk: careplan_of(c) for c in contracts})
    base = view.base_url()
    return [
        entry(base, "CarePlan", str(e.contract_id), histories[e.contract_id].at(e.version))
        for e in events
        if e.contract_id in histories
    ]


def task_entries(view, organisation, events) -> list:
    ids = {e.contract_id for e in events}
    timelines = task_timelines(task_events(ids))
    wanted = {e.pk for e in events}
    touched = {
        task_id: timeline
        for task_id, timeline in timelines.items()
        if any(v.event_id in wanted for v in timeline)
    }
    commitments = Commitment.objects.select_related(
        "contract__patient", "owner_organisation", "owner_staff", "owner_relative"
    ).in_bulk([number(t, "commitment") for t in touched if t.startswith("commitment-")])
    steps = NextStep.objects.select_related("contract__patient", "organisation", "staff").in_bulk(
        [number(t, "nextstep") for t in touched if t.startswith("nextstep-")]
    )
    rows = [*commitments.values(), *steps.values()]
    log_patients(view.integrator, {row.contract.patient_id for row in rows})
    by_event = {}
    for task_id, timeline in touched.items():
        row = (commitments if task_id.startswith("commitment-") else steps).get(_row_id(task_id))
        if row is None:
            continue
        current = task_resource(row)
        stamp_task(current, timeline)
        for version in task_versions(row, current, timeline):
            by_event.setdefault(version.event_id, []).append((task_id, version))
    base = view.base_url()
    out = []
    for event in events:
        # An agreed step first, then the step it replaced.
        touching = by_event.get(event.pk, [])
        for task_id, version in sorted(touching, key=lambda tv: _row_id(tv[0]), reverse=True):
            out.append(entry(base, "Task", task_id, version))
    return out


def _row_id(task_id: str) -> int:
    return int(task_id.rsplit("-", 1)[1])
