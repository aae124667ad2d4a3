"""FHIR writes an integration needs: add a commitment to a plan (`POST Task`), tick it off,
reopen it or cancel it (`PUT Task/commitment-N`). Each goes through the same service as
the plan page and the REST API (contracts.services), with the integration as the actor,
so the events, notifications and refusals are the same whichever door is used.

- `PUT Task/commitment-N` takes the whole Task as it was read, with only `status`
  changed (FHIR's own way to update; no PATCH): `completed` ticks it off
  (complete_commitment), `ready` reopens a ticked-off one, `cancelled` cancels it
  (update_commitment). Any other difference is 422: the text, date and owner are changed
  through the REST API. The same status again changes nothing. Next steps are not
  written through FHIR (405).
- `POST Task` adds a commitment (add_commitment): `basedOn` the CarePlan, `description`
  (what), `owner` (an Organization, a PractitionerRole for a named staff member in their
  organisation, or the plan's Patient for self-care), `restriction.period.end` the due
  date (the element a Task read shows it in; `executionPeriod.end` is when it was done),
  `status` ready and `intent` plan. Unknown referenced ids are 400, never replaced.
- Who may: the `write` scope; cancelling is open to the owner and to the organisation that
  added the commitment (contracts.services.can_cancel_commitment), so an integration can
  take back what it added. Refused: 403; a plan or Task it cannot see: 404.
- If-Match is required (428 without it) and compared strongly (RFC 9110 13.1.1): a weak
  tag is 412, as is an older version. For PUT it names the Task's version, for POST the
  CarePlan's version (the plan the Task goes into, as the REST API's If-Match on adding a
  commitment): `If-Match: "3"`, the ETag as the read sent it (fhir_r4.etags).
"""

import re
from datetime import date

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from fhir.resources.R4B.task import Task as TaskModel
from pydantic import ValidationError as ModelError
from rest_framework import exceptions
from rest_framework.response import Response

from actors.models import Membership, Organisation
from contracts import services
from contracts.models import Commitment, Contract, OwnerKind
from naravard.bodies import JSONBodyParser
from naravard.integrator import WeakETag, if_match_tags

from .etags import log_patients, versioned_response
from .queries import number
from .resources import COMMITMENT_STATUS, commitment_task
from .versions import stamp, version_of


class FhirJSONParser(JSONBodyParser):
    """FHIR's JSON media type, with the same limits as every integrator body."""

    media_type = "application/fhir+json"


class StrongETagOnly(WeakETag):
    default_detail = gettext_lazy(
        'If-Match takes the version as a strong ETag, without "W/": If-Match: "3".'
    )


class VersionConflict(exceptions.APIException):
    status_code = 412
    default_code = "stale_version"


class Unprocessable(exceptions.APIException):
    """422: a valid Task that this server will not take (FHIR's answer for a rule)."""

    status_code = 422
    default_code = "unprocessable"

    def __init__(self, errors: dict):
        super().__init__(" ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


_TAG = re.compile(r'^"([^"]*)"$')


def check_if_match(request, current_version: str) -> None:
    """The version the client last read must be the current one (a strong ETag)."""
    tags = [_TAG.match(tag) for tag in if_match_tags(request, weak=StrongETagOnly)]
    if any(tag is None for tag in tags):
        raise StrongETagOnly()
    if current_version not in {tag[1] for tag in tags}:
        raise VersionConflict(
            _("This has changed since you read it: it is at version %(version)s now.")
            % {"version": current_version}
        )


def task_body(request) -> dict:
    """The request's Task, checked against the R4 structure (via R4B, as the tests do)."""
    body = request.data
    if not isinstance(body, dict) or body.get("resourceType") != "Task":
        raise exceptions.ValidationError({"resourceType": [_("Send a Task resource.")]})
    try:
        TaskModel.model_validate(body)
    except ModelError as error:
        raise exceptions.ValidationError(
            {
                "Task." + ".".join(str(part) for part in e["loc"]): [e["msg"]]
                for e in error.errors()[:20]
            }
        ) from None
    return body


# The elements a Task read shows (resources.commitment_task): what a write may send. Any
# other (priority, note, requester, an extension ...) would be dropped without a word, so
# it is refused (422) naming it; a read's Task can be sent back as it was.
STORED = {
    "resourceType",
    "id",
    "meta",
    "text",
    "status",
    "intent",
    "code",
    "description",
    "basedOn",
    "for",
    "authoredOn",
    "executionPeriod",
    "restriction",
    "owner",
}


def refuse_unstored(body: dict) -> None:
    names = [f"Task.{name}" for name in sorted(set(body) - STORED)]
    restriction = body.get("restriction")
    if isinstance(restriction, dict):
        names += [f"Task.restriction.{name}" for name in sorted(set(restriction) - {"period"})]
        period = restriction.get("period")
        if isinstance(period, dict):
            names += [f"Task.restriction.period.{name}" for name in sorted(set(period) - {"end"})]
    if names:
        message = _("This element is not stored here: leave it out.")
        raise Unprocessable({name: [message] for name in names})


def _reference(value, field_name) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        raise exceptions.ValidationError({field_name: [_("Give a reference.")]})
    return value["reference"]


# --- PUT Task/commitment-N -------------------------------------------------------------------


# What a PUT may not change, compared as FHIR shows it.
def _fixed_parts(task: dict) -> dict:
    return {
        "Task.description": task.get("description"),
        "Task.intent": task.get("intent"),
        "Task.basedOn": [(r or {}).get("reference") for r in task.get("basedOn", [])],
        "Task.for": (task.get("for") or {}).get("reference"),
        "Task.owner": (task.get("owner") or {}).get("reference"),
        "Task.restriction.period.end": (
            ((task.get("restriction") or {}).get("period") or {}).get("end")
        ),
    }


def commitment_resource(commitment: Commitment) -> dict:
    return stamp([commitment_task(commitment, commitment.contract)])[0]


def visible_commitment(organisation, pk) -> Commitment | None:
    return (
        Commitment.objects.filter(
            pk=pk, contract__in=Contract.objects.visible_to_organisation(organisation)
        )
        .select_related("contract__patient", "owner_organisation", "owner_staff", "owner_relative")
        .first()
    )


def update_task(view, resource_id: str) -> Response:
    """PUT Task/commitment-N: change its status, through the commitment services."""
    request = view.request
    integrator = view.integrator
    if number(resource_id, "nextstep"):
        raise exceptions.MethodNotAllowed(
            "PUT", _("A next step is changed through the REST API, not through FHIR.")
        )
    pk = number(resource_id, "commitment")
    with transaction.atomic():
        commitment = visible_commitment(integrator.organisation, pk) if pk else None
        if commitment is None:
            raise exceptions.NotFound()
        # Hold the plan while its version is compared and the service writes.
        Contract.objects.select_for_update(of=("self",)).filter(pk=commitment.contract_id).get()
        commitment = visible_commitment(integrator.organisation, pk)
        current = commitment_resource(commitment)
        check_if_match(request, version_of(current))
        body = task_body(request)
        if body.get("id") != resource_id:
            raise exceptions.ValidationError(
                {"Task.id": [_("Send the id of the Task you change.")]}
            )
        refuse_unstored(body)
        changed = [
            name
            for name, value in _fixed_parts(body).items()
            if value != _fixed_parts(current)[name]
        ]
        if changed:
            message = _("Only the status can be changed here; this differs: %(names)s.") % {
                "names": ", ".join(changed)
            }
            raise Unprocessable({name: [message] for name in changed})
        wanted = body["status"]
        ours = {theirs: ours for ours, theirs in COMMITMENT_STATUS.items()}.get(wanted)
        if ours is None:
            raise Unprocessable(
                {"Task.status": [_("Set the status to ready, completed or cancelled.")]}
            )
        if ours != commitment.status:
            actor = integrator.actor
            version = commitment.contract.version
            if ours == Commitment.Status.CANCELLED:
                services.update_commitment(
                    actor=actor, commitment=commitment, expected_version=version, cancel=True
                )
            else:
                services.complete_commitment(
                    actor=actor,
                    commitment=commitment,
                    expected_version=version,
                    done=ours == Commitment.Status.DONE,
                )
        log_patients(integrator, [commitment.contract.patient_id])
        resource = commitment_resource(visible_commitment(integrator.organisation, pk))
    return versioned_response(request, resource)


# --- POST Task -------------------------------------------------------------------------------


def _owner(reference: str, contract: Contract) -> dict:
    """The owner a Task names, as add_commitment takes it; an unknown id is 400."""
    kind, _sep, raw = reference.partition("/")
    pk = number(raw)
    unknown = exceptions.ValidationError(
        {"Task.owner": [_("No such owner: %(ref)s.") % {"ref": reference[:80]}]}
    )
    if kind == "Organization":
        organisation = Organisation.objects.filter(pk=pk).first() if pk else None
        if organisation is None:
            raise unknown
        return {"owner_kind": OwnerKind.ORGANISATION, "owner_organisation": organisation}
    if kind == "PractitionerRole":
        membership = (
            Membership.objects.select_related("user", "organisation").filter(pk=pk).first()
            if pk
            else None
        )
        if membership is None:
            raise unknown
        return {
            "owner_kind": OwnerKind.STAFF,
            "owner_organisation": membership.organisation,
            "owner_staff": membership.user,
        }
    if kind == "Patient":
        if pk != contract.patient_id:
            raise exceptions.ValidationError(
                {"Task.owner": [_("Only the plan's own patient can own a self-care task.")]}
            )
        return {"owner_kind": OwnerKind.PATIENT}
    raise exceptions.ValidationError(
        {
            "Task.owner": [
                _("Name an Organization, a PractitionerRole or the plan's Patient as owner.")
            ]
        }
    )


def _due_date(body) -> date | None:
    raw = ((body.get("restriction") or {}).get("period") or {}).get("end")
    if raw is None:
        return None
    # A whole date: "2027" or "2027-03" (valid FHIR dateTimes) would otherwise be
    # dropped and the commitment saved with no due date at all.
    if isinstance(raw, str) and re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            pass
    raise exceptions.ValidationError(
        {"Task.restriction.period.end": [_("Give the due date as a date (2025-03-01).")]}
    )


# Field names of the services' errors, as FHIR paths of the Task.
SERVICE_FIELDS = {
    "what": "Task.description",
    "due_date": "Task.restriction.period.end",
    "owner_kind": "Task.owner",
    "owner_organisation": "Task.owner",
    "owner_staff": "Task.owner",
    "owner_relative": "Task.owner",
}


def create_task(view) -> Response:
    """POST Task: add a commitment to a plan the organisation serves."""
    request = view.request
    integrator = view.integrator
    body = task_body(request)
    refuse_unstored(body)
    if body.get("status") != "ready" or body.get("intent") != "plan":
        raise Unprocessable(
            {"Task.status": [_("A new commitment has status ready and intent plan.")]}
        )
    based_on = body.get("basedOn") or []
    plan_ref = _reference(based_on[0], "Task.basedOn") if len(based_on) == 1 else ""
    if not plan_ref.startswith("CarePlan/"):
        raise exceptions.ValidationError(
            {"Task.basedOn": [_("Name the one CarePlan the commitment belongs to.")]}
        )
    plan_id = number(plan_ref.removeprefix("CarePlan/"))
    visible = Contract.objects.visible_to_organisation(integrator.organisation)
    contract = visible.filter(pk=plan_id).select_related("patient").first() if plan_id else None
    if contract is None:
        raise exceptions.ValidationError(
            {"Task.basedOn": [_("No such CarePlan: %(ref)s.") % {"ref": plan_ref[:80]}]}
        )
    if "for" in body and _reference(body["for"], "Task.for") != f"Patient/{contract.patient_id}":
        raise exceptions.ValidationError(
            {"Task.for": [_("The Task is for the patient of its CarePlan.")]}
        )
    owner = _owner(_reference(body.get("owner"), "Task.owner"), contract)
    due = _due_date(body)
    with transaction.atomic():
        contract = Contract.objects.select_for_update(of=("self",)).get(pk=contract.pk)
        check_if_match(request, str(contract.version))
        try:
            commitment = services.add_commitment(
                actor=integrator.actor,
                contract=contract,
                expected_version=contract.version,
                what=body.get("description") or "",
                due_date=due,
                **owner,
            )
        except DjangoValidationError as error:
            if not hasattr(error, "error_dict"):
                raise
            errors = {}
            for name, messages in error.message_dict.items():
                errors.setdefault(SERVICE_FIELDS.get(name, name), []).extend(messages)
            raise exceptions.ValidationError(errors) from None
        log_patients(integrator, [contract.patient_id])
        resource = commitment_resource(visible_commitment(integrator.organisation, commitment.pk))
    response = versioned_response(request, resource, status=201)
    response["Location"] = (
        f"{view.base_url()}Task/{resource['id']}/_history/{resource['meta']['versionId']}"
    )
    return response
