"""Browser tests: Debian chromium driven by Playwright against pytest-django's live server.

Fixtures: `browser` (one chromium per run), `page` (a fresh context per test, English
locale and Stockholm time, relative URLs go to the live server), `login_as(page, user)`
(the real login: code by e-mail, or the password form and the authenticator code for
staff, whose device the fixture makes and whose code it computes) and
`assert_accessible(page)` (axe-core; fails on serious or critical violations).
Mark the tests `@pytest.mark.browser`; they need `transactional_db` (the live server
runs in another thread and must see committed data), which `page` brings in.
"""

import os
import re
import subprocess
from pathlib import Path

import axe_playwright_python
import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import sync_playwright

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
# to touch the database from the test body while it is running.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
BLOCKING_IMPACTS = {"serious", "critical"}
PASSWORD = "pw"  # what tests/personas.py gives every persona


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        # Playwright's own browser download does not work here; Debian's chromium does.
        subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, transactional_db):
    cache.clear()  # API rate limits from an earlier test must not carry over
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", timezone_id="Europe/Stockholm"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def _submit(page, form_selector):
    with page.expect_navigation():
        page.locator(f"{form_selector} button[type=submit]").click()


@pytest.fixture
def login_as():
    """Log in through the real pages. Patients and relatives (and anyone, with
    how="code") use the code by e-mail; staff use the password form by default, then
    the code from their authenticator app (a device made here, its code computed).
    With how="enrol" a staff member without an app sets one up on the way: the app's
    first code and the code e-mailed to them (a password alone cannot set one up)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from second_factor import code_now, emailed_code, totp_device

    from naravard.celery import app

    def login(page, user, how=None):
        how = how or ("password" if user.memberships.exists() else "code")
        page.goto("/login/")
        if how in ("password", "enrol"):
            device = totp_device(user) if how == "password" else None
            page.fill("input[name=username]", user.email)
            page.fill("input[name=password]", PASSWORD)
            _submit(page, "form:has(input[name=password])")
            assert "/login/second-factor/" in page.url, f"no second factor: {page.url}"
            if device is None:
                device = TOTPDevice.objects.get(user=user, confirmed=False)
                page.fill("input[name=email_code]", emailed_code(user))
            page.fill("input[name=code]", code_now(device))
            _submit(page, "form:has(input[name=code])")
        else:
            sent = len(mail.outbox)
            page.fill("input[name=email]", user.email)
            # The mail is sent by a Celery task (actors.tasks): run it in this process
            # (the live server is a thread of it) for this one request.
            eager = app.conf.task_always_eager
            app.conf.task_always_eager = True
            try:
                _submit(page, "form[action='/login/code/']")
            finally:
                app.conf.task_always_eager = eager
            assert len(mail.outbox) == sent + 1, "no login code was sent"
            code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
            page.fill("input[name=code]", code)
            _submit(page, "form:has(input[name=code])")
        assert "/login/" not in page.url, f"still on the login page: {page.url}"

    return login


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now."""
    # page.evaluate runs in the page regardless of its CSP, unlike an injected <script>.
    page.evaluate(AXE_SOURCE)
    result = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]


@pytest.fixture
def assert_accessible():
    def check(page):
        violations = axe_violations(page)
        report = "\n".join(
            f"- {v['impact']}: {v['id']}: {v['help']} ({len(v['nodes'])} elements: "
            + ", ".join(str(n["target"]) for n in v["nodes"][:5])
            + ")"
            for v in violations
        )
        if violations:
            print(f"axe-core found on {page.url}:\n{report}")
        assert not violations, f"accessibility problems on {page.url}:\n{report}"

    return check
