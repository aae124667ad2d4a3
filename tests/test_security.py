"""Security: headers, no-store, CSRF, the access log as a condition of reading,
`check --deploy`, and no health data in the application logs."""

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client, TestCase
from django.urls import reverse

from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


def test_pages_send_the_security_headers(client, tolvan):
    client.force_login(tolvan.user)
    for url in ("/login/", "/my-plan/access-log/"):
        response = client.get(url)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert "unsafe-inline" not in csp


def test_logging_out_tells_the_browser_to_forget_the_session(client, tolvan):
    client.force_login(tolvan.user)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert client.get("/my-plan/").status_code == 302  # to the login page


def test_every_page_for_a_logged_in_user_is_no_store(client, plan, tolvan, doctor):
    client.force_login(tolvan.user)
    for url in ("/my-plan/access-log/", "/my-plan/consent/", "/my-plan/relatives/", "/"):
        assert "no-store" in client.get(url)["Cache-Control"], url
    client.force_login(doctor)
    response = client.get(reverse("contracts:staff_plan", args=[tolvan.pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_post_without_the_csrf_token_is_refused(tolvan, network):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tolvan.user)
    url = reverse("access:consent_change", args=[network["vardcentral"].pk, "withdraw"])
    assert client.post(url).status_code == 403
    assert tolvan.consents.get(organisation=network["vardcentral"]).status == "given"


def test_a_read_that_cannot_be_logged_is_not_shown(client, plan, tolvan, doctor, monkeypatch):
    def log_is_down(*args, **kwargs):
        raise RuntimeError("the access log cannot be written")

    monkeypatch.setattr(AccessLogEntry.objects, "create", log_is_down)
    client.raise_request_exception = False
    client.force_login(doctor)
    response = client.get(reverse("contracts:staff_plan", args=[tolvan.pk]))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Tolvan" not in html
    assert "Att kunna gå till affären själv." not in html


def test_the_login_is_rate_limited(client, tolvan):
    cache.clear()
    statuses = {client.post("/login/code/", {"email": "tolvan@example.org"}).status_code}
    for _ in range(30):
        statuses.add(client.post("/login/code/", {"email": "tolvan@example.org"}).status_code)
    assert 429 in statuses
    cache.clear()


@pytest.mark.usefixtures("celery_eager")
def test_no_health_data_in_the_application_logs(client, plan, tolvan, doctor, cardiologist, caplog):
    secrets = ["Tolvan", "19121212", "Att kunna gå till affären", "Akut bröstsmärta"]
    with caplog.at_level(logging.DEBUG):
        # The code is mailed by a task once the request commits (actors.auth).
        with TestCase.captureOnCommitCallbacks(execute=True):
            client.post("/login/code/", {"email": "tolvan@example.org"})
        code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
        client.post("/login/code/enter/", {"code": "000000" if code != "000000" else "111111"})
        client.post("/login/code/enter/", {"code": code})
        client.get("/my-plan/access-log/")
        client.force_login(doctor)
        client.get(reverse("contracts:staff_plan", args=[tolvan.pk]))
        client.force_login(cardiologist)
        client.get(reverse("contracts:staff_plan", args=[tolvan.pk]))
        client.post(reverse("access:emergency", args=[tolvan.pk]), {"reason": "Akut bröstsmärta"})
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for secret in secrets:
        assert secret not in logged
    cache.clear()


def test_check_deploy_is_clean_in_production_settings():
    # The browser tests' conftest allows sync ORM calls under Playwright's event loop;
    # a deployment never sets that, so neither does this check.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DEBUG": "0",
        "SECRET_KEY": "k7!Qz9@pL2#vR8$wT5%yU1^bN4&mC6*xJ3(hG0)fD-sA_eW+oI=",
        "SECURE_COOKIES": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "ALLOWED_HOSTS": "naravard.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
