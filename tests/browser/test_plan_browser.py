"""In the browser: the patient reads and changes the plan in place, staff update theirs,
and a change made in another session between loading and saving shows as a conflict."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from contracts.models import Commitment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The assertions read English msgids; the Swedish catalogue is someone else's work.
# The language cookie wins over the browser's sv-SE Accept-Language on every request.
def english(page, live_server):
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}]
    )
    return page


def post_answer(page):
    """Wait for the answer to the htmx post the next click sends."""
    return page.expect_response(lambda response: response.request.method == "POST")


def test_patient_reads_edits_ticks_off_and_agrees(
    page, login_as, assert_accessible, plan, tolvan, live_server
):
    english(page, live_server)
    login_as(page, tolvan.user)
    page.goto("/my-plan/")
    main = page.locator("main")
    for heading in ("What matters to me", "My next step", "Who does what", "My fixed care contact"):
        expect(main.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator("#next-step")).to_contain_text("Följa upp vikt och andning")
    expect(page.locator("#care-contact")).to_contain_text("Doris Doktor")
    assert_accessible(page)
    # A marker that a full page load would wipe: the edits below happen in place.
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("link", name="Edit what matters").click()
    box = page.get_by_label("What matters to me, in my own words")
    expect(box).to_be_focused()
    box.fill("Att orka gå till affären och träffa barnbarnen")
    assert_accessible(page)
    with post_answer(page):
        page.locator("#what-matters").get_by_role("button", name="Save").click()
    expect(page.locator("#what-matters")).to_contain_text("träffa barnbarnen")
    expect(page.locator("#history")).to_contain_text("You changed what matters")

    with post_answer(page):
        page.get_by_role("button", name="Mark as done: Väga mig varje morgon").click()
    expect(page.get_by_role("button", name="Not done: Väga mig varje morgon")).to_be_visible()

    # The agree form was rendered before the two saves; it must now name their version.
    with post_answer(page) as answer:
        page.get_by_role("button", name="I agree to this plan").click()
    assert answer.value.status == 200
    expect(page.locator("#changes")).to_contain_text("You agreed to this plan")
    assert page.evaluate("window.stillTheSamePage") is True
    assert_accessible(page)

    plan.refresh_from_db()
    assert plan.what_matters == "Att orka gå till affären och träffa barnbarnen"
    assert plan.agreed_version == plan.version
    assert plan.commitments.get(owner_kind="patient").status == Commitment.Status.DONE


def test_home_care_nurse_updates_her_organisations_commitment(
    page, login_as, assert_accessible, plan, nurse, live_server
):
    english(page, live_server)
    login_as(page, nurse)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/patients/$"))
    assert_accessible(page)
    page.get_by_role("link", name="Tolvansson, Tolvan").click()
    expect(page.get_by_role("heading", name="Plan for Tolvan Tolvansson")).to_be_visible()

    hers = plan.commitments.get(owner_staff=nurse)
    item = page.locator(f"#commitment-{hers.pk}")
    item.get_by_role("link", name=re.compile("Change or hand over")).click()
    item.get_by_label("What", exact=True).fill("Hjälpa till med strumporna morgon och kväll")
    assert_accessible(page)
    with post_answer(page):
        item.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#commitments")).to_contain_text("morgon och kväll")
    # Nothing to change on the vårdcentral's commitment.
    theirs = plan.commitments.get(owner_kind="organisation")
    expect(page.locator(f"#commitment-{theirs.pk} form")).to_have_count(0)

    hers.refresh_from_db()
    assert hers.what == "Hjälpa till med strumporna morgon och kväll"


def test_a_change_from_another_session_shows_as_a_conflict(
    page, login_as, assert_accessible, plan, tolvan, doctor, browser, live_server
):
    english(page, live_server)
    login_as(page, tolvan.user)
    page.goto("/my-plan/")
    page.get_by_role("link", name="Edit what matters").click()
    page.get_by_label("What matters to me, in my own words").fill("Min egen text")

    # Meanwhile the doctor changes the same plan in a browser of their own.
    other = browser.new_context(base_url=live_server.url)
    doctor_page = english(other.new_page(), live_server)
    login_as(doctor_page, doctor)
    doctor_page.goto(f"/patients/{tolvan.pk}/plan/")
    doctor_page.get_by_role("link", name="Edit what matters").click()
    doctor_page.get_by_label("What matters to the patient, in their own words").fill(
        "Läkarens text"
    )
    with post_answer(doctor_page):
        doctor_page.locator("#what-matters").get_by_role("button", name="Save").click()
    other.close()

    with post_answer(page) as answer:
        page.locator("#what-matters").get_by_role("button", name="Save").click()
    assert answer.value.status == 409
    section = page.locator("#what-matters")
    expect(section.get_by_role("alert")).to_contain_text(
        "Someone else changed this while you were writing."
    )
    expect(section.locator(".what-matters-text")).to_contain_text("Läkarens text")
    expect(page.get_by_label("What matters to me, in my own words")).to_have_value("Min egen text")
    assert_accessible(page)
    plan.refresh_from_db()
    assert plan.what_matters == "Läkarens text"

    # Saving again, now knowingly over the newer text, goes through.
    with post_answer(page) as answer:
        section.get_by_role("button", name="Save").click()
    assert answer.value.status == 200
    expect(page.locator("#what-matters")).to_contain_text("Min egen text")


def test_staff_plan_and_history_pages_are_accessible(
    page, login_as, assert_accessible, plan, doctor, live_server
):
    english(page, live_server)
    login_as(page, doctor)
    page.goto(f"/patients/{plan.patient_id}/plan/")
    assert_accessible(page)
    # The forms are fetched on demand; each is checked open.
    ours = plan.commitments.get(owner_kind="organisation")
    for edit in (f"commitment-{ours.pk}", "new-commitment", "next-step", "outcome"):
        page.goto(f"/patients/{plan.patient_id}/plan/?edit={edit}")
        assert page.locator("#main form.stack").count() == 1
        assert_accessible(page)
    page.goto(f"/plan/{plan.patient_id}/history/")
    assert_accessible(page)


def test_staff_add_a_commitment_and_agree_a_next_step_in_place(
    page, login_as, assert_accessible, plan, doctor, live_server
):
    english(page, live_server)
    login_as(page, doctor)
    page.goto(f"/patients/{plan.patient_id}/plan/")
    page.evaluate("window.stillTheSamePage = true")

    # The form, with its owner picker, comes when asked for, focused on its first field.
    page.get_by_role("link", name="Add a commitment").click()
    form = page.locator("#new-commitment-form form")
    expect(form.get_by_label("What", exact=True)).to_be_focused()
    form.get_by_label("What", exact=True).fill("Boka tid för blodprov")
    form.get_by_label("Who does it").select_option(label="Hemsjukvården Tierp")
    assert_accessible(page)
    with post_answer(page) as answer:
        form.get_by_role("button", name="Add").click()
    assert answer.value.status == 200
    expect(page.locator("#commitments")).to_contain_text("Boka tid för blodprov")
    expect(page.locator("#new-commitment-form form")).to_have_count(0)

    page.get_by_role("link", name="Change the next step").click()
    step = page.locator("#next-step-form form")
    expect(step.get_by_label("Date and time")).to_be_focused()
    step.get_by_role("link", name="Close without saving").click()
    expect(page.locator("#next-step-form form")).to_have_count(0)
    expect(page.get_by_role("link", name="Change the next step")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    assert plan.commitments.filter(what="Boka tid för blodprov").count() == 1
