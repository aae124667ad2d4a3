"""The REST API for integrators (/api/v1/): thin views over `contracts.services`.

Every read goes through the organisation's visibility rule (`patients.access`) and writes
one access-log row per patient before the answer is built; every write calls one service
with the integration as the actor. Reads carry the contract's ETag; writes need If-Match.
"""

import json
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from actors.models import Organisation, User
from contracts import services
from contracts.models import (
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    WarningSign,
)
from naravard.integrator import IntegratorView, contract_etag, expected_version
from naravard.paging import KeysetPage, decode_cursor, encode_cursor
from patients.access import (
    care_team_with_consent,
    log_integration_reads,
    patient_for_organisation,
    patients_visible_to_organisation,
)
from patients.models import Relative

from . import reads
from . import serializers as s

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag you last read, e.g. "contract-12-v7". Missing: 428; stale: 412.',
)
NOT_FOUND = {(404, "application/problem+json"): s.ProblemOut}
WRITE_ERRORS = {
    (code, "application/problem+json"): s.ProblemOut for code in (400, 403, 404, 409, 412, 428)
}


# --- what an organisation may see ----------------------------------------------------


def _part_querysets():
    return {
        "goals": Goal.objects.all(),
        "next_steps": NextStep.objects.all(),
        "commitments": Commitment.objects.all(),
        "care_contacts": FixedCareContact.objects.order_by("id"),
        "warning_signs": WarningSign.objects.all(),
        "contact_paths": ContactPath.objects.all(),
    }


def load_parts(contract_ids) -> dict[int, dict[str, list]]:
    """Each contract's parts as plain rows for `serializers.contract_out`: one query per
    part whatever the number of plans or rows, and no model instances (the profile of a
    contract read showed building those, with their joined owners, as its largest cost)."""
    contract_ids = list(dict.fromkeys(contract_ids))
    parts = {pk: {name: [] for name in s.PART_COLUMNS} for pk in contract_ids}
    if not contract_ids:
        return parts
    for name, queryset in _part_querysets().items():
        rows = queryset.filter(contract_id__in=contract_ids).values(*s.PART_COLUMNS[name])
        for row in rows:
            parts[row["contract_id"]][name].append(row)
    return parts


def contracts_out(contracts) -> list[dict]:
    """Whole plans as ContractOut shows them."""
    parts = load_parts(c.pk for c in contracts)
    return [s.contract_out(c, parts[c.pk]) for c in contracts]


def get_contract(organisation, pk) -> Contract:
    """The contract if its patient is visible to the organisation, else 404."""
    contract = Contract.objects.visible_to_organisation(organisation).filter(pk=pk).first()
    if contract is None:
        raise exceptions.NotFound()
    return contract


def page_response(request, page, data):
    next_url = None
    if page.has_more:
        query = request.query_params.copy()
        query["cursor"] = page.next_cursor
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    return Response(
        {
            "results": data,
            "next": next_url,
            "next_cursor": page.next_cursor,
            "has_more": page.has_more,
        }
    )


def with_etag(response, contract):
    response["ETag"] = contract_etag(contract)
    return response


class ReadView(IntegratorView):
    def log_reads(self, patient_ids):
        integrator = self.integrator
        log_integration_reads(integrator.organisation, integrator.client.name, patient_ids)

    def valid_params(self, serializer_class):
        params = serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data


# --- patients -------------------------------------------------------------------------


class PatientList(ReadView):
    @extend_schema(
        operation_id="patients_list", parameters=[s.ListParams], responses=s.page_of(s.PatientOut)
    )
    def get(self, request):
        params = self.valid_params(s.ListParams)
        patients = patients_visible_to_organisation(self.integrator.organisation)
        if "updated_since" in params:
            patients = patients.filter(updated_at__gte=params["updated_since"])
        page = KeysetPage(
            patients,
            ("updated_at", "id"),
            ("datetime", "int"),
            params.get("cursor"),
            params["page_size"],
        )
        self.log_reads(p.pk for p in page.rows)
        return page_response(request, page, s.PatientOut(page.rows, many=True).data)


class PatientDetail(ReadView):
    @extend_schema(responses={200: s.PatientOut, **NOT_FOUND})
    def get(self, request, pk):
        integrator = self.integrator
        patient = patient_for_organisation(integrator.organisation, integrator.client.name, pk)
        if patient is None:
            raise exceptions.NotFound()
        self.log_reads([patient.pk])
        return Response(s.PatientOut(patient).data)


class CareTeam(ReadView):
    """The patient's care team: organisations and named staff, with each one's consent."""

    @extend_schema(responses={200: s.CareTeamMemberOut(many=True), **NOT_FOUND})
    def get(self, request, pk):
        integrator = self.integrator
        if patient_for_organisation(integrator.organisation, integrator.client.name, pk) is None:
            raise exceptions.NotFound()
        members, consents = care_team_with_consent(pk)
        self.log_reads([pk])
        data = s.CareTeamMemberOut(members, many=True, context={"consents": consents}).data
        return Response(data)


# --- contracts -------------------------------------------------------------------------


class ContractList(ReadView):
    @extend_schema(
        operation_id="contracts_list",
        parameters=[s.ContractListParams],
        responses=s.page_of(s.ContractOut),
    )
    def get(self, request):
        params = self.valid_params(s.ContractListParams)
        contracts = Contract.objects.visible_to_organisation(self.integrator.organisation)
        if "updated_since" in params:
            contracts = contracts.filter(updated_at__gte=params["updated_since"])
        if "patient" in params:
            contracts = contracts.filter(patient_id=params["patient"])
        if "status" in params:
            contracts = contracts.filter(status=params["status"])
        page = KeysetPage(
            contracts,
            ("updated_at", "id"),
            ("datetime", "int"),
            params.get("cursor"),
            params["page_size"],
        )
        self.log_reads(c.patient_id for c in page.rows)
        return page_response(request, page, contracts_out(page.rows))


class ContractDetail(ReadView):
    @extend_schema(responses={200: s.ContractOut, 304: None, **NOT_FOUND})
    def get(self, request, pk):
        # Access check, log row and body in one statement (api.reads).
        integrator = self.integrator
        found = reads.read_contract(
            integrator.organisation, integrator.client.name, pk, timezone.now()
        )
        if found is None:
            raise exceptions.NotFound()
        version, body = found
        etag = contract_etag(Contract(pk=pk, version=version))
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponse(status=304)
        else:
            # Already JSON, shaped as ContractOut: sent as it is, not parsed and re-encoded.
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        return response


class WriteView(ReadView):
    """A write to one contract: If-Match first, then the body, then one service call."""

    def prepare(self, contract, serializer_class):
        version = expected_version(self.request, contract)
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return version, body.validated_data

    def answer(self, contract_id, item=None, serializer=None, status=200):
        """The changed plan (or item), read back as the next GET would show it."""
        contract = get_contract(self.integrator.organisation, contract_id)
        self.log_reads([contract.patient_id])
        data = serializer(item).data if item is not None else contracts_out([contract])[0]
        return with_etag(Response(data, status=status), contract)


class WhatMatters(WriteView):
    """What matters to me (vad är viktigt för mig), and the goals with it."""

    @extend_schema(
        request=s.WhatMattersWrite,
        parameters=[IF_MATCH],
        responses={200: s.ContractOut, **WRITE_ERRORS},
    )
    def put(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk)
        version, data = self.prepare(contract, s.WhatMattersWrite)
        with transaction.atomic():
            services.set_what_matters(
                actor=self.integrator.actor,
                contract=contract,
                text=data["what_matters"],
                goals=data.get("goals"),
                expected_version=version,
            )
            return self.answer(contract.pk)


def _organisation(pk):
    return Organisation.objects.filter(pk=pk).first() if pk else None


def _staff(pk):
    return User.objects.filter(pk=pk).first() if pk else None


def _owner(data, contract):
    """The owner objects for a commitment; unknown ids become None for the service to refuse."""
    relative_id = data.get("owner_relative")
    return {
        "owner_kind": data["owner_kind"],
        "owner_organisation": _organisation(data.get("owner_organisation")),
        "owner_staff": _staff(data.get("owner_staff")),
        "owner_relative": (
            Relative.objects.filter(pk=relative_id, patient_id=contract.patient_id).first()
            if relative_id
            else None
        ),
    }


class ContractCommitments(WriteView):
    """Who does what (vem gör vad): add a commitment to the plan."""

    @extend_schema(
        request=s.CommitmentCreate,
        parameters=[IF_MATCH],
        responses={201: s.CommitmentOut, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk)
        version, data = self.prepare(contract, s.CommitmentCreate)
        with transaction.atomic():
            commitment = services.add_commitment(
                actor=self.integrator.actor,
                contract=contract,
                expected_version=version,
                **_owner(data, contract),
                **Commitment.editable_in(data),
            )
            response = self.answer(contract.pk, commitment, s.CommitmentOut, status=201)
        response["Location"] = f"/api/v1/commitments/{commitment.pk}/"
        return response


def get_commitment(organisation, pk) -> Commitment:
    commitment = (
        Commitment.objects.filter(
            pk=pk, contract__in=Contract.objects.visible_to_organisation(organisation)
        )
        .select_related("contract", "owner_organisation", "owner_staff", "owner_relative")
        .first()
    )
    if commitment is None:
        raise exceptions.NotFound()
    return commitment


class CommitmentDetail(WriteView):
    @extend_schema(responses={200: s.CommitmentOut, **NOT_FOUND})
    def get(self, request, pk):
        commitment = get_commitment(self.integrator.organisation, pk)
        self.log_reads([commitment.contract.patient_id])
        return with_etag(Response(s.CommitmentOut(commitment).data), commitment.contract)

    @extend_schema(
        request=s.CommitmentUpdate,
        parameters=[IF_MATCH],
        responses={200: s.CommitmentOut, **WRITE_ERRORS},
    )
    def patch(self, request, pk):
        """Change the text, date or owner; `status` ticks it off, reopens or cancels it."""
        commitment = get_commitment(self.integrator.organisation, pk)
        contract = commitment.contract
        version, data = self.prepare(contract, s.CommitmentUpdate)
        actor = self.integrator.actor
        with transaction.atomic():
            changes = Commitment.editable_in(data)
            if "owner_kind" in data:
                changes.update(_owner(data, contract))
            cancel = data.get("status") == Commitment.Status.CANCELLED
            if changes or cancel:
                commitment = services.update_commitment(
                    actor=actor,
                    commitment=commitment,
                    expected_version=version,
                    cancel=cancel,
                    **changes,
                )
                version = commitment.contract.version
            if data.get("status") in (Commitment.Status.DONE, Commitment.Status.OPEN):
                commitment = services.complete_commitment(
                    actor=actor,
                    commitment=commitment,
                    expected_version=version,
                    done=data["status"] == Commitment.Status.DONE,
                )
            commitment = get_commitment(self.integrator.organisation, pk)
            return self.answer(contract.pk, commitment, s.CommitmentOut)


# --- next steps ------------------------------------------------------------------------


class ContractNextSteps(WriteView):
    """My next step (mitt nästa steg): agree the next one; a planned one is replaced."""

    @extend_schema(
        request=s.NextStepCreate,
        parameters=[IF_MATCH],
        responses={201: s.NextStepOut, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk)
        version, data = self.prepare(contract, s.NextStepCreate)
        with transaction.atomic():
            step = services.agree_next_step(
                actor=self.integrator.actor,
                contract=contract,
                expected_version=version,
                scheduled_at=data["scheduled_at"],
                channel=data["channel"],
                purpose=data["purpose"],
                location=data.get("location", ""),
                with_whom=data.get("with_whom", ""),
                organisation=_organisation(data.get("organisation")),
                staff=_staff(data.get("staff")),
            )
            step = get_next_step(self.integrator.organisation, step.pk)
            response = self.answer(contract.pk, step, s.NextStepOut, status=201)
        response["Location"] = f"/api/v1/next-steps/{step.pk}/"
        return response


def get_next_step(organisation, pk) -> NextStep:
    step = (
        NextStep.objects.filter(
            pk=pk, contract__in=Contract.objects.visible_to_organisation(organisation)
        )
        .select_related("contract", "organisation", "staff")
        .first()
    )
    if step is None:
        raise exceptions.NotFound()
    return step


class NextStepDetail(ReadView):
    @extend_schema(responses={200: s.NextStepOut, **NOT_FOUND})
    def get(self, request, pk):
        step = get_next_step(self.integrator.organisation, pk)
        self.log_reads([step.contract.patient_id])
        return with_etag(Response(s.NextStepOut(step).data), step.contract)


class NextStepOutcome(WriteView):
    """After the next step: what came of it, or that it did not happen."""

    @extend_schema(
        request=s.NextStepOutcome,
        parameters=[IF_MATCH],
        responses={200: s.NextStepOut, **WRITE_ERRORS},
    )
    def post(self, request, pk):
        step = get_next_step(self.integrator.organisation, pk)
        version, data = self.prepare(step.contract, s.NextStepOutcome)
        with transaction.atomic():
            services.record_next_step_outcome(
                actor=self.integrator.actor,
                step=step,
                expected_version=version,
                outcome=data["outcome"],
                happened=data["happened"],
            )
            step = get_next_step(self.integrator.organisation, pk)
            return self.answer(step.contract_id, step, s.NextStepOut)


# --- fixed care contact -------------------------------------------------------------------


class ContractCareContact(WriteView):
    """The fixed care contact (fast vårdkontakt): assign one named person."""

    @extend_schema(
        request=s.CareContactAssign,
        parameters=[IF_MATCH],
        responses={200: s.ContractOut, **WRITE_ERRORS},
    )
    def put(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk)
        version, data = self.prepare(contract, s.CareContactAssign)
        with transaction.atomic():
            services.assign_fixed_care_contact(
                actor=self.integrator.actor,
                contract=contract,
                expected_version=version,
                staff=_staff(data["staff"]),
                organisation=_organisation(data["organisation"]),
                how_to_reach=data.get("how_to_reach", ""),
                started_on=data.get("started_on"),
            )
            return self.answer(contract.pk)


# --- history and the change feed ------------------------------------------------------------


class ContractEvents(ReadView):
    """One plan's history (händelselogg), oldest first."""

    @extend_schema(parameters=[s.ListParams], responses=s.page_of(s.EventOut))
    def get(self, request, pk):
        params = self.valid_params(s.ListParams)
        contract = get_contract(self.integrator.organisation, pk)
        events = Event.objects.filter(contract=contract)
        if "updated_since" in params:
            events = events.filter(at__gte=params["updated_since"])
        page = KeysetPage(events, ("id",), ("int",), params.get("cursor"), params["page_size"])
        self.log_reads([contract.patient_id])
        return page_response(request, page, s.EventOut(page.rows, many=True).data)


class Changes(ReadView):
    """Every change to the plans of the organisation's patients since a cursor, in order.

    Keep `next_cursor` and ask again with `since=`: nothing is missed or repeated."""

    @extend_schema(parameters=[s.ChangesParams], responses=s.ChangesOut)
    def get(self, request):
        # The page, its log rows and its JSON in one statement (api.reads).
        params = self.valid_params(s.ChangesParams)
        since = params.get("since")
        after = decode_cursor(since, ("int", "int"), "since") if since else (0, 0)
        integrator = self.integrator
        events, contracts, patients, last, has_more = reads.read_changes(
            integrator.organisation, integrator.client.name, after, params["limit"], timezone.now()
        )
        head = {
            "contracts": contracts,
            "patients": patients,
            "next_cursor": encode_cursor(list(last)) if last else since,
            "has_more": has_more,
        }
        # The events are JSON already; the rest is small. Same keys as ChangesOut.
        body = '{"events":' + events + "," + json.dumps(head, separators=(",", ":"))[1:]
        return HttpResponse(body, content_type="application/json")


# --- docs and unknown paths ------------------------------------------------------------------


class ApiDocs(SpectacularSwaggerSplitView):
    """Swagger UI from the sidecar package, its start-up script a separate file (strict CSP)."""

    template_name = "contracts/api_docs.html"


class ApiNotFound(IntegratorView):
    """Any other path under /api/v1/: a problem document, not the HTML 404 page."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound()

    post = put = patch = delete = get
