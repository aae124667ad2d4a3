"""Discharge from hospital and SIP (Lag 2017:612): each step, its rule and its deadline,
through the services and as the discharge queue shows it.

The clock is frozen with time_machine. Dates are chosen around weekends, Easter,
midsommar and Christmas, and the cut-off hour a regional agreement may set.
"""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from personas import SYSTEM, make_staff

from actors.models import Role
from contracts import services
from contracts.days import RULES, STOCKHOLM
from contracts.history import Actor
from contracts.models import Event, FixedCareContact, Notification
from coordination import services as coordination
from coordination.models import Admission, DischargeNotice, SipMeeting
from patients import services as patient_services

pytestmark = pytest.mark.django_db
pytest_plugins = ["coordination_fixtures"]

DISCHARGES = "/coordination/discharges/"
SECOND = timedelta(seconds=1)


def sthlm(*args) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)


@pytest.fixture
def clock():
    with time_machine.travel(sthlm(2026, 1, 12, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def at_ward(ward_nurse, ward):
    return Actor.staff(ward_nurse, ward)


@pytest.fixture
def at_vardcentral(coordinator, network):
    return Actor.staff(coordinator, network["vardcentral"])


def fresh(admission):
    admission.refresh_from_db()
    return admission


def ready_stay(clock, admit, ready_at, ward_nurse, ward):
    """A stay admitted two days before `ready_at`, with its admission notice sent, then
    marked ready for discharge at `ready_at`."""
    actor = Actor.staff(ward_nurse, ward)
    clock.move_to(ready_at - timedelta(days=2))
    stay = admit()
    coordination.send_admission_notice(actor=actor, admission=stay, expected_version=1)
    clock.move_to(ready_at)
    coordination.mark_ready_for_discharge(
        actor=actor, admission=stay, expected_version=fresh(stay).version
    )
    return fresh(stay)


def discharges(client, user):
    """The discharge page now. Logs in afresh: the clock may have jumped past the session."""
    client.force_login(user)
    response = client.get(DISCHARGES)
    assert response.status_code == 200
    return response


def deadline_text(client, user, stay_label="SIP meeting called"):
    """The line of the discharge queue that states one deadline, in words."""
    html = discharges(client, user).content.decode()
    start = html.index(stay_label)
    return " ".join(html[start : html.index("</li>", start)].split())


# --- the admission notice: 24 real hours (law) ---------------------------------------------------


def test_admission_notice_is_due_24_hours_after_admission_even_across_summer_time(
    clock, admit, client, coordinator
):
    # Summer time starts at 02:00 on Sunday 29 March 2026: 24 hours later is 13:00.
    clock.move_to(sthlm(2026, 3, 28, 12, 0))
    stay = admit()
    assert stay.admission_notice_due_at == sthlm(2026, 3, 29, 13, 0)

    clock.move_to(sthlm(2026, 3, 29, 13, 0) - SECOND)
    assert "Overdue" not in deadline_text(client, coordinator, "Admission notice:")
    clock.move_to(sthlm(2026, 3, 29, 13, 0))
    assert "Overdue" in deadline_text(client, coordinator, "Admission notice:")


def test_an_admission_notice_sent_after_the_deadline_shows_as_late(
    clock, admit, client, coordinator, at_ward
):
    clock.move_to(sthlm(2026, 12, 23, 18, 0))
    stay = admit()
    clock.move_to(sthlm(2026, 12, 24, 18, 0))  # julafton: the law counts hours, not workdays
    coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    assert "Done late" in deadline_text(client, coordinator, "Admission notice:")


def test_an_admission_notice_goes_to_the_municipality_and_primary_care(
    clock, admit, ward, network, at_ward
):
    stay = admit()
    notices = coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    assert {n.to_organisation for n in notices} == {network["vardcentral"], network["home_health"]}
    assert all(
        n.kind == DischargeNotice.Kind.ADMISSION and n.from_organisation == ward for n in notices
    )
    with pytest.raises(ValidationError):
        coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=2)


# --- the SIP call: within 3 days of the ready notice (law; working days by agreement) ---------


@pytest.mark.parametrize(
    "ready_at, deadline",
    [
        # Friday afternoon: Monday, Tuesday and Wednesday count.
        (sthlm(2026, 11, 20, 15, 0), sthlm(2026, 11, 26)),
        # A notice on Saturday counts from Monday, the next working day.
        (sthlm(2026, 11, 21, 10, 0), sthlm(2026, 11, 27)),
        # Maundy Thursday: Good Friday to Easter Monday are closed.
        (sthlm(2026, 4, 2, 9, 0), sthlm(2026, 4, 10)),
        # The Wednesday before midsommar: the eve and the day are closed.
        (sthlm(2026, 6, 17, 9, 0), sthlm(2026, 6, 24)),
        # The day before Christmas Eve: julafton, juldagen and annandag jul are closed.
        (sthlm(2026, 12, 23, 9, 0), sthlm(2026, 12, 31)),
    ],
    ids=["weekend", "saturday", "easter", "midsommar", "christmas"],
)
def test_sip_meeting_is_due_three_working_days_after_the_ready_notice(
    clock, admit, client, ward_nurse, ward, coordinator, ready_at, deadline
):
    stay = ready_stay(clock, admit, ready_at, ward_nurse, ward)
    assert stay.sip_call_due_at == deadline

    clock.move_to(deadline - SECOND)
    assert "Overdue" not in deadline_text(client, coordinator)
    clock.move_to(deadline)
    assert "Overdue" in deadline_text(client, coordinator)


@pytest.mark.parametrize(
    "called, shown", [(-SECOND, "Done in time"), (timedelta(0), "Done late")], ids=["in", "late"]
)
def test_a_sip_meeting_called_before_the_deadline_is_in_time(
    clock,
    admit,
    client,
    tolvan,
    ward_nurse,
    ward,
    network,
    coordinator,
    at_vardcentral,
    called,
    shown,
):
    stay = ready_stay(clock, admit, sthlm(2026, 4, 2, 9, 0), ward_nurse, ward)
    clock.move_to(stay.sip_call_due_at + called)
    meeting = coordination.call_sip_meeting(
        actor=at_vardcentral,
        admission=stay,
        expected_version=stay.version,
        meeting_at=stay.sip_call_due_at + timedelta(days=1),
        participants=[ward, network["home_health"]],
        other_participants="Tolvan och dottern Tova",
    )
    assert set(meeting.participants.all()) == {ward, network["home_health"]}
    event = Event.objects.filter(kind="sip_meeting_called").get()
    assert event.after["within_deadline"] is (shown == "Done in time")
    assert shown in deadline_text(client, coordinator)


def test_a_sip_meeting_is_called_once_and_then_recorded_as_held(
    clock, admit, ward_nurse, ward, at_vardcentral
):
    stay = ready_stay(clock, admit, sthlm(2026, 6, 17, 9, 0), ward_nurse, ward)
    coordination.call_sip_meeting(
        actor=at_vardcentral,
        admission=stay,
        expected_version=stay.version,
        meeting_at=sthlm(2026, 6, 18, 13, 0),
    )
    with pytest.raises(ValidationError):
        coordination.call_sip_meeting(
            actor=at_vardcentral,
            admission=stay,
            expected_version=fresh(stay).version,
            meeting_at=sthlm(2026, 6, 18, 14, 0),
        )
    clock.move_to(sthlm(2026, 6, 18, 14, 30))
    coordination.record_sip_meeting_held(
        actor=at_vardcentral, admission=stay, expected_version=fresh(stay).version
    )
    assert SipMeeting.objects.get().held_at == sthlm(2026, 6, 18, 14, 30)


# --- the municipality's payment liability (agreement; law without one) -------------------------


def test_payment_liability_starts_after_three_working_days_by_default(
    clock, admit, client, ward_nurse, ward, municipal_coordinator
):
    stay = ready_stay(clock, admit, sthlm(2026, 12, 23, 9, 0), ward_nurse, ward)
    assert stay.payment_liability_from == sthlm(2026, 12, 31)

    clock.move_to(sthlm(2026, 12, 31) - SECOND)
    started = "Payment liability has started"
    assert started not in discharges(client, municipal_coordinator).content.decode()
    clock.move_to(sthlm(2026, 12, 31))
    assert started in discharges(client, municipal_coordinator).content.decode()


@pytest.mark.parametrize(
    "ready_at, liability_from",
    [
        (sthlm(2026, 11, 23, 11, 59), sthlm(2026, 11, 27)),
        # At the cut-off the notice counts as sent the next working day.
        (sthlm(2026, 11, 23, 12, 0), sthlm(2026, 11, 28)),
        # Maundy Thursday at noon counts from the Tuesday after Easter.
        (sthlm(2026, 4, 2, 12, 0), sthlm(2026, 4, 11)),
    ],
    ids=["before-cut-off", "at-cut-off", "easter-cut-off"],
)
def test_a_regional_agreement_can_set_a_cut_off_hour_for_payment_liability(
    clock, admit, settings, ward_nurse, ward, ready_at, liability_from
):
    settings.NARAVARD_DAY_RULES = {"payment_liability": {"cutoff_hour": 12}}
    stay = ready_stay(clock, admit, ready_at, ward_nurse, ward)
    assert stay.payment_liability_from == liability_from
    # The SIP call keeps its own rule, without a cut-off.
    assert stay.sip_call_due_at == RULES["sip_meeting_call"].deadline(ready_at)


def test_without_an_agreement_the_law_counts_calendar_days(
    clock, admit, settings, ward_nurse, ward
):
    settings.NARAVARD_DAY_RULES = {"payment_liability": {"working_days": False, "basis": "law"}}
    stay = ready_stay(clock, admit, sthlm(2026, 11, 20, 10, 0), ward_nurse, ward)
    # Friday: Saturday, Sunday and Monday are the three days; the municipality pays from Tuesday.
    assert stay.payment_liability_from == sthlm(2026, 11, 24)


def test_the_deadline_stays_as_it_was_when_the_agreement_changes_later(
    clock, admit, settings, ward_nurse, ward
):
    stay = ready_stay(clock, admit, sthlm(2026, 11, 20, 15, 0), ward_nurse, ward)
    settings.NARAVARD_DAY_RULES = {"payment_liability": {"days": 5}}
    assert fresh(stay).payment_liability_from == sthlm(2026, 11, 26)


# --- notices are acknowledged by each receiver --------------------------------------------------


def test_unacknowledged_notices_stand_in_the_receivers_queue_until_acknowledged(
    clock,
    admit,
    client,
    tolvan,
    ward_nurse,
    ward,
    network,
    coordinator,
    municipal_coordinator,
    at_ward,
):
    stay = admit()
    coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    to_vc = DischargeNotice.objects.get(to_organisation=network["vardcentral"])

    client.force_login(coordinator)
    page = client.get(DISCHARGES)
    assert [n.pk for n in page.context["notices"]] == [to_vc.pk]
    response = client.post(reverse("coordination:acknowledge_notice", args=[to_vc.pk]))
    assert response.status_code == 302
    assert list(client.get(DISCHARGES).context["notices"]) == []
    to_vc.refresh_from_db()
    assert to_vc.acknowledged_by == coordinator

    # The municipality's copy still waits for the municipality.
    client.force_login(municipal_coordinator)
    assert [n.to_organisation for n in client.get(DISCHARGES).context["notices"]] == [
        network["home_health"]
    ]


def test_acknowledging_with_htmx_swaps_the_row(clock, admit, client, network, coordinator, at_ward):
    stay = admit()
    coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    notice = DischargeNotice.objects.get(to_organisation=network["vardcentral"])
    client.force_login(coordinator)
    response = client.post(
        reverse("coordination:acknowledge_notice", args=[notice.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="notice-{notice.pk}"' in html and "Acknowledged" in html
    assert "<html" not in html


def test_only_the_receiver_can_acknowledge_a_notice(
    clock,
    admit,
    client,
    tolvan,
    ward_nurse,
    ward,
    network,
    coordinator,
    municipal_coordinator,
    at_ward,
):
    stay = admit()
    coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    to_vc = DischargeNotice.objects.get(to_organisation=network["vardcentral"])
    with pytest.raises(PermissionDenied):
        coordination.acknowledge_notice(
            actor=Actor.staff(municipal_coordinator, network["home_health"]), notice=to_vc
        )
    with pytest.raises(PermissionDenied):
        coordination.acknowledge_notice(actor=at_ward, notice=to_vc)
    # Through the page another organisation's notice does not even exist.
    client.force_login(municipal_coordinator)
    url = reverse("coordination:acknowledge_notice", args=[to_vc.pk])
    assert client.post(url).status_code == 404
    coordination.acknowledge_notice(
        actor=Actor.staff(coordinator, network["vardcentral"]), notice=to_vc
    )
    with pytest.raises(ValidationError):
        coordination.acknowledge_notice(
            actor=Actor.staff(coordinator, network["vardcentral"]), notice=to_vc
        )


# --- who may do each step, and the order of the steps ---------------------------------------


def test_only_the_hospital_unit_on_the_care_team_registers_an_admission(
    clock, tolvan, network, cardiologist, doctor, ward, ward_nurse
):
    kwargs = {
        "patient": tolvan,
        "primary_care": network["vardcentral"],
        "municipality_unit": network["home_health"],
    }
    # Cardiology is a hospital unit, but not on Tolvan's team.
    with pytest.raises(PermissionDenied):
        coordination.register_admission(
            actor=Actor.staff(cardiologist, network["cardiology"]),
            hospital_unit=network["cardiology"],
            **kwargs,
        )
    # Staff of another unit cannot act for the ward.
    with pytest.raises(PermissionDenied):
        coordination.register_admission(
            actor=Actor.staff(doctor, network["vardcentral"]), hospital_unit=ward, **kwargs
        )
    coordination.register_admission(
        actor=Actor.staff(ward_nurse, ward), hospital_unit=ward, **kwargs
    )
    with pytest.raises(ValidationError, match="already admitted"):
        coordination.register_admission(
            actor=Actor.staff(ward_nurse, ward), hospital_unit=ward, **kwargs
        )


def test_the_receivers_must_have_the_patients_consent(clock, tolvan, network, ward, ward_nurse):
    patient_services.withdraw_consent(
        actor=SYSTEM, patient=tolvan, organisation=network["home_health"]
    )
    with pytest.raises(ValidationError) as refused:
        coordination.register_admission(
            actor=Actor.staff(ward_nurse, ward),
            patient=tolvan,
            hospital_unit=ward,
            primary_care=network["vardcentral"],
            municipality_unit=network["home_health"],
        )
    assert "municipality_unit" in refused.value.error_dict


def test_ready_for_discharge_needs_the_admission_notice_first(clock, admit, at_ward):
    stay = admit()
    with pytest.raises(ValidationError, match="admission notice first"):
        coordination.mark_ready_for_discharge(actor=at_ward, admission=stay, expected_version=1)


def test_a_step_on_an_admission_that_changed_meanwhile_is_refused(clock, admit, at_ward):
    stay = admit()
    coordination.send_admission_notice(actor=at_ward, admission=stay, expected_version=1)
    with pytest.raises(coordination.AdmissionChanged) as stale:
        coordination.plan_discharge(
            actor=at_ward, admission=stay, expected_version=1, planned_on=sthlm(2026, 1, 15).date()
        )
    assert stale.value.admission.version == 2


def test_a_new_planned_discharge_date_is_a_new_notice(clock, admit, at_ward):
    stay = admit()
    for version, day in ((1, 15), (2, 16)):
        coordination.plan_discharge(
            actor=at_ward,
            admission=stay,
            expected_version=version,
            planned_on=sthlm(2026, 1, day).date(),
        )
    planned = DischargeNotice.objects.filter(kind="planned_discharge")
    assert planned.count() == 4  # two dates, two receivers each
    assert fresh(stay).planned_discharge_on == sthlm(2026, 1, 16).date()


def test_discharge_closes_the_stay_and_tells_the_receivers(
    clock, admit, client, ward_nurse, ward, network, coordinator, at_ward
):
    stay = ready_stay(clock, admit, sthlm(2026, 11, 20, 15, 0), ward_nurse, ward)
    clock.move_to(sthlm(2026, 11, 24, 10, 0))
    coordination.record_discharge(actor=at_ward, admission=stay, expected_version=stay.version)
    assert fresh(stay).discharged_at == sthlm(2026, 11, 24, 10, 0)
    assert DischargeNotice.objects.filter(kind="discharge").count() == 2
    with pytest.raises(ValidationError):
        coordination.call_sip_meeting(
            actor=Actor.staff(coordinator, network["vardcentral"]),
            admission=stay,
            expected_version=fresh(stay).version,
            meeting_at=sthlm(2026, 11, 25, 10, 0),
        )
    assert list(discharges(client, coordinator).context["stays"]) == []
    # A new stay can begin once the last one is over.
    assert admit().pk != stay.pk


def test_every_step_is_an_event_on_the_patients_timeline_not_a_plan_change(
    clock, admit, plan, tolvan, ward_nurse, ward, at_ward
):
    version = plan.version
    stay = ready_stay(clock, admit, sthlm(2026, 11, 20, 15, 0), ward_nurse, ward)
    kinds = list(
        Event.objects.filter(patient=tolvan, contract__isnull=True)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds[-5:] == [
        "admission_registered",
        "discharge_notice_sent",
        "admission_notice_sent",
        "discharge_notice_sent",
        "ready_for_discharge",
    ]
    plan.refresh_from_db()
    assert plan.version == version
    assert stay.version == 3


# --- the fixed care contact in primary care -----------------------------------------------------


def test_the_discharge_care_contact_becomes_the_plans_contact_when_it_has_none(
    clock, admit, tolvan, doctor, coordinator, at_vardcentral
):
    contract = services.create_contract(actor=at_vardcentral, patient=tolvan)
    stay = admit()
    coordination.appoint_discharge_care_contact(
        actor=at_vardcentral, admission=stay, expected_version=1, staff=doctor
    )
    assert fresh(stay).care_contact == doctor
    current = FixedCareContact.objects.get(contract=contract, ended_on__isnull=True)
    assert current.staff == doctor
    assert Notification.objects.filter(kind="care_contact_assigned").count() == 2


def test_a_plan_that_has_a_contact_keeps_it(clock, admit, plan, coordinator, at_vardcentral):
    stay = admit()
    coordination.appoint_discharge_care_contact(
        actor=at_vardcentral, admission=stay, expected_version=1, staff=coordinator
    )
    assert fresh(stay).care_contact == coordinator
    current = FixedCareContact.objects.get(contract=plan, ended_on__isnull=True)
    assert current.staff.email == "doktor@example.org"


def test_the_discharge_contact_must_work_in_primary_care(clock, admit, nurse, at_vardcentral):
    stay = admit()
    with pytest.raises(ValidationError):
        coordination.appoint_discharge_care_contact(
            actor=at_vardcentral, admission=stay, expected_version=1, staff=nurse
        )


# --- the discharge page ---------------------------------------------------------------------


def test_the_discharge_page_runs_the_primary_care_steps(
    clock, admit, client, ward_nurse, ward, network, coordinator, doctor
):
    stay = ready_stay(clock, admit, sthlm(2026, 4, 2, 9, 0), ward_nurse, ward)
    client.force_login(coordinator)
    page = client.get(DISCHARGES)
    row = page.context["stays"][0]
    assert set(row.forms) == {"appoint", "sip"}
    membership = doctor.memberships.get()
    client.post(
        reverse("coordination:appoint_discharge_contact", args=[stay.pk]),
        {"version": stay.version, "membership": membership.pk},
    )
    client.post(
        reverse("coordination:call_sip_meeting", args=[stay.pk]),
        {"version": stay.version + 1, "meeting_at": "2026-04-08T10:00"},
    )
    stay = fresh(stay)
    assert stay.care_contact == doctor
    assert stay.sip.meeting_at == sthlm(2026, 4, 8, 10, 0)
    assert set(stay.sip.participants.all()) == {
        ward,
        network["home_health"],
        network["vardcentral"],
    }
    assert set(client.get(DISCHARGES).context["stays"][0].forms) == {"held"}


def test_a_stale_form_on_the_discharge_page_is_refused_with_a_message(
    clock, admit, client, coordinator, doctor
):
    stay = admit()
    client.force_login(coordinator)
    response = client.post(
        reverse("coordination:appoint_discharge_contact", args=[stay.pk]),
        {"version": 7, "membership": doctor.memberships.get().pk},
        follow=True,
    )
    assert "Someone changed this stay" in response.content.decode()
    assert fresh(stay).care_contact is None


def test_the_hospital_side_sees_the_stay_but_not_the_primary_care_controls(
    clock, admit, client, ward
):
    ward_coordinator = make_staff("avd30-samordnare@example.org", ward, Role.COORDINATOR)
    stay = admit()
    client.force_login(ward_coordinator)
    row = client.get(DISCHARGES).context["stays"][0]
    assert row.pk == stay.pk and row.forms == {}
    url = reverse("coordination:call_sip_meeting", args=[stay.pk])
    assert client.post(url, {"version": 1, "meeting_at": "2026-01-20T10:00"}).status_code == 404
    assert not Admission.objects.filter(sip__isnull=False).exists()
