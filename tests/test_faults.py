"""Faults: a plan row held by another transaction, the database down, Redis hung.

Every wait is bounded, and an outage answers 503 with Retry-After in the form each door
speaks (a page, an htmx message, a problem, an OperationOutcome), never a bare 500. The
held lock comes from a second connection to the test database; the database is "down"
when the connection points at a loopback port where nothing listens; the hung Redis is
a private redis-server of the test's own, stopped with SIGSTOP (the machine's shared
services are never touched).
"""

import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from time import monotonic

import psycopg
import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token, vc_api
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.commands import migrate
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse
from personas import version

from contracts.models import Contract, Event
from naravard import localservices
from naravard.celery import app as celery_app
from reminders import wake

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["_fresh_rate_limits", "integrations", "vc_api"]

HTMX = {"HX-Request": "true"}
# Longer than DB_LOCK_TIMEOUT (3 s): a request that waited for the lock instead of giving
# up would get the row only when the holder lets go, and answer the save as done.
HOLD_AT_MOST = 15


@pytest.fixture
def held_plan(plan):
    """The plan's row locked by another transaction, as a long save would hold it, let go
    after HOLD_AT_MOST seconds at the latest."""
    holder = psycopg.connect(localservices.database_url(connection.settings_dict))
    holder.execute("SELECT 1 FROM contracts_contract WHERE id = %s FOR UPDATE", [plan.pk])
    let_go = threading.Timer(HOLD_AT_MOST, holder.rollback)
    let_go.start()
    yield plan
    let_go.cancel()
    holder.rollback()
    holder.close()


def pages(user, language="en") -> Client:
    client = Client(headers={"accept-language": language}, raise_request_exception=False)
    client.force_login(user)
    return client


def what_matters(plan):
    return reverse("contracts:what_matters", args=[plan.patient_id])


# --- a plan someone else is saving -----------------------------------------------------


def test_an_edit_of_a_held_plan_answers_busy_within_seconds_and_changes_nothing(
    held_plan, tolvan, doctor
):
    seen = version(held_plan)
    client = pages(tolvan.user)
    started = monotonic()
    response = client.post(what_matters(held_plan), {"version": seen, "what_matters": "Simma"})
    waited = monotonic() - started
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    html = response.content.decode()
    assert "Someone is saving this plan right now" in html
    assert "Your change was not saved" in html
    assert waited < HOLD_AT_MOST - 5
    # Reading the plan does not wait for the save: staff see it at once.
    assert pages(doctor).get(reverse("contracts:staff_plan", args=[tolvan.pk])).status_code == 200
    held_plan.refresh_from_db()
    assert (held_plan.version, held_plan.what_matters) == (seen, "Att kunna gå till affären själv.")


def test_an_htmx_edit_of_a_held_plan_tells_the_page_alert_region(held_plan, tolvan):
    response = pages(tolvan.user).post(
        what_matters(held_plan),
        {"version": version(held_plan), "what_matters": "Simma"},
        headers=HTMX,
    )
    assert response.status_code == 503
    assert response["HX-Retarget"] == "#site-alert"
    assert response["HX-Reswap"] == "innerHTML"
    html = response.content.decode().strip()
    assert html.startswith('<p role="alert"') and "<html" not in html
    # ...and that region is on every page.
    page = pages(tolvan.user).get(reverse("contracts:my_plan")).content.decode()
    assert 'id="site-alert"' in page


def test_an_api_edit_of_a_held_plan_is_a_503_problem(held_plan, vc_api):
    read = vc_api.get(f"/api/v1/contracts/{held_plan.pk}/")
    vc_api.http.raise_request_exception = False
    response = vc_api.put(
        f"/api/v1/contracts/{held_plan.pk}/what-matters/",
        {"what_matters": "Simma", "goals": []},
        headers={"If-Match": read["ETag"]},
    )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "2"
    assert response.json()["type"] == "/api/v1/problems/busy"
    assert Contract.objects.get(pk=held_plan.pk).version == read.json()["version"]


# --- the database down -----------------------------------------------------------------


@pytest.fixture
def database_down(plan):
    """From here on, the database cannot be reached (nothing listens on its port)."""
    settings_dict = connection.settings_dict
    before = settings_dict["HOST"], settings_dict["PORT"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", localservices.free_port()
    yield
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = before


@pytest.fixture
def logged_in(doctor, tolvan):
    """Clients logged in before the outage (their sessions are in the database)."""
    return {"doctor": pages(doctor), "doctor_sv": pages(doctor, "sv")}


def test_with_the_database_down_pages_answer_503_in_the_readers_language(
    plan, logged_in, database_down
):
    url = reverse("contracts:staff_plan", args=[plan.patient_id])
    response = logged_in["doctor"].get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    html = response.content.decode()
    assert "Naravard is temporarily unavailable" in html
    assert f'href="{url}"' in html  # "Try again" leads back to the page
    swedish = logged_in["doctor_sv"].get(url)
    assert swedish.status_code == 503
    assert "tillfälligt" in swedish.content.decode()


@pytest.fixture
def api(integrations):
    """The vårdcentral's integration, with a token issued before the outage."""
    client = Api(issue_token(integrations["vardcentral"]))
    client.http.raise_request_exception = False
    return client


def test_with_the_database_down_the_apis_answer_503_problems(plan, api, database_down):
    response = api.get(f"/api/v1/contracts/{plan.pk}/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "30"
    assert response.json()["type"] == "/api/v1/problems/unavailable"
    outcome = api.get(f"/fhir/R4/CarePlan/{plan.pk}")
    assert outcome.status_code == 503
    assert outcome["Content-Type"] == "application/fhir+json"
    assert outcome.json()["issue"][0]["code"] == "transient"


def test_health_says_alive_and_ready_says_what_is_missing(plan, database_down):
    client = Client(raise_request_exception=False)
    assert client.get("/health/").status_code == 200
    ready = client.get("/ready/")
    assert ready.status_code == 503
    assert ready["Retry-After"]
    assert ready.json()["checks"]["database"] == "unavailable"


def test_ready_when_database_migrations_and_redis_answer(db):
    ready = Client().get("/ready/")
    assert ready.status_code == 200, ready.json()
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "cache": "ok", "broker": "ok"},
    }


# --- work that may rightly take longer than a web request -----------------------------


def limits():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_web_requests_wait_seconds_at_most(settings):
    assert limits() == ("10s", "3s")
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone() == ("1min",)


@pytest.mark.django_db
def test_migrations_run_without_a_statement_limit_and_with_a_bounded_lock_wait(
    settings, monkeypatch
):
    settings.MIGRATION_DATABASE_URL = ""  # stay on this test's connection and transaction
    during = []
    monkeypatch.setattr(migrate.Command, "handle", lambda self, *a, **o: during.append(limits()))
    call_command("migrate", verbosity=0)
    assert during == [("0", settings.MIGRATION_LOCK_TIMEOUT)]
    assert limits() == ("10s", "3s")


# --- Redis hung ------------------------------------------------------------------------


@pytest.fixture
def hung_server(tmp_path):
    """A private Redis that accepts connections and never answers (SIGSTOP)."""
    server = localservices.start_redis(tmp_path, localservices.free_port(), durable=False)
    server.proc.send_signal(signal.SIGSTOP)
    yield server
    server.proc.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def hung_redis(hung_server, settings):
    """The hung Redis as the cache."""
    machine = settings.CACHES
    settings.CACHES = {"default": {**machine["default"], "LOCATION": hung_server.url}}
    yield hung_server
    settings.CACHES = machine  # before it stops: other fixtures clear the cache last


def test_with_redis_hung_an_api_read_stays_fast(plan, integrations, hung_redis):
    api = Api(issue_token(integrations["vardcentral"]))
    started = monotonic()
    response = api.get(f"/api/v1/contracts/{plan.pk}/")
    assert response.status_code == 200
    # The rate limit's one cache call gives up after REDIS_TIMEOUT (0.5 s), not 5 s.
    assert monotonic() - started < 2


def test_with_redis_hung_a_password_login_stays_fast(doctor, hung_redis):
    client = Client(headers={"accept-language": "en"})
    started = monotonic()
    response = client.post("/login/", {"username": "doktor@example.org", "password": "pw"})
    assert response.status_code == 302
    assert monotonic() - started < 2
    with pytest.raises(Exception):  # noqa: B017 - the cache really is hung
        caches["default"].get("anything")


@pytest.fixture
def hung_broker(hung_server, monkeypatch):
    """The hung Redis as the Celery broker."""
    monkeypatch.setattr(celery_app.conf, "broker_url", hung_server.url)
    # Celery keeps its connections (and producers on them) to the machine's broker.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    return hung_server


def test_with_redis_hung_waking_a_worker_gives_up_within_a_second(hung_broker, caplog):
    started = monotonic()
    assert wake.enqueue(wake.SEND_DUE) is False
    # Before the few-hundred-millisecond timeouts this took 5 s (socket timeout), twice.
    assert monotonic() - started < 1.5
    assert "beat will catch up" in caplog.text


# --- the database restarted ------------------------------------------------------------


@pytest.fixture
def private_postgres():
    """A PostgreSQL of this test's own, durable like production (fsync on). Its folder
    is one the server's own system user can reach (pytest's are private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="naravard-restart-"))
    folder.chmod(0o755)
    port = localservices.free_port()
    server = localservices.start_postgres(folder, port, durable=True)
    yield server, port, folder
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def pointed_at(port: int):
    """The app's connection to the private server, then back to the test database."""
    settings_dict = connection.settings_dict
    keys = ("HOST", "PORT", "NAME", "USER")
    before = {key: settings_dict[key] for key in keys}
    connection.close()
    settings_dict.update(HOST="127.0.0.1", PORT=port, NAME=localservices.DATABASE, USER="postgres")
    try:
        yield
    finally:
        connection.close()
        settings_dict.update(before)


def test_a_database_crash_and_restart_loses_no_acknowledged_write(
    private_postgres, request, settings
):
    server, port, folder = private_postgres
    # One role on the private server: migrate there, not as the suite's owner.
    settings.MIGRATION_DATABASE_URL = settings.DATABASE_APP_ROLE = ""
    # The test database stays as it is; the app works on the private server (this
    # module's tests commit, as production does).
    with pointed_at(port):
        call_command("migrate", verbosity=0)
        plan = request.getfixturevalue("plan")
        patient = pages(plan.patient.user)
        acknowledged = []
        for n in range(20):
            text = f"Att gå till affären, dag {n}"
            response = patient.post(
                what_matters(plan), {"version": version(plan), "what_matters": text}
            )
            assert response.status_code == 302
            acknowledged.append(text)

        # SIGQUIT: PostgreSQL's immediate shutdown, no checkpoint, as in a crash.
        server.proc.send_signal(signal.SIGQUIT)
        server.proc.wait(timeout=30)
        down = patient.get(reverse("contracts:my_plan"))
        assert down.status_code == 503 and down["Retry-After"]

        again = localservices.start_postgres(folder, port, durable=True)
        try:
            # The next request reconnects by itself: at its start the WSGI handler drops
            # a connection that fails its health check (the test client leaves that out).
            close_old_connections()
            assert patient.get(reverse("contracts:my_plan")).status_code == 200
            plan.refresh_from_db()
            assert plan.what_matters == acknowledged[-1]
            kept = Event.objects.filter(contract=plan, kind="what_matters_changed")
            assert [e.after["what_matters"] for e in kept.order_by("id")] == acknowledged
        finally:
            connection.close()
            again.stop()
