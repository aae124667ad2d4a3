"""RFC 9457 problem details: every error an integrator gets, REST or FHIR, as one shape."""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from naravard import faults
from naravard.bodies import BodyTooLarge, too_large
from naravard.integrator import WeakETag, contract_etag
from naravard.strict import UnknownParameters


@dataclass
class Problem:
    status: int
    title: str
    detail: str = ""
    code: str = ""
    errors: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def as_json(self, instance: str = "") -> dict:
        body = {
            "type": f"/api/v1/problems/{self.code}" if self.code else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def _titles():
    return {
        400: _("The request is not valid"),
        401: _("Sign in with an access token"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("This method is not allowed here"),
        406: _("This format is not available"),
        409: _("The plan is not in a state that allows this"),
        412: _("The plan has changed since you read it"),
        413: _("The request body is too large"),
        415: _("Send the body as JSON"),
        428: _("Say which version you are changing"),
        429: _("Too many requests"),
    }


def _flatten(detail, prefix="") -> dict:
    """DRF's nested error detail as {"field" or "field.0.sub": [messages]}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix or "non_field_errors": [str(d) for d in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def to_problem(exc) -> Problem | None:
    """The problem to answer `exc` with, or None for an unexpected error (a 500)."""
    from contracts.services import StaleVersion

    fault = faults.classify(exc)
    if fault is not None:
        return Problem(
            fault.status,
            str(fault.title),
            str(fault.detail),
            code=fault.code,
            headers={"Retry-After": str(fault.retry_after)},
        )
    titles = _titles()
    if isinstance(exc, StaleVersion):
        contract = exc.contract
        return Problem(
            412,
            titles[412],
            _("Read the plan again (it is at version %(version)d) and make your change to that.")
            % {"version": contract.version},
            code="stale-version",
            extra={"current_version": contract.version, "etag": contract_etag(contract)},
            headers={"ETag": contract_etag(contract)},
        )
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = {name: [str(m) for m in msgs] for name, msgs in exc.message_dict.items()}
            return Problem(
                400,
                titles[400],
                _("Correct the fields listed in errors."),
                code="validation",
                errors=errors,
            )
        # The services raise plain messages for the plan's state, not for the input.
        return Problem(409, titles[409], " ".join(str(m) for m in exc.messages), code="conflict")
    if isinstance(exc, RequestDataTooBig):
        exc = too_large()
    elif isinstance(exc, SuspiciousOperation):
        # Django's own refusals of the request itself (too many query or form fields, a
        # malformed header): a 400 in the door's shape, not Django's HTML page.
        exc = exceptions.ParseError(_("The request is malformed or has too many fields."))
    if isinstance(exc, UnknownParameters):
        return Problem(
            400,
            _("This parameter is not supported"),
            _("Not supported here: %(names)s. Leave it out, or send Prefer: handling=lenient.")
            % {"names": ", ".join(exc.names)},
            code="unknown-parameter",
            errors=_flatten(exc.detail),
        )
    if isinstance(exc, WeakETag):
        return Problem(412, _("Send a strong ETag"), str(exc.detail), code="weak-etag")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    code = exc.status_code
    title = titles.get(code, str(exc.default_detail))
    if isinstance(exc, exceptions.ValidationError):
        return Problem(
            400,
            title,
            _("Correct the fields listed in errors."),
            code="validation",
            errors=_flatten(exc.detail),
            headers=headers,
        )
    detail = exc.detail
    if isinstance(detail, dict | list):
        detail = " ".join(" ".join(v) for v in _flatten(detail).values())
    slug = {428: "precondition-required", 429: "rate-limited"}.get(code, "")
    if isinstance(exc, BodyTooLarge):
        slug = "body-too-large"
    # An error that names its fields (fhir_r4.writes.Unprocessable) keeps them, so that an
    # OperationOutcome's issues point at the elements (expression).
    errors = getattr(exc, "errors", None)
    errors = errors if isinstance(errors, dict) else {}
    return Problem(code, title, str(detail), code=slug, errors=errors, headers=headers)


def problem_details_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error as application/problem+json."""
    problem = to_problem(exc)
    if problem is None:
        return None
    set_rollback()
    request = context.get("request")
    response = Response(
        problem.as_json(request.path if request is not None else ""),
        status=problem.status,
        headers=problem.headers,
        content_type="application/problem+json",
    )
    return response
