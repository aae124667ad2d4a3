"""The base of every integrator endpoint (REST and FHIR): OAuth2 client credentials,
scopes, limits, a size-limited JSON parser and the contract ETag with If-Match."""

import re
from types import SimpleNamespace

from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

# Bodies are read by naravard.bodies (size 413, deep JSON, NUL); the names stay here too.
from naravard.bodies import MAX_BODY_BYTES, BodyTooLarge, refuse_large_body
from naravard.bodies import JSONBodyParser as LimitedJSONParser
from naravard.oauth import (
    ClientCredentialsAuthentication,
    ClientRateThrottle,
    HasClientScope,
    Integrator,
)

__all__ = ["MAX_BODY_BYTES", "BodyTooLarge", "LimitedJSONParser", "refuse_large_body"]


# --- versions and ETags ------------------------------------------------------------


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = gettext_lazy(
        "Send an If-Match header with the ETag you last read, so that no change is lost."
    )
    default_code = "precondition_required"


class WeakETag(exceptions.APIException):
    """412: If-Match takes strong ETags only (RFC 9110 13.1.1: a weak comparison is not
    allowed for If-Match), and the tags we send are strong."""

    status_code = 412
    default_detail = gettext_lazy(
        'If-Match takes strong ETags only: send the ETag as you read it, without "W/".'
    )
    default_code = "weak_etag"


_ETAG = re.compile(r'^\s*(?:W/)?"contract-([0-9]{1,18})-v([0-9]{1,9})"\s*$')


def contract_etag(contract) -> str:
    """The ETag of everything under one contract: its id and version."""
    return f'"contract-{contract.pk}-v{contract.version}"'


def if_match_tags(request, weak=WeakETag) -> list[str]:
    """The entity tags of the If-Match header, as sent (REST and FHIR writes).

    Missing, or "*" (which would overwrite whatever is there now: exactly the lost update
    to prevent) → 428. A weak tag → `weak` (412): RFC 9110 13.1.1 allows If-Match only
    the strong comparison."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        raise PreconditionRequired()
    tags = [tag.strip() for tag in header.split(",")]
    if any(tag.startswith("W/") for tag in tags):
        raise weak()
    return tags


def expected_version(request, contract) -> int:
    """The contract version the If-Match header names, for the service's version check.

    Missing → 428. A tag for another contract or an older version → the service's
    StaleVersion, answered with 412 and the current ETag."""
    from contracts.services import StaleVersion

    versions = set()
    for tag in if_match_tags(request):
        match = _ETAG.match(tag)
        if match and int(match[1]) == contract.pk:
            versions.add(int(match[2]))
    if contract.version in versions:
        return contract.version
    raise StaleVersion(contract, min(versions) if versions else None)


# --- the base view -----------------------------------------------------------------------


class AcceptOnly(DefaultContentNegotiation):
    """The answer's format from the Accept header only. DRF's `?format=` override would
    answer `?format=xml` on a plan that exists with 404 Not Found, before the strict check
    of the query (naravard.strict) could name the parameter: here it is an unknown
    parameter like any other (FHIR has its own `_format`)."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class IntegratorView(APIView):
    """Base for every integrator endpoint: OAuth2 client credentials, scopes, limits, JSON."""

    authentication_classes = [ClientCredentialsAuthentication]
    permission_classes = [HasClientScope]
    throttle_classes = [ClientRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]
    # No OPTIONS description: DRF's would answer a FHIR client with a non-resource (and
    # the views' docstrings); the operations are in OpenAPI and the CapabilityStatement.
    metadata_class = None
    content_negotiation_class = AcceptOnly

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            refuse_large_body(request)

    @property
    def integrator(self) -> Integrator:
        return self.request.user


def only_api_paths(endpoints):
    """drf-spectacular preprocessing hook: the OpenAPI schema covers /api/v1/ only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
