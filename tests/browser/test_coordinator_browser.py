"""In the browser: a coordinator assigns a fixed care contact from the queue and the plan
shows it; the queue, discharge and figures pages pass axe-core."""

import pytest
from django.conf import settings
from personas import version
from playwright.sync_api import expect

from contracts.history import Actor
from contracts.models import FixedCareContact
from coordination import services as coordination

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
pytest_plugins = ["coordination_fixtures"]


def english(page, live_server):
    # The assertions read English msgids; the Swedish catalogue comes later.
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}]
    )
    return page


def test_coordinator_assigns_a_fixed_care_contact_from_the_queue_and_the_plan_shows_it(
    page, login_as, assert_accessible, live_server, new_plan, coordinator, doctor
):
    patient, contract = new_plan(1)
    english(page, live_server)
    login_as(page, coordinator)
    page.goto("/coordination/care-contacts/")
    expect(page.get_by_role("heading", name="Plans without a fixed care contact")).to_be_visible()
    assert_accessible(page)
    page.evaluate("window.stillTheSamePage = true")

    row = page.locator(f"#plan-{contract.pk}")
    row.get_by_label("Fixed care contact for Person1 Testsson").select_option(
        label="Doris Doktor, Vårdcentralen Tierp"
    )
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        row.get_by_role("button", name="Assign").click()
    assert answer.value.status == 200
    confirmation = page.locator(f"#plan-{contract.pk}")
    expect(confirmation).to_contain_text("Assigned")
    expect(confirmation).to_contain_text("Doris Doktor")
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in place
    assert_accessible(page)
    assert FixedCareContact.objects.get(contract=contract, ended_on__isnull=True).staff == doctor

    # The plan page (which logs the read) shows the new contact.
    page.get_by_role("link", name="Testsson, Person1").click()
    expect(page).to_have_url(f"{live_server.url}/patients/{patient.pk}/plan/")
    expect(page.locator("#care-contact")).to_contain_text("Doris Doktor")


def test_assigning_works_without_javascript(
    browser, live_server, transactional_db, new_plan, coordinator, doctor, login_as
):
    patient, contract = new_plan(2)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    english(page, live_server)
    login_as(page, coordinator)
    page.goto("/coordination/care-contacts/")
    page.locator(f"#plan-{contract.pk} select").select_option(
        label="Doris Doktor, Vårdcentralen Tierp"
    )
    with page.expect_navigation():
        page.locator(f"#plan-{contract.pk} button").click()
    expect(page.locator(".messages")).to_contain_text("Doris Doktor is now the fixed care contact")
    expect(page.locator(f"#plan-{contract.pk}")).to_have_count(0)
    context.close()


def test_queue_discharge_and_figures_pages_pass_axe(
    page,
    login_as,
    assert_accessible,
    live_server,
    plan,
    new_plan,
    coordinator,
    network,
    admit,
    ward,
    ward_nurse,
):
    new_plan(3, teams=("vardcentral", "home_health"))
    as_ward = Actor.staff(ward_nurse, ward)
    stay = admit()
    coordination.send_admission_notice(actor=as_ward, admission=stay, expected_version=1)
    coordination.mark_ready_for_discharge(actor=as_ward, admission=stay, expected_version=2)
    assert version(plan) > 0
    english(page, live_server)
    login_as(page, coordinator)
    for url in (
        "/coordination/",
        "/coordination/next-steps/",
        "/coordination/outcomes/",
        "/coordination/commitments/",
        "/coordination/reviews/",
        "/coordination/discharges/",
        "/coordination/figures/",
    ):
        page.goto(url)
        expect(page.locator("h1")).to_be_visible()
        assert_accessible(page)
    # The charts' tables, opened.
    page.locator("details summary").first.click()
    assert_accessible(page)
    # The discharge page works in place, too: acknowledge a notice.
    page.goto("/coordination/discharges/")
    with page.expect_response(lambda response: response.request.method == "POST"):
        page.get_by_role("button", name="Acknowledge").first.click()
    expect(page.get_by_text("Acknowledged", exact=True).first).to_be_visible()
    assert_accessible(page)
