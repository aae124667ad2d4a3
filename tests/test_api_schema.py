"""The OpenAPI schema, the docs page, and Schemathesis run against the schema in-process.

Schemathesis generates requests from the schema (valid and invalid ones) for every
operation and runs ALL its checks on each answer: no server error, every status code,
content type, header and body as the schema documents them, invalid data refused,
missing auth and required headers refused, unsupported methods answered with 405 and
Allow. It calls the Django WSGI app directly with a read-and-write token of an
integration on Tolvan's care team.
"""

import os

import pytest
import schemathesis
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from naravard.wsgi import application

__all__ = ["_fresh_rate_limits", "integrations"]

# Enough to reach every parameter and body field of each operation, within about a minute
# (SCHEMATHESIS_EXAMPLES=500 for a deeper run by hand).
EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "30"))

# Every check runs; three have their expected statuses widened, each for a reason:
# - positive_data_acceptance: valid data (as the schema describes it) can still be refused.
#   The schema cannot say that a time must be in the future or that an id must name a row
#   on the patient's care team (400), that the plan has not moved on since the If-Match
#   the case names (412), or that If-Match is sent at all (428).
# - negative_data_rejection: preconditions are evaluated before the content is read (RFC
#   9110 13.2.1), so an invalid body with a stale or missing If-Match gets 412 or 428.
# - missing_required_header: a missing If-Match is answered with 428 Precondition Required
#   (RFC 6585), the status made for it.
NOT_SUCCESS = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422"]
CHECKS = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "412"]
                + ["428", "429"]
            },
            "negative_data_rejection": {"expected-statuses": [*NOT_SUCCESS, "428", "429"]},
            "missing_required_header": {
                "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
            },
        }
    }
)


@pytest.fixture
def token(transactional_db, integrations, plan, settings):
    # Writes that succeed move the plan on; the rate limit must not end the run early.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "100000/min", "api_write": "100000/min"},
    }
    return issue_token(integrations["vardcentral"])


def real_id(path, plan):
    """An id that exists and the integration may use, for the operation at `path`."""
    if path.startswith("/api/v1/patients/"):
        return plan.patient_id
    if path.startswith("/api/v1/commitments/"):
        return plan.commitments.order_by("id").values_list("id", flat=True).last()
    if path.startswith("/api/v1/next-steps/"):
        return plan.next_steps.order_by("id").values_list("id", flat=True).last()
    return plan.pk


def invalid_outside_body(case) -> bool:
    """Whether schemathesis made the path or a header invalid on purpose: such a case is
    sent as generated, since aiming it at a real plan would undo what it tests."""
    meta = case.meta
    return meta is not None and any(
        component.mode.is_negative
        for location, component in meta.components.items()
        if location != ParameterLocation.BODY
    )


def test_schemathesis_all_checks_pass(token, plan):
    # Each operation's strategy is driven by Hypothesis directly: schemathesis' own pytest
    # plugin (`from_fixture`) does not work with the pytest version in use here.
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, config=CHECKS
    )
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    # Every check schemathesis has is on: none is switched off in CHECKS.
    load_all_checks()
    config = schema.config.checks_config_for(operation=operations[0], phase=None)
    names = [check.__name__ for check in ALL_CHECKS.get_all() if not isinstance(check, type)]
    assert len(names) >= 14
    assert all(config.get_by_name(name=name).enabled for name in names)

    for operation in operations:
        # Requests that fit the schema and requests that break it (wrong types, missing
        # fields): neither may cause a server error.
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases, aimed=st.booleans())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def no_server_error(case, aimed):
            sent = dict(headers)
            if aimed and "id" in (case.path_parameters or {}) and not invalid_outside_body(case):
                # Half the cases go to a real plan with its current ETag, so that the
                # generated bodies reach validation and the services, not just a 404.
                case.path_parameters["id"] = real_id(operation.path, plan)
                plan.refresh_from_db(fields=["version"])
                sent["If-Match"] = f'"contract-{plan.pk}-v{plan.version}"'
            response = case.call(headers=sent)
            assert response.status_code < 500, (operation.label, case.as_curl_command())
            # Every check schemathesis has (none excluded).
            case.validate_response(response, headers=sent)

        no_server_error()


def test_schema_is_served_as_openapi_3(db):
    response = Api(None).get("/api/v1/schema/", format="json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/changes/" in schema["paths"]
    flows = schema["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token/"
    assert not any(path.startswith("/fhir/") for path in schema["paths"])


def test_docs_page_loads_from_the_project_and_passes_the_csp(db):
    response = Api(None).get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # Everything from our own static files: no CDN, no inline script or style.
    assert "cdn" not in html.lower() and "https://" not in html
    assert "<style" not in html
    assert "<script>" not in html
    scripts = [part.split('"')[0] for part in html.split('<script src="')[1:]]
    assert any("swagger-ui-bundle.js" in s for s in scripts)
    init = Api(None).http.get(scripts[-1].replace("&amp;", "&"))
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.content.decode()
