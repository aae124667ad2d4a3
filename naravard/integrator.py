"""The base of every integrator endpoint (REST and FHIR): OAuth2 client credentials,
scopes, limits, a size-limited JSON parser and the contract ETag with If-Match."""

import io
import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from naravard.oauth import (
    ClientCredentialsAuthentication,
    ClientRateThrottle,
    HasClientScope,
    Integrator,
)

# A plan with every part filled in is a few kilobytes; anything this big is a mistake.
MAX_BODY_BYTES = 64 * 1024


# --- request bodies --------------------------------------------------------------


class BodyTooLarge(exceptions.ParseError):
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "body_too_large"


class LimitedJSONParser(JSONParser):
    """JSON only, at most MAX_BODY_BYTES, whatever Content-Length claims."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(data) > MAX_BODY_BYTES:
            raise BodyTooLarge(
                _("Send at most %(limit)d kilobytes.") % {"limit": MAX_BODY_BYTES // 1024}
            )
        return super().parse(io.BytesIO(data), media_type, parser_context)


def refuse_large_body(request) -> None:
    """Refuse before reading when the client says the body is too large."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise BodyTooLarge(
            _("Send at most %(limit)d kilobytes.") % {"limit": MAX_BODY_BYTES // 1024}
        )


# --- versions and ETags ------------------------------------------------------------


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = gettext_lazy(
        "Send an If-Match header with the ETag you last read, so that no change is lost."
    )
    default_code = "precondition_required"


_ETAG = re.compile(r'^\s*(?:W/)?"contract-([0-9]{1,18})-v([0-9]{1,9})"\s*$')


def contract_etag(contract) -> str:
    """The ETag of everything under one contract: its id and version."""
    return f'"contract-{contract.pk}-v{contract.version}"'


def expected_version(request, contract) -> int:
    """The contract version the If-Match header names, for the service's version check.

    Missing → 428. A tag for another contract or an older version → the service's
    StaleVersion, answered with 412 and the current ETag."""
    from contracts.services import StaleVersion

    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        # "*" would overwrite whatever is there now: exactly the lost update to prevent.
        raise PreconditionRequired()
    versions = set()
    for tag in header.split(","):
        match = _ETAG.match(tag)
        if match and int(match[1]) == contract.pk:
            versions.add(int(match[2]))
    if contract.version in versions:
        return contract.version
    raise StaleVersion(contract, min(versions) if versions else None)


# --- the base view -----------------------------------------------------------------------


class IntegratorView(APIView):
    """Base for every integrator endpoint: OAuth2 client credentials, scopes, limits, JSON."""

    authentication_classes = [ClientCredentialsAuthentication]
    permission_classes = [HasClientScope]
    throttle_classes = [ClientRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]

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
