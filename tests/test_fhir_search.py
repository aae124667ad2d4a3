"""FHIR search (issue 18): strict about parameters, never a 5xx, with a total, paging on
every search, _lastUpdated, _sort and POST [type]/_search. Every Bundle and
OperationOutcome is checked against R4 (through R4B, see test_fhir.py)."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token, vc_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fhir import PERSONNUMMER, fhir_get, make_rich_plans, valid

from contracts import services
from contracts.history import Actor
from contracts.models import Contract
from fhir_r4.queries import SEARCHES
from fhir_r4.search import CONTROL
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]

LENIENT = {"Prefer": "handling=lenient"}


def ids(bundle, mode="match"):
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def link(bundle, relation):
    urls = [entry["url"] for entry in bundle["link"] if entry["relation"] == relation]
    return urls[0].removeprefix("http://testserver") if urls else None


def refused(api, url, params, headers=None):
    """The OperationOutcome of a 400, and the parameters its issues name."""
    response = api.get(url, headers=headers, **params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome, {name for issue in outcome["issue"] for name in issue.get("expression", [])}


# --- 1. strict by default ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "named"),
    [
        # The three cases the testers found answered "everyone".
        ("/fhir/R4/Patient", {"name": "Nobody-Such"}, "name"),
        (
            "/fhir/R4/CarePlan",
            {"patient.identifier": f"{PERSONNUMMER}|191212121212"},
            "patient.identifier",
        ),
        ("/fhir/R4/Patient", {"family": "Tolvansson"}, "family"),
        # Modifiers and result parameters we do not support.
        (
            "/fhir/R4/Patient",
            {"identifier:exact": f"{PERSONNUMMER}|191212121212"},
            "identifier:exact",
        ),
        ("/fhir/R4/CarePlan", {"status:missing": "true"}, "status:missing"),
        ("/fhir/R4/CarePlan", {"_include": "CarePlan:author"}, "_include"),
        ("/fhir/R4/CarePlan", {"_sort": "title"}, "_sort"),
        ("/fhir/R4/CarePlan", {"_elements": "id"}, "_elements"),
        ("/fhir/R4/Task", {"patient": "1", "status": "ready"}, "status"),
        ("/fhir/R4/Goal", {"subject": "Patient/1"}, "subject"),
        ("/fhir/R4/Organization", {"name": "Vårdcentralen"}, "name"),
        # Unsupported values of supported parameters.
        ("/fhir/R4/CarePlan", {"status": "finished"}, "status"),
        ("/fhir/R4/CarePlan", {"patient": "Group/1"}, "patient"),
        ("/fhir/R4/CarePlan", {"patient": ""}, "patient"),
    ],
)
def test_unsupported_search_parameters_are_refused_naming_them(vc_api, plan, url, params, named):
    outcome, names = refused(vc_api, url, params)
    assert named in names
    assert outcome["issue"][0]["code"] == "invalid"


def test_lenient_handling_ignores_what_is_unsupported_and_says_so(vc_api, plan):
    response = vc_api.get(
        "/fhir/R4/CarePlan",
        headers=LENIENT,
        **{"patient.identifier": f"{PERSONNUMMER}|191212121212", "status": "active", "x": "1"},
    )
    assert response.status_code == 200
    assert response["Preference-Applied"] == "handling=lenient"
    bundle = valid(response.json())
    assert ids(bundle) == [str(plan.pk)]
    # The self link shows only what was applied; an outcome entry names what was not.
    assert link(bundle, "self") == "/fhir/R4/CarePlan?status=active&_count=20"
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert {i["expression"][0] for i in outcome["issue"]} == {"patient.identifier", "x"}
    assert {i["severity"] for i in outcome["issue"]} == {"warning"}


def test_lenient_handling_still_refuses_bad_values(vc_api, plan):
    _outcome, names = refused(vc_api, "/fhir/R4/CarePlan", {"_count": "²"}, headers=LENIENT)
    assert names == {"_count"}


def test_self_link_shows_the_applied_search_normalised(vc_api, plan):
    bundle = fhir_get(
        vc_api, "/fhir/R4/CarePlan", patient=str(plan.patient_id), _lastUpdated="ge2020-01-01"
    )
    assert link(bundle, "self") == (
        f"/fhir/R4/CarePlan?patient=Patient%2F{plan.patient_id}&_lastUpdated=ge2020-01-01&_count=20"
    )


# --- 2. no 5xx from any input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/fhir/R4/CarePlan", {"_id": "²"}),
        ("/fhir/R4/Patient", {"_id": "²"}),
        ("/fhir/R4/CarePlan", {"_count": "²"}),
        ("/fhir/R4/CarePlan", {"patient": "²"}),
        ("/fhir/R4/Task", {"patient": "²"}),
        ("/fhir/R4/Goal", {"patient": "Patient/١٢"}),
        ("/fhir/R4/CareTeam", {"patient": "²"}),
        ("/fhir/R4/Patient", {"identifier": "\x00"}),
        ("/fhir/R4/Patient", {"identifier": f"{PERSONNUMMER}|1912\x0012"}),
        ("/fhir/R4/Organization", {"identifier": "\x1b[31m"}),
        ("/fhir/R4/CarePlan", {"status": "active\x07"}),
        ("/fhir/R4/CarePlan", {"_id": "9" * 40}),
        ("/fhir/R4/Task", {"patient": "Patient/" + "9" * 40}),
        ("/fhir/R4/CarePlan", {"_count": "9" * 40}),
        ("/fhir/R4/CarePlan", {"_lastUpdated": "ge99999-01-01"}),
        ("/fhir/R4/CarePlan", {"_lastUpdated": "ge２０２５-01-01"}),
        ("/fhir/R4/CarePlan", {"_cursor": "W1s5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XV0"}),
        ("/fhir/R4/Patient", {"_before": "\x00"}),
    ],
)
def test_inputs_that_caused_server_errors_are_refused(vc_api, plan, url, params):
    response = vc_api.get(url, **params)
    assert response.status_code == 400, response.content
    assert valid(response.json())["resourceType"] == "OperationOutcome"


# --- 3. total, paging, _lastUpdated, _sort, POST _search -----------------------------------


def test_bundle_total_counts_every_match_not_the_page(integrations, network, doctor):
    make_rich_plans(network, doctor, 5)
    api = Api(issue_token(integrations["vardcentral"]))
    bundle = fhir_get(api, "/fhir/R4/CarePlan", _count="2")
    assert bundle["total"] == 5
    assert len(ids(bundle)) == 2
    assert fhir_get(api, "/fhir/R4/Patient", _count="1")["total"] == 5
    assert fhir_get(api, "/fhir/R4/CarePlan", status="completed")["total"] == 0
    only_total = fhir_get(api, "/fhir/R4/CarePlan", _count="0")
    assert only_total["total"] == 5
    assert "entry" not in only_total
    assert "total" not in fhir_get(api, "/fhir/R4/CarePlan", _total="none")
    patient_id = Contract.objects.order_by("id").first().patient_id
    tasks = fhir_get(api, "/fhir/R4/Task", patient=str(patient_id), _count="1")
    assert tasks["total"] == 2  # the next step and the commitment (make_patients)


def walk(api, first_url, params):
    """Every page from the first by `next`, then back from the last by `previous`."""
    pages = [fhir_get(api, first_url, **params)]
    while following := link(pages[-1], "next"):
        pages.append(fhir_get(api, following))
    forward = [ids(page) for page in pages]
    backward = [ids(pages[-1])]
    page = pages[-1]
    while earlier := link(page, "previous"):
        page = fhir_get(api, earlier)
        backward.append(ids(page))
    return forward, backward[::-1]


@pytest.mark.parametrize("kind", ["Task", "Goal", "CareTeam"])
def test_searches_by_patient_page_with_next_and_previous(integrations, network, doctor, kind):
    (contract,) = make_rich_plans(network, doctor, 1)
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    for what in ("Promenera", "Ta medicinen"):
        services.add_commitment(
            actor=as_doctor,
            contract=contract,
            expected_version=Contract.objects.get(pk=contract.pk).version,
            what=what,
            owner_kind="patient",
        )
    api = Api(issue_token(integrations["vardcentral"]))
    everything = ids(fhir_get(api, f"/fhir/R4/{kind}", patient=str(contract.patient_id)))
    assert len(everything) >= 2
    forward, backward = walk(
        api, f"/fhir/R4/{kind}", {"patient": str(contract.patient_id), "_count": "1"}
    )
    assert [i for page in forward for i in page] == everything
    assert backward == forward
    assert all(len(page) == 1 for page in forward)


def test_careplan_and_patient_searches_page_back_and_forth(integrations, network, doctor):
    from test_api_reads import make_patients

    make_patients(network, doctor, 5)
    api = Api(issue_token(integrations["vardcentral"]))
    for url in ("/fhir/R4/CarePlan", "/fhir/R4/Patient"):
        forward, backward = walk(api, url, {"_count": "2"})
        assert [len(page) for page in forward] == [2, 2, 1]
        assert backward == forward


def test_last_updated_and_sort(integrations, network, doctor):
    from test_api_reads import make_patients

    contracts = make_patients(network, doctor, 3)
    # Spread the last changes over three days, oldest first.
    now = timezone_now()
    for age, contract in zip((3, 2, 1), contracts, strict=True):
        Contract.objects.filter(pk=contract.pk).update(updated_at=now - timedelta(days=age))
    api = Api(issue_token(integrations["vardcentral"]))
    oldest_first = [str(c.pk) for c in contracts]
    assert ids(fhir_get(api, "/fhir/R4/CarePlan", _sort="_lastUpdated")) == oldest_first
    newest = fhir_get(api, "/fhir/R4/CarePlan", _sort="-_lastUpdated")
    assert ids(newest) == oldest_first[::-1]
    assert "_sort=-_lastUpdated" in link(newest, "self")
    forward, backward = walk(api, "/fhir/R4/CarePlan", {"_sort": "-_lastUpdated", "_count": "2"})
    assert forward == backward == [oldest_first[:0:-1], oldest_first[:1]]
    since = (now - timedelta(days=2, hours=1)).isoformat()
    assert ids(fhir_get(api, "/fhir/R4/CarePlan", _lastUpdated=f"ge{since}")) == oldest_first[1:]
    before = (now - timedelta(days=1, hours=12)).isoformat()
    between = fhir_get(api, "/fhir/R4/CarePlan", _lastUpdated=[f"gt{since}", f"lt{before}"])
    assert ids(between) == oldest_first[1:2]
    patients = [str(c.patient_id) for c in contracts]
    assert ids(fhir_get(api, "/fhir/R4/Patient", _sort="-_id")) == sorted(patients, key=int)[::-1]


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def post_search(api, kind, form, headers=None):
    return api.post(
        f"/fhir/R4/{kind}/_search",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def test_post_search_finds_what_get_finds_without_the_personnummer_in_a_url(
    integrations, plan, tolvan
):
    # An integration with the read scope only: a POST search is a read.
    api = Api(issue_token(integrations["vardcentral"], scope="read"))
    identifier = f"{PERSONNUMMER}|191212121212"
    got = fhir_get(api, "/fhir/R4/Patient", identifier=identifier)
    response = post_search(api, "Patient", {"identifier": identifier})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    posted = valid(response.json())
    assert ids(posted) == ids(got) == [str(tolvan.pk)]
    assert posted["total"] == 1
    assert [e["resource"] for e in posted["entry"]] == [e["resource"] for e in got["entry"]]
    assert "191212121212" not in str(posted["link"])
    self_link = link(posted, "self")
    assert self_link.startswith("/fhir/R4/Patient/_search?")
    assert dict(parse_qsl(urlsplit(self_link).query))["identifier"] == f"{PERSONNUMMER}|*"
    # Replaying the masked link finds no one: it is refused, not "everyone".
    refused(api, "/fhir/R4/Patient", dict(parse_qsl(urlsplit(self_link).query)))
    # Both searches are logged as reads of Tolvan's data, as a GET search always was.
    assert AccessLogEntry.objects.filter(patient=tolvan, action="api_read").count() == 2


def test_post_search_is_as_strict_as_get(vc_api, plan):
    response = post_search(vc_api, "CarePlan", {"patient.identifier": "x|1"})
    assert response.status_code == 400
    outcome = valid(response.json())
    assert outcome["issue"][0]["expression"] == ["patient.identifier"]
    # Parameters in the query string and the body are one search.
    both = vc_api.http.post(
        f"/fhir/R4/Task/_search?patient={plan.patient_id}",
        "_count=1",
        content_type="application/x-www-form-urlencoded",
        headers=vc_api.headers,
    )
    assert both.status_code == 200
    bundle = valid(both.json())
    assert len(ids(bundle)) == 1
    assert bundle["total"] == 4
    next_page = fhir_get(vc_api, link(bundle, "next"))
    assert ids(next_page) != ids(bundle)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"identifier": "x"}', "application/json", 415),
        (b"identifier=%FF%FE", "application/x-www-form-urlencoded", 400),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
        ("identifier=" + "1" * 70_000, "application/x-www-form-urlencoded", 413),
    ],
)
def test_post_search_refuses_bodies_it_cannot_read(vc_api, plan, body, content_type, status):
    response = vc_api.http.post(
        "/fhir/R4/Patient/_search", body, content_type=content_type, headers=vc_api.headers
    )
    assert response.status_code == status, response.content
    assert valid(response.json())["resourceType"] == "OperationOutcome"


# --- the CapabilityStatement is the table ----------------------------------------------------


def sample(name, type_, plan):
    """A value each supported parameter accepts."""
    if type_ == "reference":
        return f"Patient/{plan.patient_id}"
    if type_ == "date":
        return "ge2020-01-01"
    return {"_id": "1", "status": "active", "identifier": f"{PERSONNUMMER}|191212121212"}[name]


def test_capability_statement_lists_exactly_the_parameters_that_work(vc_api, plan):
    statement = fhir_get(Api(None), "/fhir/R4/metadata")
    listed = {
        r["type"]: {p["name"]: p["type"] for p in r.get("searchParam", [])}
        for r in statement["rest"][0]["resource"]
    }
    for kind, spec in SEARCHES.items():
        assert listed[kind] == {p.name: p.type for p in spec.params}
    for kind, params in listed.items():
        if kind not in SEARCHES:
            assert not params
            continue
        required = {"patient": f"Patient/{plan.patient_id}"} if SEARCHES[kind].required else {}
        for name, type_ in params.items():
            value = sample(name, type_, plan)
            response = vc_api.get(f"/fhir/R4/{kind}", **{**required, name: value})
            assert response.status_code == 200, (kind, name, response.content)
            assert urlencode({name: value}) in valid(response.json())["link"][0]["url"]
        _outcome, names = refused(vc_api, f"/fhir/R4/{kind}", {**required, "_unlisted": "1"})
        assert names == {"_unlisted"}
        includes = {
            r["type"]: r.get("searchInclude", []) for r in statement["rest"][0]["resource"]
        }[kind]
        assert includes == list(SEARCHES[kind].includes)


# --- 4. no 5xx, whatever the input -----------------------------------------------------------


@pytest.fixture
def fuzz_api(integrations, plan, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_read": "1000000/min", "api_write": "1000000/min"},
    }
    return Api(issue_token(integrations["vardcentral"]))


NAMES = sorted({p.name for spec in SEARCHES.values() for p in spec.params} | set(CONTROL))
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["Patient/1", "1", "ge2020-01-01", "active", f"{PERSONNUMMER}|1", "-1"]),
    st.from_regex(r"\A(ge|le|gt|lt|eq)?[0-9\-:T+.Z]{0,30}\Z"),
)
names = st.one_of(
    st.sampled_from(NAMES),
    st.builds(lambda n, m: f"{n}:{m}", st.sampled_from(NAMES), st.text(max_size=8)),
    st.text(max_size=12),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    kind=st.sampled_from(sorted(SEARCHES)),
    params=st.lists(st.tuples(names, values), max_size=4),
    lenient=st.booleans(),
)
def test_no_search_input_is_a_server_error(fuzz_api, kind, params, lenient):
    query = urlencode(params)
    response = fuzz_api.http.get(
        f"/fhir/R4/{kind}?{query}", headers={**fuzz_api.headers, **(LENIENT if lenient else {})}
    )
    assert response.status_code < 500, (kind, params, response.content)
    valid(response.json())


@FUZZ
@given(
    kind=st.sampled_from(sorted(SEARCHES)),
    body=st.one_of(
        st.binary(max_size=80), st.lists(st.tuples(names, values), max_size=4).map(urlencode)
    ),
)
def test_no_search_body_is_a_server_error(fuzz_api, kind, body):
    response = fuzz_api.http.post(
        f"/fhir/R4/{kind}/_search",
        body,
        content_type="application/x-www-form-urlencoded",
        headers=fuzz_api.headers,
    )
    assert response.status_code < 500, (kind, body, response.content)
    valid(response.json())
