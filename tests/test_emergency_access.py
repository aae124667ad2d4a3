"""Emergency access (nödåtkomst) that cannot be abused, the assurance level in the access
log, refused reads logged, and the admin's lists logged (issue 15)."""

import re
from datetime import datetime

import pytest
import time_machine
from api_fixtures import Api, issue_token
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from personas import make_staff

from actors.assurance import LOA2, LOA3
from actors.assurance import SESSION_KEY as ASSURANCE_KEY
from actors.models import Role, User
from contracts.days import STOCKHOLM
from contracts.history import Actor
from contracts.models import Event, FollowUpTask, Notification
from patients import services as patient_services
from patients.access import (
    EMERGENCY_SESSION_KEY,
    EmergencyReason,
    NoAccess,
    get_patient_for,
    logged_in_at,
)
from patients.models import AccessLogEntry, EmergencyReview
from reminders import messages, sweeps

pytest_plugins = ["api_fixtures"]
pytestmark = pytest.mark.django_db

REASON = {
    "category": "acute_cannot_ask",
    "reason": "Medvetslös på akuten efter fall, kan inte tillfrågas",
}
MISSING = 987654


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


def logged_in(client, user, level=LOA3):
    client.force_login(user)
    if level is not None:
        session = client.session
        session[ASSURANCE_KEY] = {"level": level, "method": "oidc:staff"}
        session.save()
    return client


def form_url(patient_id):
    return reverse("access:emergency", args=[patient_id])


def open_with_emergency(client, patient_id):
    response = client.post(form_url(patient_id), REASON)
    assert response.status_code == 302, response.content
    return client.get(reverse("contracts:staff_plan", args=[patient_id]))


def granted(client) -> dict:
    return client.session.get(EMERGENCY_SESSION_KEY, {})


@pytest.fixture
def greta(network):
    """A second patient, of the vårdcentral only."""
    patient = patient_services.register_patient(
        actor=Actor.system("tests"),
        identity_number="19100101-0105",
        given_name="Greta",
        family_name="Prov",
    )
    patient_services.add_to_care_team(
        actor=Actor.system("tests"),
        patient=patient,
        organisation=network["vardcentral"],
        consent=True,
    )
    return patient


# --- who may, and with what reason -----------------------------------------------------------


def test_home_care_staff_cannot_use_emergency_access(client, plan, network):
    helper = make_staff("hemtjanst@example.org", network["cardiology"], Role.HOME_CARE, "Hem")
    logged_in(client, helper)
    assert client.get(form_url(plan.patient_id)).status_code == 403
    response = client.post(form_url(plan.patient_id), REASON)
    assert response.status_code == 403
    assert "Only clinicians and coordinators" in response.content.decode()
    assert granted(client) == {}
    # Not through the access function either, whatever reason it is handed.
    with logged_in_at(LOA3), pytest.raises(NoAccess):
        get_patient_for(
            helper,
            plan.patient_id,
            emergency_reason=EmergencyReason(REASON["category"], REASON["reason"]),
        )
    assert not AccessLogEntry.objects.filter(user=helper, emergency=True).exists()


@pytest.mark.parametrize("reason", [".", "x", "akut", "akut akut akut", "1234567890 1234567890"])
def test_a_reason_of_less_than_a_sentence_is_refused(client, plan, cardiologist, reason):
    logged_in(client, cardiologist)
    response = client.post(form_url(plan.patient_id), {**REASON, "reason": reason})
    assert response.status_code == 400
    assert "at least a sentence" in response.content.decode()
    assert granted(client) == {}
    assert not AccessLogEntry.objects.filter(emergency=True).exists()


def test_a_reason_needs_a_kind_of_emergency(client, plan, cardiologist):
    logged_in(client, cardiologist)
    response = client.post(form_url(plan.patient_id), {"reason": REASON["reason"]})
    assert response.status_code == 400
    assert "Choose what kind of emergency" in response.content.decode()


def test_missing_and_existing_ids_get_the_same_answer_until_a_valid_reason(
    client, plan, cardiologist
):
    logged_in(client, cardiologist)
    existing, missing = plan.patient_id, MISSING

    def page(patient_id, method="get", data=None):
        response = getattr(client, method)(form_url(patient_id), data or {})
        body = response.content.decode().replace(form_url(patient_id), "URL")
        # The CSRF token is masked afresh on every page.
        return response.status_code, re.sub(r'value="[^"]{64}"', "", body)

    assert page(existing) == page(missing)
    assert page(existing)[0] == 200
    bad = {**REASON, "reason": "."}
    assert page(existing, "post", bad) == page(missing, "post", bad)
    # A valid reason sends both to the plan page; only reading it tells them apart, and
    # that read of an existing patient is logged (tests/test_security_review_15.py).
    assert client.post(form_url(missing), REASON)["Location"] == f"/patients/{missing}/plan/"
    assert client.post(form_url(existing), REASON)["Location"] == f"/patients/{existing}/plan/"


def test_emergency_access_needs_a_login_with_e_legitimation(client, plan, cardiologist):
    logged_in(client, cardiologist, level=LOA2)
    response = client.get(form_url(plan.patient_id))
    assert response.status_code == 403
    html = response.content.decode()
    assert "needs a login with e-legitimation" in html
    try:
        step_up = reverse("actors:oidc_start", args=["staff"])
    except NoReverseMatch:
        step_up = None
    if step_up:
        assert f'href="{step_up}?next=' in html
    assert client.post(form_url(plan.patient_id), REASON).status_code == 403
    assert granted(client) == {}
    # A grant from a stronger login does not open the plan in a weaker session.
    with logged_in_at(LOA2), pytest.raises(NoAccess):
        get_patient_for(
            cardiologist,
            plan.patient_id,
            emergency_reason=EmergencyReason(REASON["category"], REASON["reason"]),
        )


def test_emergency_access_has_a_daily_limit(client, plan, greta, cardiologist, settings):
    settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT = 1
    logged_in(client, cardiologist)
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM)
    with time_machine.travel(monday, tick=False):
        assert open_with_emergency(client, plan.patient_id).status_code == 200
        # The same patient again the same day does not count twice.
        assert open_with_emergency(client, plan.patient_id).status_code == 200
        refused = client.get(form_url(greta.pk))
        assert refused.status_code == 403
        assert "the most allowed in one day" in refused.content.decode()
        assert client.post(form_url(greta.pk), REASON).status_code == 403
    # A new Stockholm day, a new allowance.
    with time_machine.travel(datetime(2026, 3, 3, 0, 5, tzinfo=STOCKHOLM), tick=False):
        logged_in(client, cardiologist)
        assert open_with_emergency(client, greta.pk).status_code == 200


def test_the_limit_holds_for_grants_made_before_it_was_reached(
    client, plan, greta, cardiologist, settings
):
    settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT = 1
    logged_in(client, cardiologist)
    for patient_id in (plan.patient_id, greta.pk):
        assert client.post(form_url(patient_id), REASON).status_code == 302
    assert client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).status_code == 200
    assert client.get(reverse("contracts:staff_plan", args=[greta.pk])).status_code == 404


# --- review, follow-up and the patient's notice ---------------------------------------------


def test_the_fixed_care_contacts_organisation_reviews_emergency_reads(
    client, plan, cardiologist, network
):
    logged_in(client, cardiologist)
    open_with_emergency(client, plan.patient_id)
    entry = AccessLogEntry.objects.get(user=cardiologist, emergency=True)
    # Tolvan's fixed care contact works at the vårdcentral, not under cardiology.
    vc_admin = make_staff("vcadmin@example.org", network["vardcentral"], Role.ORG_ADMIN, "Vera")
    stranger = make_staff("kommun@example.org", network["tierp"], Role.ORG_ADMIN, "Kim")
    logged_in(client, stranger)
    assert "Kalle" not in client.get("/access/emergency/").content.decode()
    logged_in(client, vc_admin)
    html = client.get("/access/emergency/").content.decode()
    assert "Kalle" in html and REASON["reason"] in html
    assert "Acute care, and the patient cannot be asked" in html
    url = reverse("access:emergency_review", args=[entry.pk])
    client.post(url, {f"r{entry.pk}-verdict": "not_justified", f"r{entry.pk}-comment": ""})
    assert not EmergencyReview.objects.exists()  # not justified needs a why
    client.post(url, {f"r{entry.pk}-verdict": "justified", f"r{entry.pk}-comment": "Rätt bedömt"})
    review = EmergencyReview.objects.get()
    assert (review.entry, review.reviewer, review.verdict) == (entry, vc_admin, "justified")
    event = Event.objects.get(kind=Event.Kind.EMERGENCY_ACCESS_REVIEWED)
    assert (event.patient_id, event.actor, event.after["verdict"]) == (
        plan.patient_id,
        vc_admin,
        "justified",
    )
    # Given once.
    client.post(url, {f"r{entry.pk}-verdict": "not_justified", f"r{entry.pk}-comment": "Nej"})
    assert EmergencyReview.objects.count() == 1
    assert "Rätt bedömt" in client.get("/access/emergency/").content.decode()


def test_an_unreviewed_emergency_read_becomes_one_follow_up_task_after_5_working_days(
    client, plan, cardiologist
):
    logged_in(client, cardiologist)
    # Monday 2 March 2026; five working days later is Monday 9 March.
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=STOCKHOLM), tick=False):
        open_with_emergency(client, plan.patient_id)
    entry = AccessLogEntry.objects.get(user=cardiologist, emergency=True)
    only = ["emergency_reads_unreviewed"]
    tasks = FollowUpTask.objects.filter(kind=FollowUpTask.Kind.EMERGENCY_UNREVIEWED)
    sweeps.run_all(now=datetime(2026, 3, 9, 23, 0, tzinfo=STOCKHOLM), only=only)
    assert not tasks.exists()
    late = datetime(2026, 3, 10, 8, 0, tzinfo=STOCKHOLM)
    sweeps.run_all(now=late, only=only)
    sweeps.run_all(now=late, only=only)
    task = tasks.get()
    assert (task.dedupe_key, task.contract_id) == (f"emergency_unreviewed:{entry.pk}", plan.pk)
    # The fixed care contact has it; reviewing the read closes it.
    assert task.assigned_staff_id == plan.care_contacts.get().staff_id
    reviewer = User.objects.create_user(email="granskare@example.org")
    patient_services.review_emergency_read(
        reviewer=reviewer,
        organisation=plan.care_contacts.get().organisation,
        entry=entry,
        verdict="justified",
    )
    task.refresh_from_db()
    assert task.status == FollowUpTask.Status.DONE


def test_opening_the_plan_and_its_history_in_an_emergency_is_one_review(
    client, plan, cardiologist, network
):
    logged_in(client, cardiologist)
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=STOCKHOLM), tick=False):
        open_with_emergency(client, plan.patient_id)
    with time_machine.travel(datetime(2026, 3, 2, 10, 5, tzinfo=STOCKHOLM), tick=False):
        history = reverse("contracts:history", args=[plan.patient_id])
        assert client.get(history).status_code == 200
    reads = list(AccessLogEntry.objects.filter(user=cardiologist, emergency=True).order_by("at"))
    assert [r.action for r in reads] == ["view_plan", "view_history"]

    vc_admin = make_staff("vcadmin@example.org", network["vardcentral"], Role.ORG_ADMIN, "Vera")
    logged_in(client, vc_admin)
    html = client.get("/access/emergency/").content.decode()
    # One row, one form: for the reader, the patient and the day.
    assert html.count("Save the review") == 1
    assert html.count(REASON["reason"]) == 1
    assert "Read the plan" in html and "Read the history" in html

    first = reads[0]
    url = reverse("access:emergency_review", args=[first.pk])
    client.post(url, {f"r{first.pk}-verdict": "justified", f"r{first.pk}-comment": "Rätt"})
    assert {r.entry_id for r in EmergencyReview.objects.all()} == {r.pk for r in reads}
    event = Event.objects.get(kind=Event.Kind.EMERGENCY_ACCESS_REVIEWED)
    assert event.after["entries"] == [r.pk for r in reads]
    html = client.get("/access/emergency/").content.decode()
    assert 'name="r' not in html and html.count("Rätt") == 1


def test_an_emergency_read_on_another_day_is_reviewed_on_its_own(
    client, plan, cardiologist, network
):
    for day in (2, 3):
        with time_machine.travel(datetime(2026, 3, day, 10, 0, tzinfo=STOCKHOLM), tick=False):
            logged_in(client, cardiologist)  # a new login: the idle one timed out
            open_with_emergency(client, plan.patient_id)
            client.get(reverse("contracts:history", args=[plan.patient_id]))
    assert AccessLogEntry.objects.filter(user=cardiologist, emergency=True).count() == 4
    vc_admin = make_staff("vcadmin@example.org", network["vardcentral"], Role.ORG_ADMIN, "Vera")
    logged_in(client, vc_admin)
    html = client.get("/access/emergency/").content.decode()
    assert html.count("Save the review") == 2
    first = AccessLogEntry.objects.filter(user=cardiologist, emergency=True).earliest("at")
    url = reverse("access:emergency_review", args=[first.pk])
    client.post(url, {f"r{first.pk}-verdict": "justified", f"r{first.pk}-comment": ""})
    day_two = AccessLogEntry.objects.filter(user=cardiologist, at__day=2, emergency=True)
    assert set(EmergencyReview.objects.values_list("entry_id", flat=True)) == {
        entry.pk for entry in day_two
    }
    assert client.get("/access/emergency/").content.decode().count("Save the review") == 1


def test_the_patient_is_told_once_per_reader_and_day_without_health_content(
    client, plan, cardiologist, network
):
    notices = Notification.objects.filter(kind=Notification.Kind.EMERGENCY_ACCESS)
    logged_in(client, cardiologist)
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=STOCKHOLM), tick=False):
        open_with_emergency(client, plan.patient_id)
        client.get(reverse("contracts:history", args=[plan.patient_id]))
        open_with_emergency(client, plan.patient_id)
    notice = notices.get()
    assert notice.recipient_patient_id == plan.patient_id
    assert notice.address == "+46701234567"
    # Written when sent, in Tolvan's language (Swedish), naming no unit or person.
    with time_machine.travel(datetime(2026, 3, 2, 10, 5, tzinfo=STOCKHOLM), tick=False):
        text = messages.render(notice, timezone.now()).body
    assert "2 mars 2026" in text
    for secret in ("Kalle", "Medvetslös", "affären", "Tolvan", "vikt", "Kardiolog"):
        assert secret not in text
    # Another reader the same day, and the same reader the next day, are news.
    other = make_staff("kardiolog2@example.org", network["cardiology"], Role.COORDINATOR, "Ko")
    logged_in(client, other)
    with time_machine.travel(datetime(2026, 3, 2, 11, 0, tzinfo=STOCKHOLM), tick=False):
        open_with_emergency(client, plan.patient_id)
    logged_in(client, cardiologist)
    with time_machine.travel(datetime(2026, 3, 3, 10, 0, tzinfo=STOCKHOLM), tick=False):
        open_with_emergency(client, plan.patient_id)
    assert notices.count() == 3


# --- the assurance level on every row ---------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "words"),
    [
        (LOA3, "Logged in with e-legitimation"),
        (LOA2, "Logged in with a password and a code"),
        (1, "Logged in with a simpler login"),
    ],
)
def test_each_read_records_the_assurance_level_of_the_login(client, plan, doctor, level, words):
    logged_in(client, doctor, level=level)
    assert client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).status_code == 200
    assert AccessLogEntry.objects.get(user=doctor).assurance_level == level
    logged_in(client, plan.patient.user, level=None)
    assert words in client.get("/my-plan/access-log/").content.decode()


def test_worklist_rows_carry_the_level_and_integration_rows_none(client, plan, doctor, vc_api):
    logged_in(client, doctor, level=LOA2)
    client.get(reverse("patients:worklist"))
    assert set(AccessLogEntry.objects.values_list("assurance_level", flat=True)) == {LOA2}
    before = AccessLogEntry.objects.count()
    assert vc_api.get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
    assert vc_api.get(f"/api/v1/patients/{plan.patient_id}/").status_code == 200
    new = AccessLogEntry.objects.order_by("pk")[before:]
    assert [(row.action, row.assurance_level) for row in new] == [("api_read", None)] * 2


# --- refused reads are logged -----------------------------------------------------------------


def test_a_refused_page_read_is_logged_and_a_missing_id_is_not(client, plan, cardiologist):
    logged_in(client, cardiologist, level=LOA2)
    assert client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).status_code == 404
    assert client.get(reverse("contracts:staff_plan", args=[MISSING])).status_code == 404
    row = AccessLogEntry.objects.get()
    assert (row.user, row.patient_id, row.action, row.assurance_level) == (
        cardiologist,
        plan.patient_id,
        "denied",
        LOA2,
    )
    logged_in(client, plan.patient.user, level=None)
    assert (
        "Tried to read the plan, and was refused"
        in client.get("/my-plan/access-log/").content.decode()
    )


def test_a_refused_rest_read_is_logged_and_a_missing_id_is_not(plan, integrations, network):
    api = Api(issue_token(integrations["cardiology"]))
    for url in (
        f"/api/v1/patients/{plan.patient_id}/",
        f"/api/v1/contracts/{plan.pk}/",
        f"/api/v1/patients/{MISSING}/",
        f"/api/v1/contracts/{MISSING}/",
    ):
        assert api.get(url).status_code == 404
    rows = AccessLogEntry.objects.order_by("pk")
    assert [(r.patient_id, r.organisation, r.action) for r in rows] == [
        (plan.patient_id, network["cardiology"], "denied"),
        (plan.patient_id, network["cardiology"], "denied"),
    ]


def test_a_refused_fhir_read_is_logged(plan, integrations, network):
    api = Api(issue_token(integrations["cardiology"]))
    assert api.get(f"/fhir/R4/Patient/{plan.patient_id}").status_code == 404
    assert api.get(f"/fhir/R4/Patient/{MISSING}").status_code == 404
    row = AccessLogEntry.objects.get()
    assert (row.patient_id, row.api_client, row.action) == (
        plan.patient_id,
        integrations["cardiology"].name,
        "denied",
    )


# --- the admin's lists and searches ----------------------------------------------------------


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="drift@example.org", password="pw")


def test_the_admin_patient_list_and_search_are_logged(client, plan, greta, operator):
    logged_in(client, operator, level=LOA2)
    listing = reverse("admin:patients_patient_changelist")
    assert client.get(listing).status_code == 200
    rows = AccessLogEntry.objects.filter(user=operator, action="search")
    assert set(rows.values_list("patient_id", flat=True)) == {plan.patient_id, greta.pk}
    assert set(rows.values_list("assurance_level", flat=True)) == {LOA2}
    before = rows.count()
    assert client.get(listing, {"q": "19121212-1212"}).status_code == 200
    found = rows.order_by("pk")[before:]
    assert [row.patient_id for row in found] == [plan.patient_id]
    assert "search" in found[0].reason
    client.get(reverse("admin:patients_patient_change", args=[greta.pk]))
    assert AccessLogEntry.objects.filter(user=operator, patient=greta, action="view_plan").exists()
