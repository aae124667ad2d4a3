"""Reading the shared plan in the browser: my plan, a relative's view, the staff page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from personas import version

from contracts import ics, selectors, services
from contracts.history import Actor
from contracts.models import Commitment, Event
from contracts.plan_read import COMMITMENT_FIELDS, CommitmentRow
from patients.access import NoAccess, get_patient_for
from patients.models import AccessLogEntry, Relative

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def staff_url(patient):
    return reverse("contracts:staff_plan", args=[patient.pk])


def test_patient_sees_the_four_parts_of_my_plan(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.get(reverse("contracts:my_plan"))
    assert response.status_code == 200
    html = response.content.decode()
    for heading in ("What matters to me", "My next step", "Who does what", "My fixed care contact"):
        assert heading in html
    assert "Att kunna gå till affären själv." in html
    assert "Följa upp vikt och andning" in html
    assert "Väga mig varje morgon" in html
    assert "Doris Doktor" in html
    assert "What to look out for" in html
    assert "How to reach us" in html
    # Grouped by owner: mine first, then each organisation.
    groups = re.findall(r"<h3>(.*?)</h3>", html.split('id="commitments"')[1].split("</section>")[0])
    assert groups == ["Me", "Hemsjukvården Tierp", "Vårdcentralen Tierp"]


def test_next_step_time_is_shown_in_stockholm_time(client, plan, tolvan, doctor, network):
    # 07:30 UTC in January is 08:30 in Stockholm.
    when = datetime(timezone.now().year + 1, 1, 15, 7, 30, tzinfo=UTC)
    services.agree_next_step(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        scheduled_at=when,
        channel="visit",
        purpose="Provsvar",
    )
    client.force_login(tolvan.user)
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert "08:30" in html
    assert "07:30" not in html


def test_overdue_commitment_is_marked(client, plan, tolvan):
    commitment = plan.commitments.get(owner_kind="patient")
    type(commitment).objects.filter(pk=commitment.pk).update(
        due_date=timezone.localdate() - timedelta(days=2)
    )
    client.force_login(tolvan.user)
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert 'badge danger">Overdue' in html


def test_patient_pages_are_not_stored_and_not_kept_in_htmx_history(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.get(reverse("contracts:my_plan"))
    assert "no-store" in response["Cache-Control"]
    assert re.search(r"<body[^>]*hx-history=\"false\"", response.content.decode())


def test_relative_with_read_access_sees_the_plan_but_no_forms(client, plan, daughter):
    daughter.access = Relative.Access.READ
    daughter.save()
    client.force_login(daughter.user)
    response = client.get(reverse("contracts:relative_plan", args=[plan.patient_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Väga mig varje morgon" in html
    assert '<form method="post" action="/plan/' not in html
    assert "Edit what matters" not in html


def test_relative_with_read_access_cannot_post(client, plan, daughter):
    daughter.access = Relative.Access.READ
    daughter.save()
    client.force_login(daughter.user)
    before = version(plan)
    response = client.post(
        reverse("contracts:what_matters", args=[plan.patient_id]),
        {"version": before, "what_matters": "Inte min sak"},
    )
    assert response.status_code == 403
    assert version(plan) == before


def test_relative_without_access_gets_404(client, plan, daughter):
    daughter.access = Relative.Access.NONE
    daughter.save()
    client.force_login(daughter.user)
    response = client.get(reverse("contracts:relative_plan", args=[plan.patient_id]))
    assert response.status_code == 404


def test_staff_of_another_organisation_gets_404(client, plan, cardiologist):
    client.force_login(cardiologist)
    assert client.get(staff_url(plan.patient)).status_code == 404
    assert client.get(reverse("contracts:relative_plan", args=[plan.patient_id])).status_code == 404
    response = client.post(
        reverse("contracts:what_matters", args=[plan.patient_id]),
        {"version": version(plan), "what_matters": "x"},
    )
    assert response.status_code == 404


def test_staff_reading_the_plan_writes_the_access_log(client, plan, nurse, network):
    client.force_login(nurse)
    response = client.get(staff_url(plan.patient))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    entry = AccessLogEntry.objects.get(patient=plan.patient, user=nurse)
    assert entry.organisation == network["home_health"]
    assert entry.action == AccessLogEntry.Action.VIEW_PLAN


def test_staff_see_staff_controls_and_the_patient_sees_none(client, plan, tolvan, doctor):
    client.force_login(doctor)
    staff_html = client.get(staff_url(plan.patient)).content.decode()
    assert "Add a commitment" in staff_html
    assert "Record what came of it" in staff_html
    assert "I agree to this plan" not in staff_html
    client.force_login(tolvan.user)
    patient_html = client.get(reverse("contracts:my_plan")).content.decode()
    assert "Add a commitment" not in patient_html
    assert "I agree to this plan" in patient_html


def test_htmx_gets_one_section_and_a_plain_request_the_whole_page(client, plan, tolvan):
    client.force_login(tolvan.user)
    url = reverse("contracts:what_matters", args=[plan.patient_id])
    partial = client.get(url, **HTMX)
    assert partial.status_code == 200
    html = partial.content.decode()
    assert html.lstrip().startswith('<section id="what-matters"')
    assert "<html" not in html
    assert 'name="what_matters"' in html
    plain = client.get(url)
    assert plain.status_code == 302
    assert plain["Location"].endswith("?edit=what-matters#what-matters")
    page = client.get(plain["Location"])
    assert "<html" in page.content.decode()
    assert 'name="what_matters"' in page.content.decode()


def test_changed_since_you_agreed_in_plain_words(client, plan, tolvan, doctor, network):
    services.agree_to_version(
        actor=Actor.patient(tolvan.user), contract=plan, version=version(plan)
    )
    services.add_commitment(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        what="Boka tid för blodprov",
        owner_kind="organisation",
        owner_organisation=network["vardcentral"],
    )
    client.force_login(tolvan.user)
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert "Changed since you agreed" in html
    assert (
        "Doris Doktor, Vårdcentralen Tierp, added a commitment for Vårdcentralen Tierp: "
        "Boka tid för blodprov"
    ) in html


def test_events_read_as_sentences(plan, tolvan, nurse, network, daughter):
    nurse_actor = Actor.staff(nurse, network["home_health"])
    commitment = plan.commitments.get(owner_staff=nurse)
    services.complete_commitment(
        actor=nurse_actor, commitment=commitment, expected_version=version(plan)
    )
    services.set_what_matters(
        actor=Actor.relative(daughter.user),
        contract=plan,
        text="Mamma vill bo hemma",
        expected_version=version(plan),
    )
    services.agree_to_version(
        actor=Actor.patient(tolvan.user), contract=plan, version=version(plan)
    )
    events = list(plan.events.order_by("-at", "-id")[:3])
    wording = selectors.EventWording(tolvan, viewer=None)
    sentences = [sentence for _event, sentence in wording.all(events)]
    assert sentences == [
        "Tolvan Tolvansson agreed to the plan.",
        "Tova Tolvansson changed what matters: “Mamma vill bo hemma”",
        "Nils Nurse, Hemsjukvården Tierp, ticked off: Hjälpa till med kompressionsstrumpor",
    ]
    first = plan.events.get(kind="contract_created")
    assert wording.sentence(first) == "Doris Doktor, Vårdcentralen Tierp, started the plan."
    hand_over = Event(
        kind="commitment_changed",
        actor=nurse,
        actor_kind="staff",
        organisation=network["home_health"],
        before={"owner_kind": "organisation", "owner_organisation": network["home_health"].pk},
        after={"owner_kind": "relative", "owner_relative": daughter.pk, "what": "Handla"},
    )
    wording.all([hand_over])
    assert wording.sentence(hand_over) == (
        "Nils Nurse, Hemsjukvården Tierp, handed a commitment to Tova Tolvansson (dotter): Handla"
    )


def test_history_shows_the_latest_events_and_a_page_with_all(client, plan, tolvan, doctor, network):
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    for n in range(selectors.HISTORY_ON_PAGE + 5):
        services.set_what_matters(
            actor=as_doctor, contract=plan, text=f"Text {n}", expected_version=version(plan)
        )
    client.force_login(tolvan.user)
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert "Show all changes" in html
    full = client.get(reverse("contracts:history", args=[plan.patient_id]))
    assert full.status_code == 200
    body = full.content.decode()
    assert "started the plan" in body
    assert body.count("<li><time") == plan.events.count()


def test_staff_reading_the_history_is_logged(client, plan, nurse):
    client.force_login(nurse)
    assert client.get(reverse("contracts:history", args=[plan.patient_id])).status_code == 200
    assert AccessLogEntry.objects.filter(
        user=nurse, action=AccessLogEntry.Action.VIEW_HISTORY
    ).exists()


def _grow(plan, doctor, network, commitments, events):
    """Add commitments and extra events to the plan through the services."""
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    # A named-staff owner first, so that both runs mention an organisation and a staff
    # member in their events: names cost at most one query each, however many events.
    nurse = network["home_health"].memberships.get().user
    owners = [
        {"owner_kind": "staff", "owner_organisation": network["home_health"], "owner_staff": nurse},
        {"owner_kind": "patient"},
        {"owner_kind": "organisation", "owner_organisation": network["vardcentral"]},
    ]
    for n in range(commitments):
        services.add_commitment(
            actor=as_doctor,
            contract=plan,
            expected_version=version(plan),
            what=f"Uppgift {n}",
            due_date=timezone.localdate() + timedelta(days=n % 9),
            **owners[n % 3],
        )
    for n in range(events):
        services.set_what_matters(
            actor=as_doctor, contract=plan, text=f"Version {n}", expected_version=version(plan)
        )


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


# Session, user, the page's reads. Staff: the user's memberships (the menu's too), the
# patient with the access check, the access-log row, the plan; the staff menu asks
# nothing more. The patient: the patient, the plan, "is the user staff" for the menu.
PAGE_QUERIES = {"staff": 6, "patient": 5}


@pytest.mark.parametrize("viewer", ["patient", "staff"])
def test_plan_page_query_count_does_not_grow_with_the_plan(
    client, plan, tolvan, doctor, nurse, network, viewer
):
    services.agree_to_version(
        actor=Actor.patient(tolvan.user), contract=plan, version=version(plan)
    )
    user, url = (
        (tolvan.user, reverse("contracts:my_plan"))
        if viewer == "patient"
        else (doctor, staff_url(tolvan))
    )
    client.force_login(user)
    _grow(plan, doctor, network, commitments=1, events=1)
    small = _count_queries(client, url)
    _grow(plan, doctor, network, commitments=57, events=40)
    assert plan.commitments.count() == 61
    large = _count_queries(client, url)
    assert large == small == PAGE_QUERIES[viewer]


def test_next_step_calendar_file_is_valid_icalendar(client, plan, tolvan):
    step = plan.next_steps.get(status="planned")
    client.force_login(tolvan.user)
    response = client.get(reverse("contracts:my_next_step_ics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    raw = response.content.decode("utf-8")
    assert raw.endswith("\r\n")
    assert "\n" not in raw.replace("\r\n", "")
    for line in raw.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75
    fields = parse_ics(raw)
    assert fields["BEGIN"] == ["VCALENDAR", "VEVENT"]
    assert fields["VERSION"] == ["2.0"]
    assert fields["UID"][0].startswith(f"next-step-{step.pk}@")
    start = datetime.strptime(fields["DTSTART"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert start == step.scheduled_at.replace(microsecond=0)
    assert fields["DTEND"][0] > fields["DTSTART"][0]
    assert re.fullmatch(r"\d{8}T\d{6}Z", fields["DTSTAMP"][0])
    assert "Home visit" in fields["SUMMARY"][0]
    assert fields["DESCRIPTION"][0] == "Why: Följa upp vikt och andning"


def test_calendar_text_is_escaped_and_folded():
    text = "Tid; plats, och\\ mer\nrad två " + "å" * 80
    line = ics.fold("DESCRIPTION:" + ics.escape(text))
    physical = line.split("\r\n")
    assert all(len(part.encode("utf-8")) <= 75 for part in physical)
    assert all(part.startswith(" ") for part in physical[1:])
    assert unescape(unfold(line).split(":", 1)[1]) == text


def test_relative_and_outsiders_and_no_step_for_the_calendar_file(client, plan, daughter, doctor):
    client.force_login(daughter.user)
    url = reverse("contracts:next_step_ics", args=[plan.patient_id])
    assert client.get(url).status_code == 200
    client.force_login(doctor)
    assert client.get(reverse("contracts:my_next_step_ics")).status_code == 404


def test_home_sends_each_user_to_their_start(client, plan, tolvan, doctor, daughter):
    client.force_login(tolvan.user)
    assert client.get(reverse("home"))["Location"] == reverse("contracts:my_plan")
    client.force_login(doctor)
    assert client.get(reverse("home"))["Location"] == reverse("patients:worklist")
    client.force_login(daughter.user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert reverse("contracts:relative_plan", args=[tolvan.pk]) in response.content.decode()


def test_patient_opening_the_staff_url_is_sent_to_my_plan(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.get(staff_url(tolvan))
    assert response["Location"] == reverse("contracts:my_plan")


def test_staff_see_a_start_button_when_there_is_no_plan(client, tolvan, doctor):
    client.force_login(doctor)
    html = client.get(staff_url(tolvan)).content.decode()
    assert "Start a plan" in html
    response = client.post(
        reverse("contracts:start_plan", args=[tolvan.pk]), {"what_matters": "Bo hemma"}
    )
    assert response.status_code == 302
    assert tolvan.contracts.get().what_matters == "Bo hemma"


# --- a small iCalendar reader, to read the file back -------------------------------


def unfold(raw: str) -> str:
    return raw.replace("\r\n ", "")


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def parse_ics(raw: str) -> dict:
    fields: dict = {}
    for line in unfold(raw).split("\r\n"):
        if line:
            name, value = line.split(":", 1)
            fields.setdefault(name, []).append(unescape(value))
    return fields


def test_emergency_access_reads_the_plan_but_cannot_change_it(client, plan, cardiologist):
    client.force_login(cardiologist)
    session = client.session
    # Emergency access needs a login with e-legitimation (assurance level 3).
    session["naravard_assurance"] = {"level": 3, "method": "oidc:staff"}
    session.save()
    response = client.post(
        reverse("access:emergency", args=[plan.patient_id]),
        {"category": "acute_cannot_ask", "reason": "Akut, medvetslös, kan inte tillfrågas"},
    )
    assert response["Location"] == staff_url(plan.patient)
    page = client.get(staff_url(plan.patient))
    assert page.status_code == 200
    html = page.content.decode()
    assert "emergency access" in html
    assert "Add a commitment" not in html
    assert "Edit what matters" not in html
    entry = AccessLogEntry.objects.get(user=cardiologist)
    assert entry.emergency is True
    before = version(plan)
    response = client.post(
        reverse("contracts:what_matters", args=[plan.patient_id]),
        {"version": before, "what_matters": "x"},
    )
    assert response.status_code in (403, 404)
    assert version(plan) == before


# --- the plan in one statement ------------------------------------------------------------


def _row_columns(row: CommitmentRow):
    """What a plan page's commitment row holds of the model's columns."""
    return {f.attname: getattr(row, f.attname) for f in COMMITMENT_FIELDS}


def _columns(instance):
    """What a model instance holds, every column it was read with."""
    loaded = instance.get_deferred_fields()
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in loaded
    }


def _event(event):
    return event.kind, str(event.actor), event.organisation and str(event.organisation)


def test_the_plan_is_read_in_one_statement_part_for_part(
    plan, tolvan, doctor, nurse, network, daughter
):
    """The open plan comes from one prepared statement (plan_read.PLAN_READ), as JSON made
    into model instances: every part, every column typed, and the names it mentions."""
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    vc, home = network["vardcentral"], network["home_health"]
    doctor.memberships.update(title="Distriktsläkare")
    services.set_what_matters(
        actor=as_doctor,
        contract=plan,
        text="Bo hemma",
        goals=["Gå till affären", "Träffa barnbarnen"],
        expected_version=version(plan),
    )
    services.set_warning_signs(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        signs=[("Svullna ben", "Ring vårdcentralen"), ("Andfådd", "Ring 1177")],
    )
    services.set_contact_paths(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        paths=[
            {"kind": "phone", "label": "Mottagningen", "value": "0293-123 45"},
            {
                "kind": "phone",
                "label": "Sjuksköterskan",
                "value": "0293-999 99",
                "hours": "Vardagar",
                "organisation": home,
            },
        ],
    )
    services.agree_to_version(
        actor=Actor.patient(tolvan.user), contract=plan, version=version(plan)
    )
    agreed = version(plan)
    due = timezone.localdate() + timedelta(days=4)
    shopping = services.add_commitment(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        what="Handla",
        owner_kind="relative",
        owner_relative=daughter,
        due_date=due,
    )
    call = services.add_commitment(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        what="Ringa",
        owner_kind="staff",
        owner_organisation=home,
        owner_staff=nurse,
    )
    ours = plan.commitments.get(what="Se över medicinlistan")
    services.update_commitment(
        actor=as_doctor, commitment=ours, expected_version=version(plan), cancel=True
    )
    mine = plan.commitments.get(what="Väga mig varje morgon")
    services.complete_commitment(
        actor=Actor.patient(tolvan.user), commitment=mine, expected_version=version(plan)
    )
    when = timezone.now().replace(microsecond=123456) + timedelta(days=7)
    services.agree_next_step(
        actor=as_doctor,
        contract=plan,
        expected_version=version(plan),
        scheduled_at=when,
        channel="video",
        purpose="Gå igenom provsvar",
        organisation=vc,
        staff=doctor,
    )
    stockings = plan.commitments.get(what="Hjälpa till med kompressionsstrumpor")

    stored = selectors.read_plan(tolvan)

    assert [_columns(r) for r in stored.relatives] == [
        {
            "id": daughter.pk,
            "patient_id": tolvan.pk,
            "user_id": daughter.user_id,
            "name": "Tova Tolvansson",
            "relation": "dotter",
            "phone": "",
            "email": "",
            "access": "write",
            "created_at": daughter.created_at,
        }
    ]
    contract = stored.contract
    assert (contract.pk, contract.patient_id, contract.status, contract.what_matters) == (
        plan.pk,
        tolvan.pk,
        "active",
        "Bo hemma",
    )
    assert (contract.version, contract.agreed_version) == (version(plan), agreed)
    assert contract.changed_since_agreed
    # Every column, times to the microsecond with their zone, as the row is stored.
    plan.refresh_from_db()
    assert _columns(contract) == _columns(plan)
    assert [(g.text, g.position, g.achieved_at) for g in stored.goals] == [
        ("Gå till affären", 0, None),
        ("Träffa barnbarnen", 1, None),
    ]
    step = stored.next_step
    assert (step.purpose, step.channel, step.status, step.scheduled_at, step.contract_id) == (
        "Gå igenom provsvar",
        "video",
        "planned",
        when,
        plan.pk,
    )
    assert (str(step.organisation), str(step.staff)) == ("Vårdcentralen Tierp", "Doris Doktor")
    contact = stored.care_contact
    assert (contact.staff_id, contact.organisation_id, contact.ended_on) == (doctor.pk, vc.pk, None)
    assert (str(contact.staff), str(contact.organisation)) == DOCTOR_AT_VC
    assert (stored.care_contact_title, stored.care_contact_role) == ("Distriktsläkare", "clinician")
    assert [(w.sign, w.action, w.position) for w in stored.warning_signs] == [
        ("Svullna ben", "Ring vårdcentralen", 0),
        ("Andfådd", "Ring 1177", 1),
    ]
    assert [
        (a.kind, a.label, a.value, a.hours, a.organisation_id, str(a.organisation or ""))
        for a in stored.contact_paths
    ] == [
        ("phone", "Mottagningen", "0293-123 45", "", None, ""),
        ("phone", "Sjuksköterskan", "0293-999 99", "Vardagar", home.pk, "Hemsjukvården Tierp"),
    ]
    # By due date, those without one last; the cancelled one is not shown. Each row holds
    # the model's editable columns, typed as the model has them, then the owner's names.
    shown = [
        (shopping, None, ""),
        (mine, None, ""),
        (stockings, "Hemsjukvården Tierp", "Nils Nurse"),
        (call, "Hemsjukvården Tierp", "Nils Nurse"),
    ]
    assert [c.pk for c in stored.commitments] == [c.pk for c, _, _ in shown]
    for row, (commitment, organisation_name, staff_name) in zip(
        stored.commitments, shown, strict=True
    ):
        stored_row = Commitment.objects.only(*_row_columns(row)).get(pk=commitment.pk)
        assert _row_columns(row) == _columns(stored_row)
        assert (row.organisation_name, row.staff_name) == (organisation_name, staff_name)
    first = stored.commitments[0]
    assert (first.what, first.due_date, first.owner_relative_id) == ("Handla", due, daughter.pk)
    # The latest events, newest first, one more than the page shows.
    assert [_event(e) for e in stored.events] == EXPECTED_EVENTS
    latest = Event.objects.filter(contract=plan).order_by("-at", "-id").first()
    assert _columns(stored.events[0]) == _columns(latest)
    # What changed since the patient agreed, oldest first.
    assert [e.kind for e in stored.changes] == [
        "commitment_added",
        "commitment_added",
        "commitment_changed",
        "commitment_completed",
        "next_step_agreed",
    ]
    organisations, staff = stored.names
    assert {k: str(v) for k, v in organisations.items()} == {
        vc.pk: "Vårdcentralen Tierp",
        home.pk: "Hemsjukvården Tierp",
    }
    assert {k: str(v) for k, v in staff.items()} == {
        doctor.pk: "Doris Doktor",
        nurse.pk: "Nils Nurse",
    }


DOCTOR_AT_VC = ("Doris Doktor", "Vårdcentralen Tierp")
EXPECTED_EVENTS = [
    ("next_step_agreed", *DOCTOR_AT_VC),
    ("commitment_completed", "tolvan@example.org", None),
    ("commitment_changed", *DOCTOR_AT_VC),
    ("commitment_added", *DOCTOR_AT_VC),
    ("commitment_added", *DOCTOR_AT_VC),
    ("plan_agreed", "tolvan@example.org", None),
    ("contact_paths_changed", *DOCTOR_AT_VC),
    ("warning_signs_changed", *DOCTOR_AT_VC),
    ("what_matters_changed", *DOCTOR_AT_VC),
    ("care_contact_assigned", *DOCTOR_AT_VC),
    ("commitment_added", *DOCTOR_AT_VC),
]


def test_a_patient_without_a_plan_is_read_with_their_relatives(tolvan, daughter):
    stored = selectors.read_plan(tolvan)
    assert stored.contract is None
    assert [(r.pk, r.name, r.access) for r in stored.relatives] == [
        (daughter.pk, "Tova Tolvansson", "write")
    ]
    assert stored.goals == stored.commitments == stored.events == stored.changes == []
    assert stored.next_step is stored.care_contact is None


# --- staff forms on demand ---------------------------------------------------------------


STAFF_FORMS = [
    # (URL name, ?edit= value, the element the form replaces, a field only the form has)
    ("add_commitment", "new-commitment", "new-commitment-form", 'name="owner"'),
    ("agree_next_step", "next-step", "next-step-form", 'name="staff"'),
    ("record_outcome", "outcome", "outcome-form", 'name="outcome"'),
]


def test_the_staff_page_carries_no_team_pickers(client, plan, doctor):
    client.force_login(doctor)
    html = client.get(staff_url(plan.patient)).content.decode()
    # Each picker lists every active staff member of the team: the page links to them.
    assert "<select" not in html and "<option" not in html
    for name, edit, anchor, _field in STAFF_FORMS:
        assert f'href="{staff_url(plan.patient)}?edit={edit}#{anchor}"' in html
        assert f'hx-get="{reverse(f"contracts:{name}", args=[plan.patient_id])}"' in html


@pytest.mark.parametrize("name, edit, anchor, field", STAFF_FORMS)
def test_staff_open_a_form_on_demand(client, plan, doctor, nurse, name, edit, anchor, field):
    client.force_login(doctor)
    url = reverse(f"contracts:{name}", args=[plan.patient_id])

    fragment = client.get(url, **HTMX)
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert html.strip().startswith(f'<div id="{anchor}"')
    assert "<html" not in html
    assert field in html and f'name="version" value="{version(plan)}"' in html
    assert " autofocus" in html  # the link that opened it is gone: focus the form
    closed = client.get(url + "?show=1", **HTMX).content.decode()
    assert closed.strip().startswith(f'<div id="{anchor}"') and field not in closed

    # Without JavaScript: the page, opened at the form.
    plain = client.get(url)
    assert plain.status_code == 302
    assert plain["Location"] == f"{staff_url(plan.patient)}?edit={edit}#{anchor}"
    page = client.get(plain["Location"]).content.decode()
    assert "<html" in page and field in page


def test_the_owner_picker_offers_the_team_on_demand(client, plan, doctor, nurse, network, daughter):
    client.force_login(doctor)
    html = client.get(reverse("contracts:add_commitment", args=[plan.patient_id]), **HTMX)
    picker = html.content.decode().split('name="owner"')[1].split("</select>")[0]
    for value in (
        "patient",
        f"relative:{daughter.pk}",
        f"organisation:{network['home_health'].pk}",
        f"staff:{network['home_health'].pk}:{nurse.pk}",
    ):
        assert f'value="{value}"' in picker
    assert f"organisation:{network['cardiology'].pk}" not in picker


def test_only_staff_who_may_write_open_the_staff_forms(client, plan, tolvan, cardiologist):
    client.force_login(tolvan.user)
    for name, *_rest in STAFF_FORMS:
        url = reverse(f"contracts:{name}", args=[plan.patient_id])
        assert client.get(url, **HTMX).status_code == 403
        assert client.get(url).status_code == 403
    assert 'name="owner"' not in client.get("/my-plan/?edit=new-commitment").content.decode()
    client.force_login(cardiologist)
    url = reverse("contracts:add_commitment", args=[plan.patient_id])
    assert client.get(url, **HTMX).status_code == 404


def test_no_outcome_form_without_a_planned_step(client, plan, doctor):
    plan.next_steps.update(status="missed")
    client.force_login(doctor)
    response = client.get(reverse("contracts:record_outcome", args=[plan.patient_id]), **HTMX)
    assert response.status_code == 404


def test_staff_page_reads_with_the_menus_memberships_as_without(plan, doctor, nurse, cardiologist):
    """The staff page hands get_patient_for the memberships the menu needs anyway; the
    viewer and the log row must be what they are without."""
    from coordination.queues import memberships_of
    from patients.access import EmergencyReason, logged_in_at

    acute = EmergencyReason("acute_cannot_ask", "Akut, medvetslös, kan inte tillfrågas")
    for user, reason in ((doctor, None), (nurse, None), (cardiologist, acute)):
        with logged_in_at(3):
            _patient, given = get_patient_for(
                user, plan.patient_id, emergency_reason=reason, memberships=memberships_of(user)
            )
            _patient, looked_up = get_patient_for(user, plan.patient_id, emergency_reason=reason)
        assert given == looked_up and given.kind == "staff"
        rows = AccessLogEntry.objects.filter(user=user).values_list(
            "organisation", "role", "emergency", "reason"
        )
        assert rows.count() == 2 and rows[0] == rows[1]
    with pytest.raises(NoAccess):
        get_patient_for(cardiologist, plan.patient_id, memberships=memberships_of(cardiologist))


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 5, 6, 7, 8, 123456, tzinfo=UTC),  # winter, microseconds
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # the first moment of summer time
        datetime(2026, 5, 17, 22, 30, tzinfo=UTC),  # the next day in Stockholm
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),  # the next year in Stockholm
    ],
)
def test_event_times_read_as_the_date_filter_writes_them(moment, language):
    # The plan page writes its history's times with plan_times, not the slower date filter.
    ours = Template(
        "{% load plan_times %}"
        '<time datetime="{{ at|iso_time }}">{{ at|short_time }}</time>|'
        "<time datetime=\"{{ at|iso_time }}\">{{ at|short_time:'year' }}</time>"
    )
    filters = Template(
        "<time datetime=\"{{ at|date:'c' }}\">{{ at|date:'j M H:i' }}</time>|"
        "<time datetime=\"{{ at|date:'c' }}\">{{ at|date:'j M Y H:i' }}</time>"
    )
    with translation.override(language):
        written = ours.render(Context({"at": moment}))
        assert written == filters.render(Context({"at": moment}))
    assert written.count("<time datetime=") == 2
