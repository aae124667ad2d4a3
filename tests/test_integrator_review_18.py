"""Review of issue 18 (R2): what an integration engineer found from outside after the
integrator-grade work. Each test failed before its fix."""

import pytest
from api_fixtures import _fresh_rate_limits, integrations, vc_api
from test_fhir import valid
from test_fhir_versions import every_resource, goals

from push import endpoints

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations", "vc_api", "goals"]

OUTCOME = "application/fhir+json"
PROBLEM = "application/problem+json"


def outcome_of(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(OUTCOME), response["Content-Type"]
    return valid(response.json())


# --- strict parameters on every FHIR door, not only searches ------------------------------


def test_a_fhir_read_refuses_unknown_parameters_instead_of_ignoring_them(
    vc_api, goals, doctor, network
):
    # `_summary`, `_elements` silently ignored would send the whole resource where the
    # client asked for part of it; an unknown name gets the same 400 as a search's.
    for url in every_resource(goals, doctor, network):
        for query in ("foo=bar", "_summary=true", "_elements=id"):
            response = vc_api.http.get(f"/fhir/R4/{url}?{query}", headers=vc_api.headers)
            issue = outcome_of(response, 400)["issue"][0]
            assert issue["expression"] == [query.split("=")[0]], url


def test_every_fhir_door_takes_format_json_and_refuses_xml(vc_api, goals, doctor, network):
    plan = f"CarePlan/{goals.pk}"
    for url in (plan, f"{plan}/_history", f"{plan}/_history/1", "CarePlan/_history", "metadata"):
        response = vc_api.get(f"/fhir/R4/{url}", _format="json")
        assert response.status_code == 200, (url, response.content)
        valid(response.json())
        outcome_of(vc_api.get(f"/fhir/R4/{url}", _format="xml"), 400)


def test_lenient_handling_on_a_read_ignores_and_says_so(vc_api, goals):
    response = vc_api.get(
        f"/fhir/R4/CarePlan/{goals.pk}", headers={"Prefer": "handling=lenient"}, foo="1"
    )
    assert response.status_code == 200
    assert response["Preference-Applied"] == "handling=lenient"


def test_metadata_and_subscription_reads_are_strict(vc_api):
    outcome_of(vc_api.get("/fhir/R4/metadata", foo="1"), 400)
    outcome_of(vc_api.get("/fhir/R4/metadata", mode="terminology"), 400)
    # A client checking the server's FHIR version asks for the summary (Firely's does).
    for params in ({"_summary": "true"}, {"mode": "full"}):
        summary = vc_api.get("/fhir/R4/metadata", **params)
        assert summary.status_code == 200
        assert summary.json()["fhirVersion"] == "4.0.1"
    outcome_of(vc_api.get("/fhir/R4/Subscription/1", foo="1"), 400)


# --- Django's own refusals speak the door's language ----------------------------------------


def test_too_many_query_fields_is_an_outcome_or_a_problem_not_an_html_page(vc_api):
    many = "&".join(f"a{i}=1" for i in range(1200))
    for path in ("/fhir/R4/CarePlan", "/fhir/R4/metadata"):
        response = vc_api.http.get(f"{path}?{many}", headers=vc_api.headers)
        outcome_of(response, 400)
    response = vc_api.http.get(f"/api/v1/patients/?{many}", headers=vc_api.headers)
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["status"] == 400


# --- FHIR Task writes: no input silently dropped -------------------------------------------


def test_a_task_due_date_that_is_not_a_whole_date_is_refused_not_dropped(vc_api, goals, network):
    plan = vc_api.get(f"/fhir/R4/CarePlan/{goals.pk}")
    count = goals.commitments.count()
    for end in ("2027", "2027-03", "2027-03-01T10:00:00+01:00"):
        response = vc_api.post(
            "/fhir/R4/Task",
            {
                "resourceType": "Task",
                "status": "ready",
                "intent": "plan",
                "description": "Ring patienten",
                "basedOn": [{"reference": f"CarePlan/{goals.pk}"}],
                "owner": {"reference": f"Organization/{network['vardcentral'].pk}"},
                "restriction": {"period": {"end": end}},
            },
            content_type=OUTCOME,
            headers={"If-Match": plan["ETag"]},
        )
        if end.startswith("2027-03-01"):
            assert response.status_code == 201, response.content
            assert response.json()["restriction"]["period"]["end"].startswith("2027-03-01")
            count += 1
        else:
            issue = outcome_of(response, 400)["issue"][0]
            assert issue["expression"] == ["Task.restriction.period.end"]
    assert goals.commitments.count() == count


# --- push: addresses that embed a private IPv4 address --------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254 (cloud metadata)
        "[64:ff9b:1::a00:1]",  # local-use NAT64 of 10.0.0.1
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
        "[::127.0.0.1]",  # IPv4-compatible (deprecated) 127.0.0.1
        "[::a9fe:a9fe]",  # IPv4-compatible 169.254.169.254
        "[fec0::1]",  # site-local (deprecated, still routed inside some networks)
        "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",  # Teredo: server or client not public
        "[::ffff:127.0.0.1]",
        "[::ffff:0:a9fe:a9fe]",  # IPv4-translated (SIIT) 169.254.169.254
        "[::ffff:a9fe:a9fe]",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0177.0.0.1",  # octal
        "0x7f.1",
    ],
)
def test_a_push_endpoint_hiding_a_private_address_is_refused(settings, address):
    settings.PUSH_ALLOW_LOOPBACK = False
    with pytest.raises(endpoints.EndpointRefused):
        endpoints.check(f"https://{address}/hook")


def test_a_public_ipv6_push_endpoint_is_still_allowed(settings):
    settings.PUSH_ALLOW_LOOPBACK = False
    parts, host, port, address = endpoints.check("https://[2a00:1450:4001:80b::200e]/hook")
    assert address == "2a00:1450:4001:80b::200e"


# --- FHIR Task writes: elements that would not be stored are refused, not dropped ---------


NOT_STORED = {
    "priority": "urgent",
    "note": [{"text": "Ring före kl 10"}],
    "requester": {"reference": "Organization/1"},
}


def test_a_task_put_with_an_element_that_is_not_stored_is_422_and_changes_nothing(vc_api, goals):
    commitment = goals.commitments.get(owner_kind="organisation")
    url = f"/fhir/R4/Task/commitment-{commitment.pk}"
    task = vc_api.get(url).json()
    for name, value in NOT_STORED.items():
        response = vc_api.put(
            url,
            {**task, "status": "completed", name: value},
            headers={"If-Match": f'"{task["meta"]["versionId"]}"'},
            content_type=OUTCOME,
        )
        issue = outcome_of(response, 422)["issue"][0]
        assert issue["expression"] == [f"Task.{name}"]
    commitment.refresh_from_db()
    assert commitment.status == "open"
    # What a read shows may be sent back as it was, with the status changed.
    response = vc_api.put(
        url,
        {**task, "status": "completed"},
        headers={"If-Match": f'"{task["meta"]["versionId"]}"'},
        content_type=OUTCOME,
    )
    assert response.status_code == 200, response.content


def test_a_task_post_with_an_element_that_is_not_stored_is_refused(vc_api, goals, network):
    count = goals.commitments.count()
    tag = vc_api.get(f"/fhir/R4/CarePlan/{goals.pk}")["ETag"]
    for name, value in {**NOT_STORED, "restriction": {"repetitions": 2}}.items():
        response = vc_api.post(
            "/fhir/R4/Task",
            {
                "resourceType": "Task",
                "status": "ready",
                "intent": "plan",
                "description": "Ring patienten",
                "basedOn": [{"reference": f"CarePlan/{goals.pk}"}],
                "owner": {"reference": f"Organization/{network['vardcentral'].pk}"},
                name: value,
            },
            content_type=OUTCOME,
            headers={"If-Match": tag},
        )
        issue = outcome_of(response, 422)["issue"][0]
        assert issue["expression"][0].startswith(f"Task.{name}")
    assert goals.commitments.count() == count


def test_options_is_405_in_the_doors_shape_not_a_description_of_the_view(vc_api, goals):
    response = vc_api.http.options(f"/fhir/R4/CarePlan/{goals.pk}", headers=vc_api.headers)
    outcome_of(response, 405)
    response = vc_api.http.options(f"/api/v1/contracts/{goals.pk}/", headers=vc_api.headers)
    assert response.status_code == 405
    assert response["Content-Type"].startswith(PROBLEM)


def test_token_endpoint_errors_are_json_as_rfc_6749_says(db):
    from django.test import Client

    for body in ({"grant_type": "client_credentials"}, {}):
        response = Client().post("/oauth/token/?foo=1", body)
        assert response.status_code in (400, 401)
        assert response["Content-Type"].startswith("application/json"), response.content
        assert "error" in response.json()


# --- held: the new read doors log the read, and a withdrawn consent closes them -----------


def test_every_history_door_logs_the_read_and_closes_after_consent_is_withdrawn(
    vc_api, goals, tolvan, network
):
    from contracts.history import Actor
    from patients import services as patient_services
    from patients.models import AccessLogEntry

    task = f"Task/commitment-{goals.commitments.get(owner_kind='organisation').pk}"
    urls = [
        f"CarePlan/{goals.pk}/_history",
        f"CarePlan/{goals.pk}/_history/1",
        f"{task}/_history",
        f"{task}/_history/1",
        "CarePlan/_history",
        "Task/_history",
    ]
    for url in urls:
        before = AccessLogEntry.objects.filter(patient_id=tolvan.pk).count()
        response = vc_api.get(f"/fhir/R4/{url}")
        assert response.status_code == 200, url
        valid(response.json())
        assert AccessLogEntry.objects.filter(patient_id=tolvan.pk).count() > before, url
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["vardcentral"]
    )
    for url in urls[:4]:
        outcome_of(vc_api.get(f"/fhir/R4/{url}"), 404)
    for url in urls[4:]:
        bundle = valid(vc_api.get(f"/fhir/R4/{url}").json())
        assert not bundle.get("entry"), url


@pytest.mark.django_db(transaction=True)
def test_two_task_puts_with_the_same_if_match_exactly_one_wins(vc_api, plan):
    import threading

    from django.db import connections

    commitment = plan.commitments.get(owner_kind="organisation")
    url = f"/fhir/R4/Task/commitment-{commitment.pk}"
    task = vc_api.get(url).json()
    tag = f'"{task["meta"]["versionId"]}"'
    start = threading.Barrier(2)
    statuses = []

    def put(status):
        try:
            start.wait()
            response = vc_api.put(
                url, {**task, "status": status}, headers={"If-Match": tag}, content_type=OUTCOME
            )
            statuses.append((status, response.status_code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=put, args=(s,)) for s in ("completed", "cancelled")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(code for _status, code in statuses)
    assert codes == [200, 412], statuses
    winner = next(status for status, code in statuses if code == 200)
    commitment.refresh_from_db()
    assert commitment.status == {"completed": "done", "cancelled": "cancelled"}[winner]


def test_drfs_format_parameter_is_an_unknown_parameter_not_a_404(vc_api, goals):
    for value in ("xml", "api", "json"):
        response = vc_api.get(f"/fhir/R4/CarePlan/{goals.pk}", format=value)
        assert outcome_of(response, 400)["issue"][0]["expression"] == ["format"]
        response = vc_api.get(f"/api/v1/contracts/{goals.pk}/", format=value)
        assert response.status_code == 400, (value, response.content)
        assert response.json()["errors"] == {"format": [response.json()["errors"]["format"][0]]}


def test_a_bad_host_header_is_answered_in_the_doors_shape(db):
    from django.test import Client

    response = Client().get("/fhir/R4/metadata", HTTP_HOST="bad host!")
    outcome_of(response, 400)
    response = Client().get("/api/v1/patients/", HTTP_HOST="bad host!")
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    # Pages keep Django's own page.
    assert Client().get("/login/", HTTP_HOST="bad host!")["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("kind", ["fhir", "webhook"])
def test_subscriptions_are_valid_and_private_to_their_organisation(
    settings, integrations, vc_api, kind
):
    from api_fixtures import Api, issue_token

    settings.PUSH_ALLOW_LOOPBACK = True
    cardiology = Api(issue_token(integrations["cardiology"]))
    if kind == "fhir":
        created = vc_api.post(
            "/fhir/R4/Subscription",
            {
                "resourceType": "Subscription",
                "status": "requested",
                "reason": "Planändringar",
                "criteria": "CarePlan",
                "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"},
            },
            content_type=OUTCOME,
        )
        assert created.status_code == 201, created.content
        url = f"/fhir/R4/Subscription/{valid(created.json())['id']}"
        valid(vc_api.get(url).json())
        assert valid(vc_api.get("/fhir/R4/Subscription").json())["total"] == 1
        outcome_of(cardiology.get(url), 404)
        outcome_of(cardiology.http.delete(url, headers=cardiology.headers), 404)
        assert valid(cardiology.get("/fhir/R4/Subscription").json())["total"] == 0
    else:
        created = vc_api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook"})
        assert created.status_code == 201, created.content
        url = f"/api/v1/webhooks/{created.json()['id']}/"
        assert cardiology.get(url).status_code == 404
        assert cardiology.http.delete(url, headers=cardiology.headers).status_code == 404
        assert cardiology.get("/api/v1/webhooks/").json()["results"] == []
    assert vc_api.get(url).status_code == 200


def test_a_delivery_to_an_ipv6_address_sends_a_valid_host_header(settings):
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.PUSH_ALLOW_LOOPBACK = True
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers["Host"])
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    server = Server(("::1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert endpoints.post(f"http://[::1]:{port}/hook", {}, b"{}") == 204
    finally:
        server.shutdown()
        server.server_close()
    # RFC 9110 7.2 / RFC 3986 3.2.2: an IPv6 literal in Host is in brackets.
    assert seen == [f"[::1]:{port}"]


class _Receiver:
    """A local HTTP receiver that answers every POST with `status` (and a Location)."""

    def __init__(self, status=204):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.requests.append((self.path, self.headers["Host"]))
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Location", "/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(settings, status):
    settings.PUSH_ALLOW_LOOPBACK = True
    receiver = _Receiver(status)
    try:
        with pytest.raises(endpoints.DeliveryFailed):
            endpoints.post(f"http://127.0.0.1:{receiver.port}/hook", {}, b"{}")
    finally:
        receiver.close()
    assert [path for path, _host in receiver.requests] == ["/hook"]


def test_the_sender_connects_to_the_address_it_checked_not_a_second_lookup(settings, monkeypatch):
    # DNS rebinding: the name answers a harmless address for the check, then another.
    import socket

    settings.PUSH_ALLOW_LOOPBACK = True
    receiver = _Receiver()
    real = socket.getaddrinfo
    answers = ["127.0.0.1", "10.1.2.3"]
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = answers[min(len(lookups) - 1, 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        url = f"http://hooks.example.test:{receiver.port}/hook"
        assert endpoints.post(url, {}, b"{}") == 204
    finally:
        receiver.close()
    assert lookups == ["hooks.example.test"]
    assert receiver.requests == [("/hook", f"hooks.example.test:{receiver.port}")]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_an_unknown_fhir_type_is_404_for_every_method(vc_api, method):
    for path in ("/fhir/R4/Foo", "/fhir/R4/Foo/1", "/fhir/R4/Foo/1/_history"):
        response = getattr(vc_api.http, method)(
            path, b"{}", content_type=OUTCOME, headers=vc_api.headers
        )
        outcome_of(response, 404)
