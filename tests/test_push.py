"""Push to integrations (push/): REST webhooks and FHIR rest-hook subscriptions, signed,
retried, turned off after repeated failure, at least once with one id, never of a
patient the organisation may not see, and never in the way of a write.

A real HTTP receiver runs in a thread on a free loopback port; the fan-out and the
sender are called directly, as a worker's task would call them (push.tasks)."""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_fixtures import Api, _fresh_rate_limits, etag, integrations, issue_token, vc_api
from django.test import Client
from django.utils import timezone
from personas import SYSTEM, make_staff, version

from actors.models import Role
from contracts import services
from contracts.history import Actor
from contracts.models import Event
from patients import services as patient_services
from patients.models import AccessLogEntry
from push import fanout, sender, tasks
from push.models import Delivery, Subscription

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]


class Receiver:
    """An integrator's endpoint: records every request; fails the next `fail` ones."""

    def __init__(self):
        self.requests = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status = 200
                if receiver.fail:
                    receiver.fail -= 1
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/naravard"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def push_settings(settings):
    settings.PUSH_ALLOW_LOOPBACK = True
    settings.PUSH_RETRY_BASE_SECONDS = 60
    settings.PUSH_MAX_FAILURES = 3
    settings.PUSH_CONNECT_TIMEOUT = 2
    settings.PUSH_READ_TIMEOUT = 2


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def verify(secret: str, request: dict, tolerance: int = 300) -> dict:
    """The receiver's recipe from docs/push.md, written out without our code."""
    headers = request["headers"]
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) <= tolerance
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + request["body"]
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())
    return json.loads(request["body"]) if request["body"] else {}


def subscribe(api, url, **fields) -> dict:
    response = api.post("/api/v1/webhooks/", {"url": url, **fields})
    assert response.status_code == 201, response.json()
    return response.json()


def change_what_matters(plan, doctor, network, text="Att orka gå i trappan."):
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text=text,
        expected_version=version(plan),
    )


def collect():
    """The fan-out, run until it has read every event written so far. Events are read
    below the oldest transaction still running on the server (the change feed's cut), so
    another database's open transaction (another test run) can hold them back a moment."""
    deadline = time.monotonic() + 20
    while True:
        fanout.collect()
        positions = Subscription.objects.on().values_list("after_txid", "after_id")
        last = Event.objects.order_by("-txid", "-id").values_list("txid", "id").first()
        if all(position >= last for position in positions) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def run_push(now=None):
    """What the beat task does: new events into the outbox, then one round of sending."""
    collect()
    return sender.send_due(now=now or timezone.now())


def test_a_webhook_receives_a_signed_notification_of_a_plan_change(
    vc_api, plan, doctor, network, receiver
):
    webhook = subscribe(vc_api, receiver.url)
    assert webhook["secret"].startswith("whsec_") and webhook["status"] == "active"
    change_what_matters(plan, doctor, network)

    collect()
    result = tasks.push_events()

    assert result["delivered"] == 1
    # Only the change made after subscribing: the plan's earlier history is not pushed.
    [request] = receiver.requests
    assert request["path"] == "/hooks/naravard"
    assert request["headers"]["content-type"] == "application/json"
    item = verify(webhook["secret"], request)
    assert (item["kind"], item["contract"], item["patient"]) == (
        "what_matters_changed",
        plan.pk,
        plan.patient_id,
    )
    # The same shape as the change feed's item for the same event.
    feed = vc_api.get("/api/v1/changes/").json()["events"]
    assert [e for e in feed if e["id"] == item["id"]] == [item]
    delivery = Delivery.objects.get()
    assert request["headers"]["webhook-id"] == str(delivery.message_id)
    assert delivery.status == Delivery.Status.DELIVERED
    # The push is the integration's read of Tolvan's plan, logged as any read is.
    assert AccessLogEntry.objects.filter(
        patient=plan.patient, api_client="Journal Vårdcentralen Tierp", action="api_read"
    ).exists()
    # A changed signature is not valid (the recipe checks something).
    forged = {**request, "body": request["body"].replace(b"what_matters", b"what_mattere")}
    with pytest.raises(AssertionError):
        verify(webhook["secret"], forged)


def test_a_receiver_that_fails_twice_gets_the_change_after_backoff(
    vc_api, plan, doctor, network, receiver
):
    webhook = subscribe(vc_api, receiver.url)
    change_what_matters(plan, doctor, network)
    receiver.fail = 2
    t0 = timezone.now()

    assert run_push(t0)["pending"] == 1
    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at == t0 + timedelta(seconds=60)
    assert delivery.last_error == "HTTP 500"
    assert sender.send_due(now=t0 + timedelta(seconds=30)) == {}  # not yet
    assert sender.send_due(now=t0 + timedelta(seconds=61))["pending"] == 1
    delivery.refresh_from_db()
    # The delay doubles.
    assert delivery.next_attempt_at == t0 + timedelta(seconds=61 + 120)
    assert Subscription.objects.get().failures == 2
    assert sender.send_due(now=t0 + timedelta(seconds=181)) == {"delivered": 1}

    assert len(receiver.requests) == 3
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        verify(webhook["secret"], request)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.DELIVERED, 3)
    subscription = Subscription.objects.get()
    assert subscription.failures == 0 and subscription.status == Subscription.Status.ACTIVE


def test_a_subscription_is_turned_off_after_repeated_failure_and_shown_to_its_admin(
    vc_api, plan, doctor, network, receiver
):
    subscribe(vc_api, receiver.url)
    change_what_matters(plan, doctor, network)
    receiver.fail = 100
    t = timezone.now()
    run_push(t)
    for _ in range(2):
        t += timedelta(hours=7)
        sender.send_due(now=t)
    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.OFF
    assert subscription.failures == 3 and subscription.last_error == "HTTP 500"
    # Turned off: nothing more is tried, and new changes wait.
    change_what_matters(plan, doctor, network, "Att kunna laga mat.")
    assert run_push(t + timedelta(days=2)) == {}
    assert len(receiver.requests) == 3

    admin = make_staff("admin@example.org", network["vardcentral"], Role.ORG_ADMIN)
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(admin)
    response = page.get("/organisation/subscriptions/")
    assert response.status_code == 200
    html = response.content.decode()
    assert receiver.url in html and "Turned off" in html and "HTTP 500" in html
    assert "Turn back on" in html and "Journal Vårdcentralen Tierp" in html

    # Another organisation's administrator sees none of it, and cannot turn it on.
    other = make_staff("admin@kardio.example.org", network["cardiology"], Role.ORG_ADMIN)
    stranger = Client(HTTP_ACCEPT_LANGUAGE="en")
    stranger.force_login(other)
    assert receiver.url not in stranger.get("/organisation/subscriptions/").content.decode()
    assert (
        stranger.post(f"/organisation/subscriptions/{subscription.pk}/turn-on/").status_code == 404
    )
    # A clinician is not an administrator.
    clinician = Client(HTTP_ACCEPT_LANGUAGE="en")
    clinician.force_login(doctor)
    assert clinician.get("/organisation/subscriptions/").status_code == 403

    receiver.fail = 0
    response = page.post(f"/organisation/subscriptions/{subscription.pk}/turn-on/", follow=True)
    assert "The subscription is on again" in response.content.decode()
    subscription.refresh_from_db()
    assert (subscription.status, subscription.failures) == (Subscription.Status.ACTIVE, 0)
    # What waited is sent at once: the failed change and the one made while off.
    run_push(t + timedelta(days=2))
    sent = [json.loads(r["body"])["after"] for r in receiver.requests[3:]]
    assert [after["what_matters"] for after in sent] == [
        "Att orka gå i trappan.",
        "Att kunna laga mat.",
    ]
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 2


def test_a_delivery_taken_over_after_its_lease_ran_out_keeps_its_id(
    vc_api, plan, doctor, network, receiver, settings
):
    webhook = subscribe(vc_api, receiver.url)
    change_what_matters(plan, doctor, network)
    collect()
    t0 = timezone.now()

    # Worker A claims the delivery and is killed (or stalls) before it records anything.
    token_a, [claimed_by_a] = sender.claim(t0, 10)
    # Within the lease nobody else may take it.
    assert sender.claim(t0 + timedelta(seconds=10), 10)[1] == []
    # After the lease worker B takes it over and delivers it.
    after_lease = t0 + timedelta(seconds=settings.PUSH_LEASE_SECONDS + 1)
    token_b, [claimed_by_b] = sender.claim(after_lease, 10)
    assert sender.deliver(claimed_by_b, token_b, after_lease) == Delivery.Status.DELIVERED
    # A wakes up and posts too: the receiver sees the same id twice (at least once) ...
    sender.deliver(claimed_by_a, token_a, after_lease)
    assert len(receiver.requests) == 2
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {str(claimed_by_a.message_id)}
    for request in receiver.requests:
        verify(webhook["secret"], request)
    # ... and A's late bookkeeping changes nothing B recorded.
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.DELIVERED, 2)
    assert delivery.lease_token is None
    # Running again sends nothing more.
    assert run_push(after_lease + timedelta(hours=1)) == {}
    assert len(receiver.requests) == 2


def test_no_delivery_of_patients_the_organisation_may_not_see(
    integrations, vc_api, plan, doctor, network, receiver, tolvan
):
    cardiology = Api(issue_token(integrations["cardiology"]))
    subscribe(cardiology, receiver.url)
    vardcentral = subscribe(vc_api, receiver.url + "/vc")
    change_what_matters(plan, doctor, network)
    collect()
    # The cardiology unit is not on Tolvan's care team: no row, nothing sent.
    assert not Delivery.objects.filter(subscription__api_client=integrations["cardiology"])
    # Tolvan withdraws the vårdcentral's consent before the change is sent: not sent.
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["vardcentral"]
    )
    assert sender.send_due(now=timezone.now()) == {"cancelled": 1}
    services.set_what_matters(
        actor=Actor.patient(tolvan.user),
        contract=plan,
        text="Efter spärren.",
        expected_version=version(plan),
    )
    run_push()
    assert receiver.requests == []
    assert Delivery.objects.filter(subscription_id=vardcentral["id"]).count() == 1


def test_a_write_does_no_http_and_succeeds_while_the_receiver_is_down(vc_api, plan):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    subscribe(vc_api, f"http://127.0.0.1:{closed_port}/down")

    started = time.monotonic()
    response = vc_api.put(
        f"/api/v1/contracts/{plan.pk}/what-matters/",
        {"what_matters": "Att kunna gå ut med hunden."},
        headers={"If-Match": etag(vc_api.get(f"/api/v1/contracts/{plan.pk}/"))},
    )
    assert response.status_code == 200
    assert time.monotonic() - started < 2
    # The write made no delivery row, let alone a request: the fan-out does, later.
    assert not Delivery.objects.exists()
    run_push()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    assert "no answer" in delivery.last_error


def test_a_fhir_rest_hook_subscription_is_notified_without_data(
    integrations, plan, doctor, network, receiver
):
    fhir = Api(issue_token(integrations["vardcentral"]))
    resource = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Uppdatera journalen",
        "criteria": "CarePlan",
        "channel": {"type": "rest-hook", "endpoint": receiver.url},
    }
    refused = fhir.post(
        "/fhir/R4/Subscription",
        {**resource, "channel": {**resource["channel"], "payload": "application/fhir+json"}},
        content_type="application/fhir+json",
    )
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["channel.payload"]

    created = fhir.post("/fhir/R4/Subscription", resource, content_type="application/fhir+json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "active" and body["channel"]["type"] == "rest-hook"
    [secret] = [e["valueString"] for e in body["extension"]]
    read = fhir.get(f"/fhir/R4/Subscription/{body['id']}").json()
    assert "extension" not in read  # the secret is shown once

    change_what_matters(plan, doctor, network)
    patient_services.give_consent(actor=SYSTEM, patient=plan.patient, organisation=network["tierp"])
    collect()
    tasks.push_events()
    # One notification per plan change; the consent given names no plan.
    [request] = receiver.requests
    assert request["body"] == b"" and request["headers"]["content-type"] == "application/fhir+json"
    verify(secret, request)

    listed = fhir.get("/fhir/R4/Subscription").json()
    assert [e["resource"]["id"] for e in listed["entry"]] == [body["id"]]
    assert fhir.get("/fhir/R4/Subscription", status="active").status_code == 400
    assert fhir.get("/fhir/R4/Subscription/99999999999999999999").status_code == 404
    assert (
        fhir.http.delete(f"/fhir/R4/Subscription/{body['id']}", headers=fhir.headers).status_code
        == 204
    )
    assert fhir.get(f"/fhir/R4/Subscription/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "ftp://127.0.0.1/hook",
        "https://user:pw@127.0.0.1/hook",
        "not a url",
    ],
)
def test_a_webhook_to_a_private_or_odd_address_is_refused(vc_api, url):
    response = vc_api.post("/api/v1/webhooks/", {"url": url})
    assert response.status_code == 400
    assert "url" in response.json()["errors"]
    assert not Subscription.objects.exists()


def test_plain_http_to_loopback_only_where_allowed(vc_api, settings, receiver):
    settings.PUSH_ALLOW_LOOPBACK = False
    response = vc_api.post("/api/v1/webhooks/", {"url": receiver.url})
    assert response.status_code == 400


def test_an_integration_sees_and_deletes_only_its_organisations_webhooks(
    integrations, vc_api, receiver
):
    webhook = subscribe(vc_api, receiver.url, event_kinds=["what_matters_changed"])
    cardiology = Api(issue_token(integrations["cardiology"]))
    assert cardiology.get("/api/v1/webhooks/").json() == {"results": []}
    url = f"/api/v1/webhooks/{webhook['id']}/"
    assert cardiology.http.delete(url, headers=cardiology.headers).status_code == 404
    listed = vc_api.get("/api/v1/webhooks/").json()["results"]
    assert [w["id"] for w in listed] == [webhook["id"]] and "secret" not in listed[0]
    assert vc_api.http.delete(url, headers=vc_api.headers).status_code == 204
    assert not Subscription.objects.exists()


def test_beat_runs_the_push_task_every_ten_seconds():
    from naravard.celery import app

    entry = app.conf.beat_schedule["push-events"]
    assert entry["task"] == tasks.PUSH_EVENTS in app.tasks
    assert entry["schedule"] == 10.0


def test_the_webhook_endpoints_are_strict_about_query_parameters(vc_api, receiver):
    webhook = subscribe(vc_api, receiver.url)
    for url in ("/api/v1/webhooks/", f"/api/v1/webhooks/{webhook['id']}/"):
        response = vc_api.get(url, status="off")
        assert response.status_code == 400
        assert "status" in json.dumps(response.json())
        lenient = vc_api.get(url, headers={"Prefer": "handling=lenient"}, status="off")
        assert lenient.status_code == 200


def test_the_capability_statement_offers_subscriptions(db):
    statement = Client().get("/fhir/R4/metadata").json()
    (entry,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {i["code"] for i in entry["interaction"]} == {"read", "search-type", "create", "delete"}
