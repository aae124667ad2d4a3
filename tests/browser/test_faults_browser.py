"""In the browser: a save while someone else holds the plan tells the patient in the page's
alert region and keeps what they wrote; the page an outage answers with is accessible."""

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from naravard import localservices

from .test_plan_browser import english, post_answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def hold(plan) -> psycopg.Connection:
    """Another transaction holding the plan's row, as a long save would."""
    holder = psycopg.connect(localservices.database_url(connection.settings_dict))
    holder.execute("SELECT 1 FROM contracts_contract WHERE id = %s FOR UPDATE", [plan.pk])
    return holder


def test_a_save_while_the_plan_is_held_is_told_and_the_text_kept(
    page, login_as, assert_accessible, plan, tolvan, live_server
):
    english(page, live_server)
    login_as(page, tolvan.user)
    page.goto("/my-plan/")
    page.get_by_role("link", name="Edit what matters").click()
    box = page.get_by_label("What matters to me, in my own words")
    box.fill("Att simma igen")

    holder = hold(plan)
    try:
        with post_answer(page) as answer:
            page.locator("#what-matters").get_by_role("button", name="Save").click()
        assert answer.value.status == 503
        alert = page.locator("#site-alert").get_by_role("alert")
        expect(alert).to_contain_text("Someone is saving this plan right now")
        expect(alert).to_be_focused()
        expect(box).to_have_value("Att simma igen")  # nothing the patient wrote is lost
        assert_accessible(page)
    finally:
        holder.rollback()
        holder.close()

    with post_answer(page) as answer:
        page.locator("#what-matters").get_by_role("button", name="Save").click()
    assert answer.value.status == 200
    expect(page.locator("#what-matters")).to_contain_text("Att simma igen")


def test_the_page_an_outage_answers_with_is_accessible(
    page, assert_accessible, plan, tolvan, live_server
):
    client = Client(raise_request_exception=False, headers={"accept-language": "sv"})
    client.force_login(tolvan.user)
    holder = hold(plan)
    try:
        answer = client.post(
            reverse("contracts:what_matters", args=[plan.patient_id]),
            {"version": plan.version, "what_matters": "Simma"},
        )
    finally:
        holder.rollback()
        holder.close()
    assert answer.status_code == 503
    # That very page, as the browser gets it from the site (its stylesheet included).
    page.route(
        "**/outage",
        lambda route: route.fulfill(status=503, body=answer.content, content_type="text/html"),
    )
    page.goto("/outage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Någon sparar den här planen just nu")
    expect(page.get_by_role("link", name="Försök igen")).to_be_visible()
    assert_accessible(page)
