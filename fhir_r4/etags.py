"""ETag and Last-Modified on every FHIR read, and conditional reads: `If-None-Match`
(compared weakly, as RFC 9110 13.1.2 has it for GET) and, without it,
`If-Modified-Since` answer 304 Not Modified when the client's copy is current."""

from datetime import datetime

from django.utils.http import http_date, parse_http_date_safe
from rest_framework.response import Response

from patients.access import log_integration_reads


def etag(resource: dict) -> str:
    """Strong, `"3"`, as the REST API's: a client sends back in If-Match what it read,
    and If-Match takes strong tags only. The JSON's display texts differ by language;
    the answer varies on Accept-Language (LocaleMiddleware), so a cache keeps one copy
    per language and never mixes them."""
    return f'"{resource["meta"]["versionId"]}"'


def _last_modified(resource: dict) -> int | None:
    value = resource.get("meta", {}).get("lastUpdated")
    return int(datetime.fromisoformat(value).timestamp()) if value else None


def not_modified(request, resource: dict) -> bool:
    version = resource["meta"]["versionId"]
    header = request.headers.get("If-None-Match")
    if header is not None:
        tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
        return "*" in tags or f'"{version}"' in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    modified = _last_modified(resource)
    return since is not None and modified is not None and modified <= since


def versioned_response(request, resource: dict, status: int = 200) -> Response:
    """The resource with its ETag and Last-Modified; 304 for a conditional read whose
    copy is current."""
    if status == 200 and request.method in ("GET", "HEAD") and not_modified(request, resource):
        response = Response(status=304)
    else:
        response = Response(resource, status=status)
    response["ETag"] = etag(resource)
    modified = _last_modified(resource)
    if modified is not None:
        response["Last-Modified"] = http_date(modified)
    return response


def log_patients(integrator, patient_ids) -> None:
    """The access-log rows for what an answer shows, before it is sent."""
    if patient_ids:
        log_integration_reads(
            integrator.organisation, integrator.client.name, sorted(set(patient_ids))
        )
