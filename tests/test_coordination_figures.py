"""Follow-up figures: each figure over months and per organisation, the SVG charts and their
tables, the CSV export, the query count; and the patient's "I know where to turn" survey."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, version

from actors.models import User
from contracts import services
from contracts.days import STOCKHOLM
from contracts.history import Actor
from contracts.models import Event, NextStep
from coordination import figures, queues
from coordination import services as coordination
from coordination.models import SurveyAnswer
from patients import services as patient_services
from patients.models import Relative

pytestmark = pytest.mark.django_db
pytest_plugins = ["coordination_fixtures"]

FIGURES = "/coordination/figures/"


def sthlm(*args) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


@pytest.fixture
def clock():
    with time_machine.travel(sthlm(2026, 3, 10, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def history(clock, new_plan, network, doctor, tolvan, ward, ward_nurse, admit):
    """Three plans at the vårdcentral with a known past, a survey answer and one stay.

    P1 starts 10 March, gets a contact on 14 March (4 days) and a next step on 20 May
    for 1 June, answered 4 and 2 ("I know where to turn"); P2 starts 1 April, gets a
    contact on 3 April (2 days) and a commitment due 10 May, done on 1 June; P3 starts
    5 May and has no contact. Tolvan is ready for discharge on Wednesday 10 June and
    his SIP meeting is called on Friday 12 June. "Now" is 15 June, noon."""
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    p1, plan1 = new_plan(1)
    clock.move_to(sthlm(2026, 3, 14, 9, 0))
    services.assign_fixed_care_contact(
        actor=as_doctor,
        contract=plan1,
        expected_version=version(plan1),
        staff=doctor,
        organisation=network["vardcentral"],
    )
    clock.move_to(sthlm(2026, 4, 1, 9, 0))
    _p2, plan2 = new_plan(2)
    clock.move_to(sthlm(2026, 4, 3, 9, 0))
    services.assign_fixed_care_contact(
        actor=as_doctor,
        contract=plan2,
        expected_version=version(plan2),
        staff=doctor,
        organisation=network["vardcentral"],
    )
    clock.move_to(sthlm(2026, 4, 5, 9, 0))
    commitment = services.add_commitment(
        actor=as_doctor,
        contract=plan2,
        expected_version=version(plan2),
        what="Boka fotvård",
        owner_kind="organisation",
        owner_organisation=network["vardcentral"],
        due_date=date(2026, 5, 10),
    )
    clock.move_to(sthlm(2026, 5, 5, 9, 0))
    new_plan(3)
    clock.move_to(sthlm(2026, 5, 20, 9, 0))
    step = services.agree_next_step(
        actor=as_doctor,
        contract=plan1,
        expected_version=version(plan1),
        scheduled_at=sthlm(2026, 6, 20, 10, 0),
        channel="phone",
        purpose="Uppföljning",
    )
    clock.move_to(sthlm(2026, 6, 1, 9, 0))
    services.complete_commitment(
        actor=as_doctor, commitment=commitment, expected_version=version(plan2)
    )
    # An earlier step of P1, already over, carries the survey answers.
    past = NextStep.objects.create(
        contract=plan1,
        scheduled_at=sthlm(2026, 5, 30, 10, 0),
        channel="visit",
        purpose="Besök",
        organisation=network["vardcentral"],
        status=NextStep.Status.DONE,
        outcome="Bra",
    )
    p1.user = User.objects.create_user(email="person1@example.org")
    p1.save(update_fields=["user"])
    clock.move_to(sthlm(2026, 6, 2, 9, 0))
    coordination.answer_survey(actor=Actor.patient(p1.user), step=past, answer=2)
    coordination.answer_survey(actor=Actor.patient(p1.user), step=past, answer=4)
    other = NextStep.objects.create(
        contract=plan1,
        scheduled_at=sthlm(2026, 5, 31, 10, 0),
        channel="phone",
        purpose="Samtal",
        organisation=network["vardcentral"],
        status=NextStep.Status.DONE,
        outcome="Bra",
    )
    coordination.answer_survey(actor=Actor.patient(p1.user), step=other, answer=2)
    # Tolvan's stay.
    as_ward = Actor.staff(ward_nurse, ward)
    clock.move_to(sthlm(2026, 6, 8, 9, 0))
    stay = admit()
    coordination.send_admission_notice(actor=as_ward, admission=stay, expected_version=1)
    clock.move_to(sthlm(2026, 6, 10, 9, 0))
    coordination.mark_ready_for_discharge(actor=as_ward, admission=stay, expected_version=2)
    clock.move_to(sthlm(2026, 6, 12, 9, 0))
    coordination.call_sip_meeting(
        actor=as_doctor, admission=stay, expected_version=3, meeting_at=sthlm(2026, 6, 16, 9, 0)
    )
    clock.move_to(sthlm(2026, 6, 15, 12, 0))
    return {"step": step}


def scope_for(user, **filters):
    return queues.make_scope(user, **filters)


def test_monthly_figures_follow_the_plans_history(history, coordinator):
    rows = {row.key: row for row in figures.monthly(scope_for(coordinator))}
    assert list(rows)[0] == "2025-07" and list(rows)[-1] == "2026-06"
    march, april, may, june = (rows[m] for m in ("2026-03", "2026-04", "2026-05", "2026-06"))
    assert (march.active, march.with_contact, march.contact_share) == (1, 1, 100.0)
    assert (march.median_days, april.median_days, may.median_days) == (4.0, 2.0, None)
    assert (may.active, may.with_contact, may.contact_share) == (3, 2, 66.7)
    assert (april.future_step_share, may.future_step_share, june.future_step_share) == (
        0.0,
        33.3,
        33.3,
    )
    assert (april.overdue_commitments, may.overdue_commitments, june.overdue_commitments) == (
        0,
        1,
        0,
    )
    assert (june.sip_settled, june.sip_in_time, june.sip_share) == (1, 1, 100.0)
    assert (june.knows_where_to_turn, june.answers) == (3.0, 2)
    assert rows["2026-02"].contact_share is None


def test_figures_per_organisation(history, coordinator, network):
    rows = {row.label: row for row in figures.by_organisation(scope_for(coordinator))}
    vc = rows["Vårdcentralen Tierp"]
    assert (vc.active, vc.with_contact, vc.median_days) == (3, 2, 3.0)
    assert (vc.with_future_step, vc.overdue_commitments) == (1, 0)
    assert (vc.sip_settled, vc.sip_in_time, vc.knows_where_to_turn) == (1, 1, 3.0)
    # Home health is on none of these plans' teams.
    assert rows["Hemsjukvården Tierp"].active == 0


def test_an_organisation_counts_the_plans_it_has_a_care_relationship_with(
    history, coordinator, network, new_plan
):
    """On the team and with consent, as patients.access defines it: a unit that stays on
    the team after the patient withdrew its consent no longer counts the plan."""
    patient, _plan = new_plan(4, teams=("vardcentral", "home_health"))

    def home_health_active():
        rows = {row.label: row for row in figures.by_organisation(scope_for(coordinator))}
        return rows["Hemsjukvården Tierp"].active

    assert home_health_active() == 1
    patient_services.withdraw_consent(
        actor=SYSTEM, patient=patient, organisation=network["home_health"]
    )
    assert patient.care_team.filter(organisation=network["home_health"], active=True).exists()
    assert home_health_active() == 0


def test_figures_count_only_patients_the_coordinator_may_see(history, network):
    from personas import make_staff

    outsider = make_staff("kard-samordnare@example.org", network["cardiology"], "coordinator")
    rows = figures.monthly(scope_for(outsider))
    assert all(row.active == 0 and row.answers == 0 for row in rows)


def test_the_filter_narrows_the_figures(history, coordinator, network):
    scope = scope_for(coordinator, organisation_id=network["home_health"].pk)
    assert figures.monthly(scope)[-1].active == 0
    assert [row.label for row in figures.by_organisation(scope)] == ["Hemsjukvården Tierp"]


def test_the_figures_page_draws_accessible_svg_charts_with_tables(client, history, coordinator):
    client.force_login(coordinator)
    response = client.get(FIGURES)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('role="img"') == len(response.context["charts"]) == 8
    assert 'aria-labelledby="chart-contact-title chart-contact-summary"' in html
    assert html.count("<details>") == 8  # every chart's numbers as a table
    assert "<script>" not in html and "style=" not in html  # the CSP allows neither
    # SVG coordinates use a decimal point whatever the language.
    contact = response.context["charts"][0]
    assert contact.bars[-1].text.startswith("66")
    assert f'height="{contact.bars[-1].height}"' in html


def test_the_figures_export_as_csv(client, history, coordinator):
    client.force_login(coordinator)
    response = client.get("/coordination/figures.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("period_or_organisation,kind,active_plans")
    assert "2026-05,month,3,66.7,,33.3,1,,0," in lines
    assert any(line.startswith("Vårdcentralen Tierp,organisation,3,66.7,3.0") for line in lines)


def test_the_figures_page_uses_a_fixed_number_of_queries(client, history, coordinator, new_plan):
    client.force_login(coordinator)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(FIGURES).status_code == 200
        return len(captured)

    few = count()
    for n in range(10, 20):
        new_plan(n, teams=("vardcentral", "home_health"))
    assert count() == few


def test_a_csv_cell_never_starts_a_formula():
    row = figures.Row("=HYPERLINK()", "x", 0, 0, None, 0, 0, 0, 0, None)
    assert "\n'=HYPERLINK()," in figures.as_csv([], [row])


# --- the survey after a next step -----------------------------------------------------------


@pytest.fixture
def past_step(plan, network):
    """Tolvan's next step, moved into the past as if it had taken place."""
    step = plan.next_steps.get(status="planned")
    NextStep.objects.filter(pk=step.pk).update(scheduled_at=timezone.now() - timedelta(hours=3))
    step.refresh_from_db()
    return step


def survey_url(step):
    return reverse("coordination:survey", args=[step.pk])


def test_the_patient_answers_the_survey_after_a_next_step(client, tolvan, past_step):
    assert survey_url(past_step) == f"/my-plan/survey/{past_step.pk}/"
    client.force_login(tolvan.user)
    page = client.get(survey_url(past_step))
    assert page.status_code == 200
    assert "I know where to turn" in page.content.decode()
    response = client.post(survey_url(past_step), {"answer": "4"})
    assert response.status_code == 302 and response["Location"] == "/my-plan/"
    answer = SurveyAnswer.objects.get()
    assert (answer.next_step, answer.patient, answer.answer) == (past_step, tolvan, 4)
    event = Event.objects.get(kind="survey_answered")
    assert event.contract is None  # not a change to the plan
    client.post(survey_url(past_step), {"answer": "5"})
    assert SurveyAnswer.objects.get().answer == 5


def test_a_proxy_who_may_write_answers_for_the_patient(client, daughter, past_step):
    client.force_login(daughter.user)
    response = client.post(survey_url(past_step), {"answer": "3"})
    assert response["Location"] == f"/my-plan/{past_step.contract.patient_id}/"
    Relative.objects.filter(pk=daughter.pk).update(access=Relative.Access.READ)
    assert client.get(survey_url(past_step)).status_code == 404


@pytest.mark.parametrize("answer", ["0", "6", "", "fyra"])
def test_the_answer_is_a_number_from_1_to_5(client, tolvan, past_step, answer):
    client.force_login(tolvan.user)
    assert client.post(survey_url(past_step), {"answer": answer}).status_code == 400
    assert not SurveyAnswer.objects.exists()


def test_a_step_not_yet_taken_place_cannot_be_answered(client, tolvan, plan):
    step = plan.next_steps.get(status="planned")
    client.force_login(tolvan.user)
    assert "once the step has taken place" in client.get(survey_url(step)).content.decode()
    assert client.post(survey_url(step), {"answer": "4"}).status_code == 400
    assert not SurveyAnswer.objects.exists()


def test_staff_and_strangers_do_not_answer_for_the_patient(
    client, doctor, coordinator, past_step, new_plan
):
    for user in (doctor, coordinator):
        client.force_login(user)
        assert client.get(survey_url(past_step)).status_code == 404
    stranger = User.objects.create_user(email="obehorig@example.org")
    client.force_login(stranger)
    assert client.post(survey_url(past_step), {"answer": "4"}).status_code == 404
    assert client.get("/my-plan/survey/999999/").status_code == 404
    with pytest.raises(Exception, match="Only the patient"):
        coordination.answer_survey(actor=SYSTEM, step=past_step, answer=3)
