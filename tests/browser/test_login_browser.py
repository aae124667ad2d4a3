"""In the browser: a staff member sets up the authenticator app and logs in with password
and code; the pages pass axe, in English and in Swedish (the default)."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from second_factor import code_now, emailed_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _submit(page, form_selector):
    with page.expect_navigation():
        page.locator(f"{form_selector} button[type=submit]").click()


def test_staff_sets_up_the_app_and_logs_in_with_password_and_code(page, assert_accessible, doctor):
    page.goto("/login/")
    page.fill("input[name=username]", doctor.email)
    page.fill("input[name=password]", "pw")
    _submit(page, "form:has(input[name=password])")
    assert page.url.endswith("/login/second-factor/")
    assert page.get_by_role("img", name=re.compile("QR code")).is_visible()
    assert_accessible(page)

    device = TOTPDevice.objects.get(user=doctor)
    # The app's code with the code e-mailed to the staff member (a password alone
    # cannot set up an app).
    page.fill("input[name=email_code]", emailed_code(doctor))
    page.fill("input[name=code]", "000000" if code_now(device) != "000000" else "111111")
    _submit(page, "form:has(input[name=code])")
    assert page.locator("#id_code_error, .errorlist").first.is_visible()
    assert_accessible(page)  # the page with its error

    # The e-mailed code was right: only the app's code is asked again.
    assert page.locator("input[name=email_code]").count() == 0
    page.fill("input[name=code]", code_now(device))
    _submit(page, "form:has(input[name=code])")
    assert "/login/" not in page.url


def test_the_second_factor_page_is_accessible_in_swedish(
    browser, live_server, assert_accessible, doctor
):
    device = TOTPDevice.objects.create(user=doctor, name="Test app", confirmed=True)
    context = browser.new_context(base_url=live_server.url, locale="sv-SE")
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", doctor.email)
    page.fill("input[name=password]", "pw")
    _submit(page, "form:has(input[name=password])")
    assert page.url.endswith("/login/second-factor/")
    assert page.locator("html").get_attribute("lang") == "sv"
    assert_accessible(page)
    page.fill("input[name=code]", code_now(device))
    _submit(page, "form:has(input[name=code])")
    assert "/login/" not in page.url
    context.close()


def test_a_new_staff_member_sets_up_the_app_with_the_emailed_code_and_reaches_the_worklist(
    page, login_as, doctor
):
    login_as(page, doctor, how="enrol")
    page.goto("/patients/")
    assert "/login/" not in page.url
    assert TOTPDevice.objects.get(user=doctor).confirmed
