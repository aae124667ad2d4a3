"""The OpenAPI schema, the docs page, and Schemathesis run against the schema in-process.

Schemathesis generates requests from the schema (valid and invalid ones) for every
operation and checks that none gets a server error. It calls the Django WSGI app directly
with a read-and-write token of an integration on Tolvan's care team.
"""

import pytest
import schemathesis
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from naravard.wsgi import application

__all__ = ["_fresh_rate_limits", "integrations"]

# Enough to reach every parameter and body field of each operation, within about a minute.
EXAMPLES_PER_OPERATION = 30


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


def test_schemathesis_finds_no_server_errors(token, plan):
    # Each operation's strategy is driven by Hypothesis directly: schemathesis' own pytest
    # plugin (`from_fixture`) does not work with the pytest version in use here.
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

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
            if aimed and case.path_parameters and "id" in case.path_parameters:
                # Half the cases go to a real plan with its current ETag, so that the
                # generated bodies reach validation and the services, not just a 404.
                case.path_parameters["id"] = real_id(operation.path, plan)
                plan.refresh_from_db(fields=["version"])
                sent["If-Match"] = f'"contract-{plan.pk}-v{plan.version}"'
            response = case.call(headers=sent)
            assert response.status_code < 500, (operation.label, case.as_curl_command())
            case.validate_response(response, checks=[not_a_server_error], headers=sent)

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
