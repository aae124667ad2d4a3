"""The OpenAPI schema of /api/v1/: every status code each operation can answer, from one
table, and each endpoint's query parameters from the one place the view declares them.

Every REST view's schema is `ApiSchema`. It adds to what a view declares with
`extend_schema` (its success answers):
- the query parameters of the view's `params` serializer (the same one that checks them),
  the `Prefer` header (`handling=lenient`), and on the writes of a view that takes it
  (`takes_if_match`, api.views.WriteView) the required `If-Match`;
- an RFC 9457 problem answer for each status code in `ERRORS` that applies to the
  operation (any operation, with an id in the path, a write, a write that takes
  If-Match), unless the view already documents that code.

Every view under /api/v1/ is a ReadView (api.views), push's webhooks too.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from . import serializers as s

PROBLEM = "application/problem+json"
WRITES = ("POST", "PUT", "PATCH", "DELETE")

# Status → which operations can answer it, and why (shown in the schema's descriptions).
# "any": every operation; "id": those with an id in the path; "write": POST, PUT, PATCH,
# DELETE; "versioned": the writes of a view that takes If-Match (`takes_if_match`).
ERRORS = {
    400: ("any", "A parameter or body field is not valid, or not supported (see `errors`)."),
    401: ("any", "No valid access token."),
    403: ("any", "The token lacks the scope, or the organisation may not do this."),
    404: ("id", "No such row, or not one the organisation may see."),
    406: ("any", "Only application/json is served."),
    409: ("versioned", "The plan is not in a state that allows this."),
    412: ("versioned", "The If-Match ETag is stale or weak (strong ETags only)."),
    413: ("write", "The body is larger than 64 kB."),
    415: ("write", "The body must be application/json."),
    428: ("versioned", "If-Match is missing."),
    429: ("any", "Too many requests: see Retry-After."),
    503: ("any", "The database is busy or unavailable: see Retry-After."),
}

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        'The ETag you last read, e.g. "contract-12-v7". Missing: 428; stale: 412. Strong '
        'ETags only: a weak one (W/"…") is refused with 412, since RFC 9110 allows only '
        "the strong comparison for If-Match."
    ),
)
PREFER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "`handling=lenient`: ignore query parameters this endpoint does not support "
        "(answered with `Preference-Applied: handling=lenient`; the page's links show only "
        "the parameters applied). By default such a parameter is a 400 naming it."
    ),
)


def applies(scope: str, method: str, has_id: bool, versioned: bool) -> bool:
    write = method in WRITES
    return (
        scope == "any"
        or (scope == "id" and has_id)
        or (scope == "write" and write)
        or (scope == "versioned" and write and versioned)
    )


class ApiSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        params = getattr(self.view, "params", None)
        if params is not None and self.method == "GET":
            parameters.insert(0, params)
        parameters.append(PREFER)
        if self._versioned():
            parameters.append(IF_MATCH)
        return parameters

    def _versioned(self) -> bool:
        return self.method in WRITES and getattr(self.view, "takes_if_match", False)

    def get_operation(self, *args, **kwargs):
        # Here rather than in get_response_serializers, which a view's extend_schema
        # replaces: the problems are added to whatever the view declares.
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None

        def problem(code, why):
            answer = OpenApiResponse(s.ProblemOut, description=why)
            return self._get_response_for_code(answer, str(code), [PROBLEM])

        # Add to the operation the ERRORS it can answer and does not document yet.
        responses = operation.setdefault("responses", {})
        has_id = "{" in self.path
        for code, (scope, why) in ERRORS.items():
            if str(code) not in responses and applies(
                scope, self.method, has_id, self._versioned()
            ):
                responses[str(code)] = problem(code, why)
        operation["responses"] = dict(sorted(responses.items()))
        return operation
