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
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
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
from naravard.strict import applied_params, fits_id, mark_lenient, prefers_lenient
from patients.access import (
    care_team_with_consent,
    for_organisation,
    log_integration_reads,
    patient_for_organisation,
    patients_visible_to_organisation,
)
from patients.models import Relative

from . import reads
from . import serializers as s
from .openapi import ApiSchema

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


def get_contract(organisation, pk, client_name="") -> Contract:
    """The contract if its patient is visible to the organisation, else 404 (and a
    `denied` row when it exists: patients.access.for_organisation)."""
    contract = for_organisation(organisation, client_name, Contract.objects.all(), pk, "patient")
    if contract is None:
        raise exceptions.NotFound()
    return contract


def page_response(request, page, data, applied):
    """A keyset page; its links carry only the parameters that were `applied`."""
    base = request.build_absolute_uri(request.path)
    self_url = base + ("?" + urlencode(applied, doseq=True) if applied else "")
    next_url = None
    if page.has_more:
        query = applied.copy()
        query["cursor"] = page.next_cursor
        next_url = base + "?" + urlencode(query, doseq=True)
    return Response(
        {
            "results": data,
            "self": self_url,
            "next": next_url,
            "next_cursor": page.next_cursor,
            "has_more": page.has_more,
        }
    )


def with_etag(response, contract):
    response["ETag"] = contract_etag(contract)
    return response


class ReadView(IntegratorView):
    # Its parameters and every status code it can answer (api.openapi).
    schema = ApiSchema()
    # The query parameters this endpoint supports, in one place: a serializer that checks
    # them and that the OpenAPI schema lists (api.openapi). Any other parameter is a 400
    # naming it, unless the client sends `Prefer: handling=lenient` (naravard.strict).
    params = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if "pk" in kwargs and not fits_id(kwargs["pk"]):
            # Digits, but more than any row id can be: no such row.
            raise exceptions.NotFound()
        self.lenient = prefers_lenient(request)
        supported = self.params().fields if self.params is not None else ()
        self.applied = applied_params(request.query_params, supported, lenient=self.lenient)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "lenient", False):
            mark_lenient(response)
        return response

    def log_reads(self, patient_ids):
        integrator = self.integrator
        log_integration_reads(integrator.organisation, integrator.client.name, patient_ids)

    def valid_params(self):
        # A plain dict, not the QueryDict: DRF would take an empty value of a form field
        # as "not sent". Here `?updated_since=` is refused, and so is a repeated parameter.
        data = {}
        for name, values in self.applied.lists():
            if len(values) > 1:
                raise exceptions.ValidationError({name: [_("Give this parameter only once.")]})
            data[name] = values[0]
        params = self.params(data=data)
        params.is_valid(raise_exception=True)
        return params.validated_data


# --- patients -------------------------------------------------------------------------


class PatientList(ReadView):
    params = s.ListParams

    @extend_schema(operation_id="patients_list", responses=s.page_of(s.PatientOut))
    def get(self, request):
        params = self.valid_params()
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
        data = s.PatientOut(page.rows, many=True).data
        return page_response(request, page, data, self.applied)


class PatientDetail(ReadView):
    @extend_schema(responses={200: s.PatientOut})
    def get(self, request, pk):
        integrator = self.integrator
        patient = patient_for_organisation(integrator.organisation, integrator.client.name, pk)
        if patient is None:
            raise exceptions.NotFound()
        self.log_reads([patient.pk])
        return Response(s.PatientOut(patient).data)


class CareTeam(ReadView):
    """The patient's care team: organisations and named staff, with each one's consent."""

    @extend_schema(responses={200: s.CareTeamMemberOut(many=True)})
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
    params = s.ContractListParams

    @extend_schema(operation_id="contracts_list", responses=s.page_of(s.ContractOut))
    def get(self, request):
        params = self.valid_params()
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
        return page_response(request, page, contracts_out(page.rows), self.applied)


class ContractDetail(ReadView):
    @extend_schema(responses={200: s.ContractOut, 304: None})
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

    # Its writes need If-Match (expected_version): the schema says so (api.openapi).
    takes_if_match = True

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
        responses={200: s.ContractOut},
    )
    def put(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk, self.integrator.client.name)
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


def _referenced(queryset, data, field, message):
    """The row `data[field]` names, None when the field is absent or null; an id that names
    no such row is a 400 naming the field, never replaced by a default or by nothing."""
    pk = data.get(field)
    if pk is None:
        return None
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise exceptions.ValidationError({field: [message]})
    return row


def _organisation(data, field):
    return _referenced(
        Organisation.objects.all(), data, field, _("There is no organisation with this id.")
    )


def _staff(data, field):
    return _referenced(User.objects.all(), data, field, _("There is no staff member with this id."))


def _owner(data, contract):
    """The owner objects for a commitment; an unknown id is a 400 naming its field."""
    return {
        "owner_kind": data["owner_kind"],
        "owner_organisation": _organisation(data, "owner_organisation"),
        "owner_staff": _staff(data, "owner_staff"),
        "owner_relative": _referenced(
            Relative.objects.filter(patient_id=contract.patient_id),
            data,
            "owner_relative",
            _("The patient has no relative with this id."),
        ),
    }


class ContractCommitments(WriteView):
    """Who does what (vem gör vad): add a commitment to the plan."""

    @extend_schema(
        request=s.CommitmentCreate,
        responses={201: s.CommitmentOut},
    )
    def post(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk, self.integrator.client.name)
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


def get_commitment(organisation, pk, client_name="") -> Commitment:
    commitment = for_organisation(
        organisation,
        client_name,
        Commitment.objects.select_related(
            "contract", "owner_organisation", "owner_staff", "owner_relative"
        ),
        pk,
        "contract__patient",
    )
    if commitment is None:
        raise exceptions.NotFound()
    return commitment


class CommitmentDetail(WriteView):
    @extend_schema(responses={200: s.CommitmentOut})
    def get(self, request, pk):
        commitment = get_commitment(self.integrator.organisation, pk, self.integrator.client.name)
        self.log_reads([commitment.contract.patient_id])
        return with_etag(Response(s.CommitmentOut(commitment).data), commitment.contract)

    @extend_schema(
        request=s.CommitmentUpdate,
        responses={200: s.CommitmentOut},
    )
    def patch(self, request, pk):
        """Change the text, date or owner; `status` ticks it off, reopens or cancels it."""
        commitment = get_commitment(self.integrator.organisation, pk, self.integrator.client.name)
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
        responses={201: s.NextStepOut},
    )
    def post(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk, self.integrator.client.name)
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
                organisation=_organisation(data, "organisation"),
                staff=_staff(data, "staff"),
            )
            step = get_next_step(self.integrator.organisation, step.pk)
            response = self.answer(contract.pk, step, s.NextStepOut, status=201)
        response["Location"] = f"/api/v1/next-steps/{step.pk}/"
        return response


def get_next_step(organisation, pk, client_name="") -> NextStep:
    steps = NextStep.objects.select_related("contract", "organisation", "staff")
    step = for_organisation(organisation, client_name, steps, pk, "contract__patient")
    if step is None:
        raise exceptions.NotFound()
    return step


class NextStepDetail(ReadView):
    @extend_schema(responses={200: s.NextStepOut})
    def get(self, request, pk):
        step = get_next_step(self.integrator.organisation, pk, self.integrator.client.name)
        self.log_reads([step.contract.patient_id])
        return with_etag(Response(s.NextStepOut(step).data), step.contract)


class NextStepOutcome(WriteView):
    """After the next step: what came of it, or that it did not happen."""

    @extend_schema(
        request=s.NextStepOutcome,
        responses={200: s.NextStepOut},
    )
    def post(self, request, pk):
        step = get_next_step(self.integrator.organisation, pk, self.integrator.client.name)
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
        responses={200: s.ContractOut},
    )
    def put(self, request, pk):
        contract = get_contract(self.integrator.organisation, pk, self.integrator.client.name)
        version, data = self.prepare(contract, s.CareContactAssign)
        with transaction.atomic():
            services.assign_fixed_care_contact(
                actor=self.integrator.actor,
                contract=contract,
                expected_version=version,
                staff=_staff(data, "staff"),
                organisation=_organisation(data, "organisation"),
                how_to_reach=data.get("how_to_reach", ""),
                started_on=data.get("started_on"),
            )
            return self.answer(contract.pk)


# --- history and the change feed ------------------------------------------------------------


class ContractEvents(ReadView):
    """One plan's history (händelselogg), oldest first."""

    params = s.ListParams

    @extend_schema(responses=s.page_of(s.EventOut))
    def get(self, request, pk):
        params = self.valid_params()
        contract = get_contract(self.integrator.organisation, pk, self.integrator.client.name)
        events = Event.objects.filter(contract=contract)
        if "updated_since" in params:
            events = events.filter(at__gte=params["updated_since"])
        page = KeysetPage(events, ("id",), ("int",), params.get("cursor"), params["page_size"])
        self.log_reads([contract.patient_id])
        return page_response(request, page, s.EventOut(page.rows, many=True).data, self.applied)


class Changes(ReadView):
    """Every change to the plans of the organisation's patients since a cursor, in order.

    Keep `next_cursor` and ask again with `since=`: nothing is missed or repeated."""

    params = s.ChangesParams

    @extend_schema(responses=s.ChangesOut)
    def get(self, request):
        # The page, its log rows and its JSON in one statement (api.reads).
        params = self.valid_params()
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
