"""FHIR R4 (read and search) at /fhir/R4/: the views, the renderer and errors as an
OperationOutcome. What is served is built in resources.py and loaded in queries.py."""

from urllib.parse import parse_qsl, urlencode

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from naravard.bodies import MAX_BODY_BYTES, JSONBodyParser, too_large
from naravard.integrator import IntegratorView
from naravard.problems import to_problem
from naravard.strict import applied_params, mark_lenient, prefers_lenient
from patients.access import log_integration_reads

from . import writes
from .etags import versioned_response
from .queries import RESOURCE_TYPES, SEARCHES, Found, read_resource
from .resources import capability_statement, compact
from .search import JSON_FORMATS, SENSITIVE, parse_search
from .versions import stamp
from .writes import FhirJSONParser


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

    def strict_params(self, *supported):
        """The query parameters of a door that is not a search (read, vread, history,
        metadata, Subscription): `supported` and `_format` (JSON only), anything else a
        400 naming it as a search's, or ignored with `Prefer: handling=lenient`."""
        request = self.request
        lenient = prefers_lenient(request)
        params = applied_params(request.query_params, (*supported, "_format"), lenient=lenient)
        if any(value not in JSON_FORMATS for value in params.getlist("_format")):
            raise exceptions.ValidationError(
                {"_format": [_("Only JSON is served: use _format=json.")]}
            )
        self.lenient_applied = lenient
        return params

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "lenient_applied", False):
            mark_lenient(response)
        return response

    def log_reads(self, found: Found):
        integrator = self.integrator
        # A CarePlan read logs in the statement that loads it (api.reads): not twice.
        if found.patient_ids and not found.logged:
            log_integration_reads(
                integrator.organisation, integrator.client.name, sorted(found.patient_ids)
            )


class FhirRead(FhirView):
    """`GET [type]/[id]` with its ETag and Last-Modified, conditional (etags.py);
    `PUT Task/[id]` changes a commitment's status (writes.py)."""

    parser_classes = [FhirJSONParser, JSONBodyParser]

    def get(self, request, resource_type, resource_id):
        self.strict_params()
        integrator = self.integrator
        found = read_resource(
            integrator.organisation, integrator.client.name, resource_type, resource_id
        )
        self.log_reads(found)
        return versioned_response(request, stamp(found.matches)[0])

    def put(self, request, resource_type, resource_id):
        if resource_type != "Task":
            raise exceptions.MethodNotAllowed("PUT", _("Only a Task can be changed here."))
        self.strict_params()
        return writes.update_task(self, resource_id)


class SearchFormParser(BaseParser):
    """`POST [type]/_search`: the search parameters as a form body (FHIR's way to keep
    identifiers out of URLs), at most MAX_BODY_BYTES (413 above), UTF-8."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise too_large()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(_("Send the form body in UTF-8.")) from exc
        return parse_qsl(text, keep_blank_values=True)


class FhirSearch(FhirView):
    """`GET [type]?…`: a search, strict about its parameters (search.parse_search)."""

    def get(self, request, resource_type):
        return self.search(resource_type, pairs(request.query_params))

    def search(self, resource_type, items, *, posted=False):
        request = self.request
        spec = SEARCHES.get(resource_type)
        if spec is None:
            raise exceptions.MethodNotAllowed(request.method, _("Read this resource type by id."))
        lenient = prefers_lenient(request)
        query = parse_search(spec, items, lenient=lenient)
        found = spec.run(self.integrator.organisation, query)
        self.log_reads(found)
        stamp([*found.matches, *found.includes])  # meta.versionId (versions.py)
        response = Response(search_bundle(self.base_url(), resource_type, query, found, posted))
        if lenient:
            mark_lenient(response)
        return response


class FhirSearchOrCreate(FhirSearch):
    """`GET [type]` searches (FhirSearch); `POST Task` adds a commitment (writes.py)."""

    parser_classes = [FhirJSONParser, JSONBodyParser]

    def post(self, request, resource_type):
        if resource_type != "Task":
            raise exceptions.MethodNotAllowed("POST", _("Only a Task can be created here."))
        self.strict_params()
        return writes.create_task(self)


class FhirSearchPost(FhirSearch):
    """`POST [type]/_search`: the same search, its parameters in a form body (and the query
    string). It only reads: the read scope and the read rate limit apply."""

    reads_only = True
    parser_classes = [SearchFormParser]

    def get(self, request, resource_type):
        raise exceptions.MethodNotAllowed("GET", _("Send the search as a form with POST."))

    def post(self, request, resource_type):
        data = request.data
        body = data if isinstance(data, list) else pairs(data) if hasattr(data, "lists") else []
        return self.search(resource_type, pairs(request.query_params) + body, posted=True)


def pairs(params) -> list:
    """A QueryDict as [(name, value)], every value of a repeated name."""
    return [(name, value) for name, values in params.lists() for value in values]


def search_bundle(base, resource_type, query, found, posted) -> dict:
    """The searchset Bundle: total, matches, includes, what lenient handling ignored, and
    links built from the parameters applied (normalised), never from the raw request.

    A POST search keeps identity numbers out of URLs: its self link is the `_search` URL
    with each sensitive value masked ("*", which no search accepts, so a replay is a 400,
    never "everyone"). It has no paging links when a sensitive parameter was applied: an
    identity number names one patient, so such a search has one page."""
    sensitive = SENSITIVE.get(resource_type, frozenset()) & {name for name, _v in query.applied}
    if posted:
        shown = [(n, mask_identifier(v) if n in sensitive else v) for n, v in query.applied]
        links = [{"relation": "self", "url": f"{base}{resource_type}/_search?{urlencode(shown)}"}]
    else:
        links = [{"relation": "self", "url": f"{base}{resource_type}?{urlencode(query.applied)}"}]
    page = found.page
    if page is not None and not (posted and sensitive):
        for relation, key, cursor in (
            ("previous", "_before", page.previous_cursor),
            ("next", "_cursor", page.next_cursor),
        ):
            if cursor:
                params = urlencode([*query.applied, (key, cursor)])
                links.append({"relation": relation, "url": f"{base}{resource_type}?{params}"})
    entries = [
        {
            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": mode},
        }
        for mode, resources in (("match", found.matches), ("include", found.includes))
        for r in resources
    ]
    if query.ignored:
        entries.append({"resource": ignored_outcome(query.ignored), "search": {"mode": "outcome"}})
    return compact(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timezone.now().isoformat(),
            "total": found.total,
            "link": links,
            "entry": entries,
        }
    )


def mask_identifier(value: str) -> str:
    system, bar, _number = value.rpartition("|")
    return f"{system}{bar}*"


def ignored_outcome(names) -> dict:
    """`Prefer: handling=lenient`: which parameters were not applied."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "not-supported",
                "diagnostics": _("This search parameter was ignored (handling=lenient)."),
                "expression": [name],
            }
            for name in names
        ],
    }


class Metadata(FhirView):
    """The CapabilityStatement: open to anyone, it holds no patient data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        from push.fhir import SUBSCRIPTION_CAPABILITY  # push.fhir builds on these views

        params = self.strict_params("mode", "_summary")
        # Clients ask `metadata?_summary=true` to check the FHIR version (Firely's does on
        # start): the statement holds summary elements only, so it is its own summary.
        # Of the modes only `full` is served: no normative or terminology subsets.
        if any(v not in ("true", "false") for v in params.getlist("_summary")) or any(
            v != "full" for v in params.getlist("mode")
        ):
            raise exceptions.ValidationError(
                {"_summary": [_("Use _summary=true or false, and mode=full, or neither.")]}
            )
        searches = {kind: spec.capability() for kind, spec in SEARCHES.items()}
        return Response(
            capability_statement(
                self.base_url(), RESOURCE_TYPES, searches, others=[SUBSCRIPTION_CAPABILITY]
            )
        )


class FhirNotFound(Metadata):
    """Any other path (an unknown resource type, say): 404 whatever the method, as the
    REST API's unknown paths, not a 405 that suggests the path exists."""

    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound()

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound()
