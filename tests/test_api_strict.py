"""The REST API is strict and answers every input with a 2xx or a 4xx (issue 18).

Unknown query parameters are refused unless the client asks for lenient handling;
numbers are ASCII digits within bigint; NUL and control characters never reach
PostgreSQL; deep, oversize, chunked and mistyped bodies are answered properly; an
unknown referenced id is a 400, never replaced; If-Match takes strong ETags only.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from api_fixtures import Api, _fresh_rate_limits, etag, integrations, issue_token, vc_api
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from contracts.models import Commitment, Event
from naravard import localservices
from naravard.bodies import MAX_BODY_BYTES

__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]

ROOT = Path(__file__).resolve().parents[1]


def current(api, plan):
    return api.get(f"/api/v1/contracts/{plan.pk}/")


def counts(plan):
    plan.refresh_from_db()
    return (plan.version, Event.objects.filter(contract=plan).count())


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def next_step_body(**extra):
    when = timezone.now() + timedelta(days=10)
    return {"scheduled_at": when.isoformat(), "channel": "video", "purpose": "Provsvar", **extra}


# --- strict parameters ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients/?identifier=191212121212",
        "/api/v1/contracts/?identifier=191212121212&status=active",
        "/api/v1/changes/?patient=1",
        "/api/v1/contracts/{plan}/?_format=xml",
        "/api/v1/contracts/{plan}/events/?kind=goal_added",
    ],
)
def test_unknown_search_parameter_is_400_naming_it(vc_api, plan, url):
    response = vc_api.get(url.format(plan=plan.pk))
    body = problem(response, 400)
    name = urlsplit(url).query.split("=")[0]
    assert body["type"] == "/api/v1/problems/unknown-parameter"
    assert name in body["errors"] and name in body["detail"]
    assert list(body["errors"]) == [name]


@pytest.mark.django_db
def test_unknown_parameter_on_a_write_is_400_and_changes_nothing(vc_api, plan):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/?dry_run=1",
        {"what_matters": "Gå ut."},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert "dry_run" in problem(response, 400)["errors"]
    assert counts(plan) == before


@pytest.mark.django_db
def test_lenient_ignores_and_self_link_shows_only_applied(vc_api, plan):
    response = vc_api.get(
        "/api/v1/contracts/",
        headers={"Prefer": "return=minimal, handling=lenient"},
        identifier="191212121212",
        status="active",
        page_size="1",
    )
    assert response.status_code == 200, response.content
    assert response["Preference-Applied"] == "handling=lenient"
    body = response.json()
    applied = parse_qs(urlsplit(body["self"]).query)
    assert applied == {"status": ["active"], "page_size": ["1"]}
    if body["next"]:
        assert "identifier" not in parse_qs(urlsplit(body["next"]).query)
    # Strict again without the preference; an explicit handling=strict is strict too.
    for headers in ({}, {"Prefer": "handling=strict"}):
        strict = vc_api.get("/api/v1/contracts/", headers=headers, identifier="1")
        assert strict.status_code == 400
        assert "Preference-Applied" not in strict


@pytest.mark.django_db
def test_self_link_of_a_page_repeats_the_applied_parameters(vc_api, plan):
    response = vc_api.get("/api/v1/patients/", page_size="5")
    assert response.status_code == 200
    assert parse_qs(urlsplit(response.json()["self"]).query) == {"page_size": ["5"]}


# --- numbers, NUL and control characters ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"page_size": "١٢"}, "page_size"),  # Arabic-Indic digits: int() takes them
        ({"page_size": "²"}, "page_size"),
        ({"limit": "٣"}, "limit"),
        ({"patient": "١"}, "patient"),
        ({"patient": "99999999999999999999999"}, "patient"),
        ({"patient": "-1"}, "patient"),
    ],
)
def test_unicode_digits_and_huge_numbers_in_parameters_are_400(vc_api, plan, params, name):
    url = "/api/v1/changes/" if "limit" in params else "/api/v1/contracts/"
    assert name in problem(vc_api.get(url, **params), 400)["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients/²/",
        "/api/v1/contracts/١٢/",
        "/api/v1/contracts/99999999999999999999/",
        "/api/v1/contracts/9223372036854775808/events/",
        "/api/v1/commitments/99999999999999999999999999/",
        "/api/v1/next-steps/18446744073709551616/",
    ],
)
def test_unicode_digit_id_is_404_not_500(vc_api, path):
    assert problem(vc_api.get(path), 404)["title"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/patients/1%0A/", "/api/v1/nothing%0Ahere/"])
def test_a_line_break_in_the_path_is_a_problem_not_an_html_page(vc_api, path):
    problem(vc_api.get(path), 404)


@pytest.mark.django_db
def test_huge_id_in_a_write_path_is_404_not_500(vc_api, plan):
    response = vc_api.put(
        "/api/v1/contracts/99999999999999999999/what-matters/",
        {"what_matters": "x"},
        headers={"If-Match": '"contract-1-v1"'},
    )
    problem(response, 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params", "name"),
    [
        ("/api/v1/contracts/", {"cursor": "\x00"}, "cursor"),
        ("/api/v1/contracts/", {"status": "act\x00ive"}, "status"),
        ("/api/v1/changes/", {"since": "abc\x01"}, "since"),
        ("/api/v1/patients/", {"updated_since": "2025-01-01T00:00:00+01:00\x00"}, "updated_since"),
    ],
)
def test_nul_in_parameter_is_400(vc_api, plan, url, params, name):
    assert name in problem(vc_api.get(url, **params), 400)["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"what_matters": "Gå\x00 ut"}, "what_matters"),
        ({"what_matters": "Gå ut", "goals": ["ok", "bad\x07"]}, "goals.1"),
        ({"what_matters": "half a surrogate \ud800"}, "what_matters"),
    ],
)
def test_nul_and_control_characters_in_a_body_are_400_and_change_nothing(vc_api, plan, body, name):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        json.dumps(body),
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert name in problem(response, 400)["errors"]
    assert counts(plan) == before


@pytest.mark.django_db
def test_tabs_and_line_breaks_in_text_are_kept(vc_api, plan):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Rad ett\r\nRad\ttvå"},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert response.status_code == 200, response.content
    assert response.json()["what_matters"] == "Rad ett\r\nRad\ttvå"


@pytest.mark.django_db
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_at_the_end_of_the_calendar_is_400_not_500(vc_api, plan, moment):
    assert (
        "updated_since"
        in problem(vc_api.get("/api/v1/patients/", updated_since=moment), 400)["errors"]
    )
    response = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/next-steps/",
        next_step_body(scheduled_at=moment),
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert "scheduled_at" in problem(response, 400)["errors"]


# --- bodies ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 30_000])
def test_deep_json_is_400(vc_api, plan, depth):
    before = counts(plan)
    nested = "[" * depth + "]" * depth
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        '{"what_matters": "x", "goals": ' + nested + "}",
        headers={"If-Match": etag(current(vc_api, plan)), "Accept-Language": "en"},
    )
    assert "nested" in problem(response, 400)["detail"]
    assert counts(plan) == before


@pytest.mark.django_db
@pytest.mark.parametrize("text", ['{"what_matters": NaN}', '{"what_matters": "x"', "\xff\xfe"])
def test_a_body_that_is_not_json_is_400(vc_api, plan, text):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        text.encode("latin-1"),
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    problem(response, 400)


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_content_type_is_415(vc_api, plan, content_type):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        '{"what_matters": "x"}',
        headers={"If-Match": etag(current(vc_api, plan))},
        content_type=content_type,
    )
    problem(response, 415)
    assert counts(plan) == before


@pytest.mark.django_db
def test_oversize_body_is_413(vc_api, plan):
    before = counts(plan)
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "x" * (MAX_BODY_BYTES + 10)},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert problem(response, 413)["type"] == "/api/v1/problems/body-too-large"
    assert counts(plan) == before


# --- referenced ids -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["organisation", "staff"])
def test_unknown_organisation_in_next_step_is_400_and_changes_nothing(vc_api, plan, field):
    before = counts(plan)
    steps = list(plan.next_steps.values_list("id", "status"))
    response = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/next-steps/",
        next_step_body(**{field: 987654321}),
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert list(problem(response, 400)["errors"]) == [field]
    assert counts(plan) == before
    assert list(plan.next_steps.values_list("id", "status")) == steps


@pytest.mark.django_db
@pytest.mark.parametrize(
    "owner",
    [
        {"owner_kind": "organisation", "owner_organisation": 987654321},
        {"owner_kind": "relative", "owner_relative": 987654321},
    ],
)
def test_unknown_owner_of_a_commitment_is_400_naming_it(vc_api, plan, owner):
    before = counts(plan)
    response = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/commitments/",
        {"what": "Ringa", **owner},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    field = [name for name in owner if name != "owner_kind"][0]
    assert problem(response, 400)["errors"][field] != ["This field is required."]
    assert counts(plan) == before


@pytest.mark.django_db
def test_unknown_staff_as_fixed_care_contact_is_400_naming_it(vc_api, plan, network):
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/care-contact/",
        {"staff": 987654321, "organisation": network["vardcentral"].pk},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert list(problem(response, 400)["errors"]) == ["staff"]


# --- ETags -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_weak_etag_in_if_match_is_refused(vc_api, plan):
    before = counts(plan)
    weak = "W/" + etag(current(vc_api, plan))
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Gå ut."},
        headers={"If-Match": weak, "Accept-Language": "en"},
    )
    body = problem(response, 412)
    assert body["type"] == "/api/v1/problems/weak-etag"
    assert "strong" in body["detail"]
    assert counts(plan) == before


# --- cancelling a commitment the integration added ------------------------------------------


@pytest.mark.django_db
def test_integration_cancels_a_commitment_it_created(vc_api, plan, integrations):
    added = vc_api.post(
        f"/api/v1/contracts/{plan.pk}/commitments/",
        {"what": "Väga dig varje morgon", "owner_kind": "patient"},
        headers={"If-Match": etag(current(vc_api, plan))},
    )
    assert added.status_code == 201, added.content
    url = added["Location"]
    # Another organisation on the team did not add it: it may not cancel it.
    home = Api(issue_token(integrations["home_health"]))
    refused = home.patch(url, {"status": "cancelled"}, headers={"If-Match": added["ETag"]})
    problem(refused, 403)
    # Without If-Match: 428, nothing changed.
    problem(vc_api.patch(url, {"status": "cancelled"}), 428)
    cancelled = vc_api.patch(url, {"status": "cancelled"}, headers={"If-Match": added["ETag"]})
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    commitment = Commitment.objects.get(pk=added.json()["id"])
    assert commitment.status == "cancelled"
    event = Event.objects.filter(contract=plan).first()
    assert (event.kind, event.actor_kind) == ("commitment_changed", "integration")
    # Cancelling is all it may do with the patient's commitment.
    edit = vc_api.patch(url, {"what": "Något annat"}, headers={"If-Match": cancelled["ETag"]})
    problem(edit, 403)


# --- the schema ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_schema_documents_every_status_code_of_every_operation():
    schema = Api(None).get("/api/v1/schema/", format="json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "406", "429", "503"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            # Webhooks are not plan writes: they take no If-Match (push.api).
            versioned = not path.startswith("/api/v1/webhooks/")
            if method in ("post", "put", "patch"):
                assert {"413", "415"} <= codes, (method, path)
            if method in ("post", "put", "patch") and versioned:
                assert {"409", "412", "428"} <= codes, (method, path)
            problem_schema = operation["responses"]["400"]["content"]["application/problem+json"]
            assert problem_schema["schema"]["$ref"].endswith("/ProblemOut")
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "Prefer" in names, (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert ("If-Match" in names) == versioned, (method, path)
                assert ("428" in codes) == versioned, (method, path)
    listed = {p["name"] for p in schema["paths"]["/api/v1/contracts/"]["get"]["parameters"]}
    assert listed == {"Prefer", "cursor", "page_size", "patient", "status", "updated_since"}


# --- a chunked body, through a real HTTP server ------------------------------------------------


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """The WSGI application (naravard.wsgi) under gunicorn on a free port, on the test
    database: the Django test client cannot send a chunked body."""
    port = localservices.free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": localservices.database_url(connection.settings_dict),
        "DB_CONN_MAX_AGE": "0",
        "SECURE_COOKIES": "0",
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "naravard.wsgi", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(localservices.tail(log))
            time.sleep(0.2)
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


def send_chunked(port, method, path, chunks, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=iter(chunks), headers=headers, encode_chunked=True)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_chunked_json_body_is_read(gunicorn, integrations, plan):
    token = issue_token(integrations["vardcentral"])
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "If-Match": f'"contract-{plan.pk}-v{plan.version}"',
        "Transfer-Encoding": "chunked",
    }
    chunks = [b'{"what_matters": ', '"Kunna gå till affären."'.encode(), b"}"]
    response, body = send_chunked(
        gunicorn, "PUT", f"/api/v1/contracts/{plan.pk}/what-matters/", chunks, headers
    )
    assert response.status == 200, body
    assert json.loads(body)["what_matters"] == "Kunna gå till affären."
    plan.refresh_from_db()
    assert plan.what_matters == "Kunna gå till affären."

    # A chunked body over the limit: 413, nothing changed.
    headers["If-Match"] = f'"contract-{plan.pk}-v{plan.version}"'
    huge = [b'{"what_matters": "', b"x" * (MAX_BODY_BYTES + 10), b'"}']
    response, body = send_chunked(
        gunicorn, "PUT", f"/api/v1/contracts/{plan.pk}/what-matters/", huge, headers
    )
    assert response.status == 413, body
    plan.refresh_from_db()
    assert plan.what_matters == "Kunna gå till affären."


# --- no 5xx from any string, anywhere (hypothesis) --------------------------------------------

NASTY = [
    "",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "²",
    "١٢٣",
    "9" * 30,
    "-1",
    "0",
    "1e309",
    "NaN",
    "9999-12-31T23:59:59-23:59",
    "0000-00-00",
    "%00",
    "' OR 1=1 --",
    "\u202e\ufeff",
    "😀" * 50,
    "x" * 5000,
]


class Raw(str):
    """JSON text to put in a body as it is (json.dumps would itself recurse too deep)."""


DEEP = [
    Raw("[" * 5000 + "]" * 5000),
    Raw('{"a":' * 3000 + "1" + "}" * 3000),
    Raw("[" * 33 + "]" * 33),
    Raw("1e99999"),
    Raw("-0.0e-99999"),
    Raw("123456789" * 600),  # more digits than int() reads
]
# What a URL can carry (no lone surrogates), and what a JSON body can (anything).
URL_TEXT = st.text(max_size=40)
BODY_VALUE = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)
EXAMPLES = 12


def _schema():
    return Api(None).get("/api/v1/schema/", format="json").json()


def _body_fields(schema, operation):
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    component = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return list(component.get("properties", {}))


VALID_BODIES = {
    "/api/v1/contracts/{id}/what-matters/": lambda plan: {"what_matters": "x"},
    "/api/v1/contracts/{id}/commitments/": lambda plan: {"what": "x", "owner_kind": "patient"},
    "/api/v1/contracts/{id}/next-steps/": lambda plan: next_step_body(),
    "/api/v1/contracts/{id}/care-contact/": lambda plan: {"staff": 1, "organisation": 1},
    "/api/v1/commitments/{id}/": lambda plan: {"what": "x"},
    "/api/v1/next-steps/{id}/outcome/": lambda plan: {"outcome": "x"},
}


def _real_id(path, plan):
    if path.startswith("/api/v1/patients/"):
        return plan.patient_id
    if path.startswith("/api/v1/commitments/"):
        return plan.commitments.order_by("id").values_list("id", flat=True).last()
    if path.startswith("/api/v1/next-steps/"):
        return plan.next_steps.order_by("id").values_list("id", flat=True).last()
    return plan.pk


@pytest.mark.django_db
def test_random_strings_in_every_parameter_and_field_never_get_a_5xx(vc_api, plan, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "100000/min", "api_write": "100000/min"},
    }
    schema = _schema()
    targets = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/webhooks/"):
            continue
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    targets.append((path, method, "query", parameter["name"]))
            targets.append((path, method, "query", "unknown_parameter"))
            if path in VALID_BODIES and method != "get":
                for field in _body_fields(schema, operation):
                    targets.append((path, method, "body", field))
    assert len(targets) > 40

    def send(path, method, where, name, value, lenient):
        url = path.replace("{id}", str(_real_id(path, plan)))
        headers = {"Prefer": "handling=lenient"} if lenient else {}
        if method == "get":
            response = vc_api.get(url, headers=headers, **{name: value})
        else:
            plan.refresh_from_db(fields=["version"])
            headers["If-Match"] = f'"contract-{plan.pk}-v{plan.version}"'
            params = {name: value} if where == "query" else {}
            body = VALID_BODIES[path](plan)
            if where == "body":
                body[name] = "__raw__" if isinstance(value, Raw) else value
            text = json.dumps(body)
            if isinstance(value, Raw):
                text = text.replace('"__raw__"', value)
            target = url + ("?" + urlencode(params) if params else "")
            response = vc_api.send(method, target, text, headers=headers)
        assert response.status_code < 500, (method, path, name, value, response.content)

    for path, method, where, name in targets:
        # Each nasty value once, then random ones.
        for value in NASTY + (DEEP if where == "body" else []):
            send(path, method, where, name, value, lenient=False)

        @given(value=URL_TEXT if where == "query" else BODY_VALUE, lenient=st.booleans())
        @examples(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def never_a_server_error(value, lenient):
            send(path, method, where, name, value, lenient)

        never_a_server_error()
