"""In the browser: a patient logs in with the e-mail code and sees who has read the plan."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from personas import make_staff

from actors.assurance import LOA3
from actors.assurance import SESSION_KEY as ASSURANCE_KEY
from actors.models import Role
from patients.access import EmergencyReason, get_patient_for, logged_in_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_patient_sees_who_has_read_the_plan_after_staff_opened_it(
    page, login_as, plan, tolvan, doctor, browser, live_server
):
    # The doctor opens the plan in a browser of their own.
    staff = browser.new_context(base_url=live_server.url, locale="sv-SE")
    staff_page = staff.new_page()
    login_as(staff_page, doctor)
    response = staff_page.goto(f"/patients/{tolvan.pk}/plan/")
    assert response.status == 200
    staff.close()

    login_as(page, tolvan.user)
    page.goto("/my-plan/access-log/")
    table = page.locator("main table")
    assert "Doris Doktor" in table.inner_text()
    assert "Vårdcentralen Tierp" in table.inner_text()


def test_the_login_pages_are_accessible(page, assert_accessible, tolvan):
    page.goto("/login/")
    assert_accessible(page)
    page.fill("input[name=email]", tolvan.user.email)
    with page.expect_navigation():
        page.locator("form[action='/login/code/'] button[type=submit]").click()
    assert page.url.endswith("/login/code/enter/")
    assert_accessible(page)


def test_the_consent_pages_are_accessible(page, login_as, assert_accessible, tolvan, network):
    login_as(page, tolvan.user)
    page.goto("/my-plan/consent/")
    assert_accessible(page)
    page.goto(f"/my-plan/consent/{network['vardcentral'].pk}/withdraw/")
    assert_accessible(page)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.url.endswith("/my-plan/consent/")
    assert_accessible(page)


def test_the_access_log_and_relatives_pages_are_accessible(
    page, login_as, assert_accessible, daughter, tolvan
):
    login_as(page, tolvan.user)
    for url in ("/my-plan/access-log/", "/my-plan/relatives/"):
        page.goto(url)
        assert_accessible(page)


def test_staff_emergency_pages_are_accessible(
    page, login_as, assert_accessible, tolvan, cardiologist, network
):
    login_as(page, cardiologist)
    # Password and code (level 2): the page explains the step up to e-legitimation.
    page.goto(f"/patients/{tolvan.pk}/emergency/")
    assert_accessible(page)
    # Level 3, as the OIDC login records it: the form itself.
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=session_cookie["value"])
    session[ASSURANCE_KEY] = {"level": LOA3, "method": "oidc:staff"}
    session.save()
    page.goto(f"/patients/{tolvan.pk}/emergency/")
    assert page.locator("textarea[name=reason]").count() == 1
    assert_accessible(page)
    page.locator("input[name=category]").first.check()
    page.fill("textarea[name=reason]", "x")
    page.locator("main form button[type=submit]").click()
    assert_accessible(page)  # with the errors shown
    with logged_in_at(LOA3):
        get_patient_for(
            cardiologist,
            tolvan.pk,
            emergency_reason=EmergencyReason(
                "acute_cannot_ask", "Akut, medvetslös, kan inte svara"
            ),
        )
    admin = make_staff("admin@example.org", network["region"], Role.ORG_ADMIN, "Ada", "Admin")
    page.context.clear_cookies()
    login_as(page, admin)
    page.goto("/access/emergency/")
    assert "Akut, medvetslös" in page.locator("main").inner_text()
    assert_accessible(page)
