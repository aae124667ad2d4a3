"""Logging in with e-legitimation in Chromium, through the demo identity provider running
as its own process (tests/idp_process.py): our login page, the provider's signing page,
the code exchange and the signed ID token, and back to the person's own pages."""

import pytest

from actors.models import User
from patients.models import AccessLogEntry

pytestmark = pytest.mark.browser

DOCTOR_HSA = "SE2321000032-DP01"


@pytest.fixture
def idp_for_live_server(live_server, demo_idp, oidc_providers):
    demo_idp.register(live_server.url)
    return demo_idp


def sign_with_number(page, number):
    page.fill("input#number", number)
    with page.expect_navigation():
        page.locator("form:has(input#number) button[type=submit]").click()
    page.wait_for_load_state()


def test_patient_logs_in_with_bankid_and_reaches_their_plan(
    page, plan, tolvan, idp_for_live_server, assert_accessible
):
    page.goto("/login/")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Log in with BankID or Freja").click()

    assert page.url.startswith(idp_for_live_server.url)
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign as Tolvan Tolvansson").click()
    page.wait_for_load_state()

    assert "/my-plan/" in page.url
    assert page.get_by_role("heading", level=1).count() == 1
    assert "Att kunna gå till affären själv." in page.content()


def test_staff_member_logs_in_with_siths_and_the_access_log_says_level_3(
    page, plan, doctor, tolvan, idp_for_live_server, assert_accessible
):
    User.objects.filter(pk=doctor.pk).update(hsa_id=DOCTOR_HSA)
    page.goto("/login/")
    with page.expect_navigation():
        page.get_by_role("link", name="Staff: log in with SITHS/e-tjänstekort").click()
    assert_accessible(page)

    sign_with_number(page, DOCTOR_HSA)
    assert "/login/" not in page.url, page.url

    page.goto(f"/patients/{tolvan.pk}/plan/")
    assert page.get_by_role("heading", level=1).count() == 1
    entry = AccessLogEntry.objects.filter(user=doctor, patient=tolvan).latest("at")
    assert entry.assurance_level == 3


def test_unknown_person_is_told_clearly_and_stays_logged_out(
    page, tolvan, idp_for_live_server, assert_accessible
):
    page.goto("/login/?next=/my-plan/")
    with page.expect_navigation():
        page.get_by_role("link", name="Log in with BankID or Freja").click()

    sign_with_number(page, "19510602-9860")

    alert = page.get_by_role("alert")
    assert "we have no patient or relative with your personal identity number" in (
        alert.inner_text()
    )
    assert_accessible(page)
    # Still the login page, with the other ways in.
    assert page.get_by_role("link", name="Log in with BankID or Freja").count() == 1
