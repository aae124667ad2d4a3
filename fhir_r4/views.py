"""FHIR R4 (read and search) at /fhir/R4/: the views, the renderer and errors as an
OperationOutcome. What is served is built in resources.py and loaded in queries.py."""

from urllib.parse import urlencode

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from naravard.integrator import IntegratorView
from naravard.problems import to_problem
from patients.access import log_integration_reads

from .queries import SEARCHES, Found, read_resource
from .resources import capability_statement, compact


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    415: "not-supported",
    429: "throttled",
    503: "transient",
}


def outcome(problem) -> dict:
    """A problem (naravard.problems) as an OperationOutcome."""
    code = ISSUE_CODES.get(problem.status, "processing")
    issues = [
        {"severity": "error", "code": code, "diagnostics": m, "expression": [name]}
        for name, messages in problem.errors.items()
        for m in messages
    ] or [{"severity": "error", "code": code, "diagnostics": problem.detail or problem.title}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def operation_outcome_handler(exc, context):
    """Errors as an OperationOutcome, with the same statuses and texts as the REST API."""
    problem = to_problem(exc)
    if problem is None:
        return None
    set_rollback()
    return Response(
        outcome(problem),
        status=problem.status,
        headers=problem.headers,
        content_type="application/fhir+json",
    )


class FhirView(IntegratorView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    schema = None  # FHIR describes itself in the CapabilityStatement, not in OpenAPI.

    def get_exception_handler(self):
        return operation_outcome_handler

    def base_url(self):
        return self.request.build_absolute_uri("/fhir/R4/")

    def log_reads(self, found: Found):
        integrator = self.integrator
        # A CarePlan read logs in the statement that loads it (api.reads): not twice.
        if found.patient_ids and not found.logged:
            log_integration_reads(
                integrator.organisation, integrator.client.name, sorted(found.patient_ids)
            )


class FhirRead(FhirView):
    def get(self, request, resource_type, resource_id):
        integrator = self.integrator
        found = read_resource(
            integrator.organisation, integrator.client.name, resource_type, resource_id
        )
        self.log_reads(found)
        resource = found.matches[0]
        response = Response(resource)
        if "versionId" in resource.get("meta", {}):
            response["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
        return response


class FhirSearch(FhirView):
    def get(self, request, resource_type):
        search = SEARCHES.get(resource_type)
        if search is None:
            raise exceptions.MethodNotAllowed("GET", _("Read this resource type by id."))
        params = request.query_params
        found = search(self.integrator.organisation, params)
        self.log_reads(found)
        base = self.base_url()
        links = [{"relation": "self", "url": request.build_absolute_uri()}]
        if found.next_cursor:
            query = params.copy()
            query["_cursor"] = found.next_cursor
            links.append(
                {"relation": "next", "url": f"{base}{resource_type}?{urlencode(query, doseq=True)}"}
            )
        entries = [(r, "match") for r in found.matches] + [(r, "include") for r in found.includes]
        return Response(
            compact(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "timestamp": timezone.now().isoformat(),
                    "link": links,
                    "entry": [
                        {
                            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
                            "resource": r,
                            "search": {"mode": mode},
                        }
                        for r, mode in entries
                    ],
                }
            )
        )


class Metadata(FhirView):
    """The CapabilityStatement: open to anyone, it holds no patient data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response(capability_statement(self.base_url()))


class FhirNotFound(Metadata):
    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound()
