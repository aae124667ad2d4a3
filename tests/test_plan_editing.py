"""Changing the shared plan from the browser: in place with htmx, or as plain forms."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from personas import version

from contracts import services
from contracts.history import Actor
from contracts.models import Commitment, Event, NextStep

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, plan, *args):
    return reverse(f"contracts:{name}", args=[plan.patient_id, *args])


def in_a_week():
    moment = timezone.localtime() + timedelta(days=7)
    return moment.strftime("%Y-%m-%dT10:00")


# --- what matters -----------------------------------------------------------------


def test_patient_edits_what_matters_in_place(client, plan, tolvan):
    client.force_login(tolvan.user)
    seen = version(plan)
    response = client.post(
        url("what_matters", plan),
        {"version": seen, "what_matters": "Att träffa barnbarnen", "goals": "Gå till affären\n\n"},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="what-matters"')
    assert "Att träffa barnbarnen" in html
    # The history and the agreement box are refreshed out of band.
    assert 'id="history" class="card" aria-labelledby="history-title" hx-swap-oob="true"' in html
    assert json.loads(response["HX-Trigger"]) == {"planVersion": {"from": seen, "to": seen + 1}}
    plan.refresh_from_db()
    assert plan.what_matters == "Att träffa barnbarnen"
    assert list(plan.goals.values_list("text", flat=True)) == ["Gå till affären"]


def test_without_javascript_a_save_redirects_back_to_the_page(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.post(
        url("what_matters", plan), {"version": version(plan), "what_matters": "Bo kvar hemma"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("contracts:my_plan") + "#what-matters"
    page = client.get(response["Location"])
    assert "Bo kvar hemma" in page.content.decode()


@pytest.mark.parametrize("htmx", [True, False])
def test_stale_edit_shows_the_newer_text_and_keeps_mine(
    client, plan, tolvan, doctor, network, htmx
):
    client.force_login(tolvan.user)
    seen = version(plan)
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text="Läkarens nya text",
        expected_version=seen,
    )
    events = Event.objects.count()
    response = client.post(
        url("what_matters", plan),
        {"version": seen, "what_matters": "Min egen text"},
        **(HTMX if htmx else {}),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else changed this while you were writing." in html
    assert "Läkarens nya text" in html
    assert ">Min egen text</textarea>" in html
    assert f'name="version" value="{seen + 1}"' in html
    assert ("<html" in html) is not htmx
    plan.refresh_from_db()
    assert plan.what_matters == "Läkarens nya text"
    assert Event.objects.count() == events


def test_relative_with_write_access_edits_what_matters(client, plan, daughter):
    client.force_login(daughter.user)
    response = client.post(
        url("what_matters", plan), {"version": version(plan), "what_matters": "Mamma vill bo hemma"}
    )
    assert response["Location"] == url("relative_plan", plan) + "#what-matters"
    plan.refresh_from_db()
    assert plan.what_matters == "Mamma vill bo hemma"


def test_too_long_text_is_refused_with_a_message(client, plan, tolvan):
    client.force_login(tolvan.user)
    before = version(plan)
    response = client.post(
        url("what_matters", plan), {"version": before, "what_matters": "x" * 5001}, **HTMX
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert version(plan) == before


# --- ticking off and agreeing ----------------------------------------------------------


def test_patient_ticks_off_own_commitment(client, plan, tolvan):
    client.force_login(tolvan.user)
    mine = plan.commitments.get(owner_kind="patient")
    response = client.post(
        url("tick_commitment", plan, mine.pk), {"version": version(plan), "done": "1"}, **HTMX
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="commitments"')
    mine.refresh_from_db()
    assert mine.status == Commitment.Status.DONE
    response = client.post(
        url("tick_commitment", plan, mine.pk), {"version": version(plan), "done": "0"}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == Commitment.Status.OPEN


def test_patient_cannot_tick_off_the_care_units_commitment(client, plan, tolvan):
    client.force_login(tolvan.user)
    theirs = plan.commitments.get(owner_kind="organisation")
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert url("tick_commitment", plan, theirs.pk) not in html
    response = client.post(
        url("tick_commitment", plan, theirs.pk), {"version": version(plan), "done": "1"}, **HTMX
    )
    assert response.status_code == 403
    assert "Only the owner can update this commitment." in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == Commitment.Status.OPEN


def test_stale_tick_shows_the_list_as_it_is_now(client, plan, tolvan, doctor, network):
    client.force_login(tolvan.user)
    seen = version(plan)
    services.add_commitment(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=seen,
        what="Ny uppgift från läkaren",
        owner_kind="patient",
    )
    mine = plan.commitments.filter(owner_kind="patient").first()
    response = client.post(
        url("tick_commitment", plan, mine.pk), {"version": seen, "done": "1"}, **HTMX
    )
    assert response.status_code == 409
    assert "Ny uppgift från läkaren" in response.content.decode()
    mine.refresh_from_db()
    assert mine.status == Commitment.Status.OPEN


def test_patient_agrees_to_the_version_they_saw(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.post(url("agree", plan), {"version": version(plan)}, **HTMX)
    assert response.status_code == 200
    assert "You agreed to this plan on" in response.content.decode()
    plan.refresh_from_db()
    assert plan.agreed_version == plan.version


def test_agreeing_to_an_old_version_shows_what_changed(client, plan, tolvan, doctor, network):
    client.force_login(tolvan.user)
    seen = version(plan)
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text="Ändrat av läkaren",
        expected_version=seen,
    )
    response = client.post(url("agree", plan), {"version": seen}, **HTMX)
    assert response.status_code == 409
    assert "The plan changed after you opened it." in response.content.decode()
    plan.refresh_from_db()
    assert plan.agreed_version is None


def test_staff_and_relatives_cannot_agree_for_the_patient(client, plan, doctor, daughter):
    for user in (doctor, daughter.user):
        client.force_login(user)
        response = client.post(url("agree", plan), {"version": version(plan)})
        assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.agreed_version is None


# --- staff controls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "owner, expected",
    [
        ("patient", {"owner_kind": "patient"}),
        ("organisation:{home_health}", {"owner_kind": "organisation"}),
        ("staff:{home_health}:{nurse}", {"owner_kind": "staff"}),
        ("relative:{daughter}", {"owner_kind": "relative"}),
    ],
)
def test_staff_add_a_commitment_with_an_owner(
    client, plan, doctor, nurse, daughter, network, owner, expected
):
    client.force_login(doctor)
    value = owner.format(
        home_health=network["home_health"].pk, nurse=nurse.pk, daughter=daughter.pk
    )
    due = timezone.localdate() + timedelta(days=5)
    response = client.post(
        url("add_commitment", plan),
        {"version": version(plan), "what": "Ny uppgift", "owner": value, "due_date": due},
        **HTMX,
    )
    assert response.status_code == 200
    added = plan.commitments.get(what="Ny uppgift")
    assert added.owner_kind == expected["owner_kind"]
    assert added.due_date == due


def test_an_owner_outside_the_team_is_refused(client, plan, doctor, network):
    client.force_login(doctor)
    before = version(plan)
    response = client.post(
        url("add_commitment", plan),
        {
            "version": before,
            "what": "Ny uppgift",
            "owner": f"organisation:{network['cardiology'].pk}",
        },
        **HTMX,
    )
    assert response.status_code == 400
    assert version(plan) == before


def test_home_care_nurse_updates_her_organisations_commitment(client, plan, nurse):
    client.force_login(nurse)
    hers = plan.commitments.get(owner_staff=nurse)
    html = client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).content.decode()
    assert url("change_commitment", plan, hers.pk) in html
    response = client.post(
        url("change_commitment", plan, hers.pk),
        {
            "version": version(plan),
            "what": "Hjälpa till med strumporna morgon och kväll",
            "owner": f"staff:{hers.owner_organisation_id}:{nurse.pk}",
        },
    )
    assert response.status_code == 302
    hers.refresh_from_db()
    assert hers.what == "Hjälpa till med strumporna morgon och kväll"


def test_home_care_nurse_cannot_change_the_vardcentral_commitment(client, plan, nurse):
    client.force_login(nurse)
    theirs = plan.commitments.get(owner_kind="organisation")
    html = client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).content.decode()
    assert url("change_commitment", plan, theirs.pk) not in html
    response = client.post(
        url("change_commitment", plan, theirs.pk),
        {
            "version": version(plan),
            "what": "Nej",
            "owner": f"organisation:{theirs.owner_organisation_id}",
        },
        **HTMX,
    )
    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.what == "Se över medicinlistan"


def test_staff_hand_a_commitment_to_another_owner(client, plan, doctor, network):
    client.force_login(doctor)
    ours = plan.commitments.get(owner_kind="organisation")
    response = client.post(
        url("change_commitment", plan, ours.pk),
        {
            "version": version(plan),
            "what": ours.what,
            "owner": f"organisation:{network['home_health'].pk}",
        },
        **HTMX,
    )
    assert response.status_code == 200
    ours.refresh_from_db()
    assert ours.owner_organisation == network["home_health"]
    assert "handed a commitment to Hemsjukvården Tierp" in response.content.decode()


def test_staff_cancel_a_commitment(client, plan, doctor):
    client.force_login(doctor)
    ours = plan.commitments.get(owner_kind="organisation")
    client.post(
        url("change_commitment", plan, ours.pk),
        {
            "version": version(plan),
            "what": ours.what,
            "owner": f"organisation:{ours.owner_organisation_id}",
            "cancel": "1",
        },
    )
    ours.refresh_from_db()
    assert ours.status == Commitment.Status.CANCELLED


def test_staff_open_a_commitments_edit_form_on_demand(client, plan, doctor):
    client.force_login(doctor)
    ours = plan.commitments.get(owner_kind="organisation")
    page = client.get(reverse("contracts:staff_plan", args=[plan.patient_id])).content.decode()
    # The page links to each form instead of carrying one per commitment.
    assert f"?edit=commitment-{ours.pk}#commitment-{ours.pk}" in page
    assert url("change_commitment", plan, ours.pk) + '" class="stack"' not in page

    plain = client.get(url("change_commitment", plan, ours.pk))
    assert plain.status_code == 302
    assert plain["Location"].endswith(f"?edit=commitment-{ours.pk}#commitment-{ours.pk}")
    page = client.get(plain["Location"]).content.decode()
    item = page.split(f'id="commitment-{ours.pk}"')[1].split("</li>")[0]
    assert 'name="owner"' in item and "Se över medicinlistan</textarea>" in item

    fragment = client.get(url("change_commitment", plan, ours.pk), **HTMX).content.decode()
    assert fragment.strip().startswith(f'<li id="commitment-{ours.pk}"')
    assert 'name="owner"' in fragment
    closed = client.get(url("change_commitment", plan, ours.pk) + "?show=1", **HTMX)
    assert 'name="owner"' not in closed.content.decode()


def test_patients_cannot_open_a_commitments_edit_form(client, plan, tolvan):
    client.force_login(tolvan.user)
    ours = plan.commitments.get(owner_kind="organisation")
    assert client.get(url("change_commitment", plan, ours.pk), **HTMX).status_code == 403


def test_stale_commitment_change_keeps_my_text(client, plan, doctor, network):
    client.force_login(doctor)
    ours = plan.commitments.get(owner_kind="organisation")
    seen = version(plan)
    services.set_what_matters(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        text="Annan ändring",
        expected_version=seen,
    )
    response = client.post(
        url("change_commitment", plan, ours.pk),
        {
            "version": seen,
            "what": "Min ändring",
            "owner": f"organisation:{ours.owner_organisation_id}",
        },
        **HTMX,
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Min ändring</textarea>" in html
    assert "open" in html.split(f'id="commitment-{ours.pk}"')[1].split("<summary>")[0]
    ours.refresh_from_db()
    assert ours.what == "Se över medicinlistan"


def test_staff_agree_a_next_step(client, plan, doctor):
    client.force_login(doctor)
    response = client.post(
        url("agree_next_step", plan),
        {
            "version": version(plan),
            "scheduled_at": in_a_week(),
            "channel": "video",
            "purpose": "Gå igenom provsvar",
            "staff": str(doctor.pk),
        },
        **HTMX,
    )
    assert response.status_code == 200
    step = plan.next_steps.get(status="planned")
    assert (step.channel, step.staff, step.purpose) == ("video", doctor, "Gå igenom provsvar")
    # Entered as Stockholm time.
    assert timezone.localtime(step.scheduled_at).strftime("%H:%M") == "10:00"


def test_a_next_step_in_the_past_is_refused_with_the_services_message(client, plan, doctor):
    client.force_login(doctor)
    before = version(plan)
    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    response = client.post(
        url("agree_next_step", plan),
        {"version": before, "scheduled_at": past, "channel": "video", "purpose": "x"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "The next step must be in the future." in response.content.decode()
    assert version(plan) == before


def test_staff_record_the_outcome_and_agree_the_following_step(client, plan, doctor):
    client.force_login(doctor)
    first = plan.next_steps.get(status="planned")
    response = client.post(
        url("record_outcome", plan),
        {
            "version": version(plan),
            "outcome": "Vikten stabil",
            "happened": "1",
            "scheduled_at": in_a_week(),
            "channel": "phone",
            "purpose": "Höra hur det går",
        },
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.status, first.outcome) == (NextStep.Status.DONE, "Vikten stabil")
    following = plan.next_steps.get(status="planned")
    assert following.follows == first
    assert following.channel == "phone"


def test_a_refused_following_step_keeps_the_outcome_unrecorded(client, plan, doctor):
    client.force_login(doctor)
    before = version(plan)
    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    response = client.post(
        url("record_outcome", plan),
        {
            "version": before,
            "outcome": "Vikten stabil",
            "happened": "1",
            "scheduled_at": past,
            "channel": "phone",
            "purpose": "Höra hur det går",
        },
        **HTMX,
    )
    assert response.status_code == 400
    assert version(plan) == before
    assert plan.next_steps.get(status="planned").outcome == ""


def test_patients_cannot_use_staff_controls(client, plan, tolvan):
    client.force_login(tolvan.user)
    before = version(plan)
    response = client.post(
        url("add_commitment", plan),
        {"version": before, "what": "Något", "owner": "patient"},
    )
    assert response.status_code == 403
    assert version(plan) == before


# --- warning signs and contact paths --------------------------------------------------


def sign_rows(*rows, initial=0, delete=()):
    """Formset data for the warning-signs form: one dict entry per row."""
    data = {
        "signs-TOTAL_FORMS": str(len(rows)),
        "signs-INITIAL_FORMS": str(initial),
        "signs-MIN_NUM_FORMS": "0",
        "signs-MAX_NUM_FORMS": "1000",
    }
    for i, (sign, action) in enumerate(rows):
        data[f"signs-{i}-sign"] = sign
        data[f"signs-{i}-action"] = action
        if i in delete:
            data[f"signs-{i}-DELETE"] = "on"
    return data


def path_rows(*rows):
    data = {
        "paths-TOTAL_FORMS": str(len(rows)),
        "paths-INITIAL_FORMS": "0",
        "paths-MIN_NUM_FORMS": "0",
        "paths-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for name, value in row.items():
            data[f"paths-{i}-{name}"] = value
    return data


def test_patient_opens_the_warning_signs_form_in_place(client, plan, tolvan):
    client.force_login(tolvan.user)
    response = client.get(url("warning_signs", plan), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="warning-signs"')
    assert 'name="signs-TOTAL_FORMS"' in html
    assert f'name="version" value="{version(plan)}"' in html
    # Without JavaScript the same link opens the page at the form.
    response = client.get(url("warning_signs", plan))
    assert (
        response["Location"] == reverse("contracts:my_plan") + "?edit=warning-signs#warning-signs"
    )
    page = client.get(response["Location"]).content.decode()
    assert 'name="signs-0-sign"' in page


def test_patient_edits_warning_signs_in_place(client, plan, tolvan):
    client.force_login(tolvan.user)
    seen = version(plan)
    response = client.post(
        url("warning_signs", plan),
        {"version": seen, **sign_rows(("Svullna ben", "Ringer vårdcentralen"), ("", ""))},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="warning-signs"')
    assert "Svullna ben" in html
    assert json.loads(response["HX-Trigger"]) == {"planVersion": {"from": seen, "to": seen + 1}}
    assert list(plan.warning_signs.values_list("sign", "action")) == [
        ("Svullna ben", "Ringer vårdcentralen")
    ]


def test_a_warning_sign_is_removed_without_javascript(client, plan, tolvan):
    services.set_warning_signs(
        actor=Actor.patient(tolvan.user),
        contract=plan,
        expected_version=version(plan),
        signs=[("Svullna ben", "Ringer"), ("Yrsel", "Sätter mig")],
    )
    client.force_login(tolvan.user)
    response = client.post(
        url("warning_signs", plan),
        {
            "version": version(plan),
            **sign_rows(("Svullna ben", "Ringer"), ("Yrsel", "Sätter mig"), initial=2, delete=[0]),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("contracts:my_plan") + "#warning-signs"
    assert list(plan.warning_signs.values_list("sign", flat=True)) == ["Yrsel"]


def test_a_half_filled_warning_sign_is_refused_with_a_message(client, plan, tolvan):
    client.force_login(tolvan.user)
    before = version(plan)
    response = client.post(
        url("warning_signs", plan), {"version": before, **sign_rows(("Svullna ben", ""))}, **HTMX
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert version(plan) == before


@pytest.mark.parametrize("htmx", [True, False])
def test_stale_warning_signs_show_the_newer_list_and_keep_mine(
    client, plan, tolvan, doctor, network, htmx
):
    client.force_login(tolvan.user)
    seen = version(plan)
    services.set_warning_signs(
        actor=Actor.staff(doctor, network["vardcentral"]),
        contract=plan,
        expected_version=seen,
        signs=[("Läkarens tecken", "Ring oss")],
    )
    events = Event.objects.count()
    response = client.post(
        url("warning_signs", plan),
        {"version": seen, **sign_rows(("Mitt eget tecken", "Vilar"))},
        **(HTMX if htmx else {}),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else changed this while you were writing." in html
    assert "Läkarens tecken" in html
    assert 'value="Mitt eget tecken"' in html
    assert f'name="version" value="{seen + 1}"' in html
    assert Event.objects.count() == events


def test_reader_cannot_open_or_save_warning_signs(client, plan, daughter):
    daughter.access = "read"
    daughter.save()
    client.force_login(daughter.user)
    assert client.get(url("warning_signs", plan), **HTMX).status_code == 403
    response = client.post(
        url("warning_signs", plan), {"version": version(plan), **sign_rows(("x", "y"))}
    )
    assert response.status_code == 403
    assert plan.warning_signs.count() == 0


def test_staff_edit_contact_paths_in_place(client, plan, doctor, network):
    client.force_login(doctor)
    form = client.get(url("contact_paths", plan), **HTMX).content.decode()
    assert "Hemsjukvården Tierp" in form  # the team's organisations are offered
    assert "Kardiologmottagningen" not in form
    seen = version(plan)
    row = {
        "kind": "phone",
        "label": "Sjuksköterskan",
        "value": "0293-123 45",
        "hours": "Vardagar 8–10",
        "organisation": str(network["home_health"].pk),
    }
    response = client.post(
        url("contact_paths", plan), {"version": seen, **path_rows(row, {"kind": ""})}, **HTMX
    )
    assert response.status_code == 200
    assert "0293-123 45" in response.content.decode()
    path = plan.contact_paths.get()
    assert (path.label, path.organisation) == ("Sjuksköterskan", network["home_health"])
    assert version(plan) == seen + 1


def test_contact_paths_without_javascript_redirect_back(client, plan, doctor):
    client.force_login(doctor)
    response = client.get(url("contact_paths", plan))
    assert response["Location"].endswith("?edit=contact-paths#contact-paths")
    assert 'name="paths-0-kind"' in client.get(response["Location"]).content.decode()
    row = {"kind": "web_booking", "label": "1177", "value": "https://www.1177.se"}
    response = client.post(url("contact_paths", plan), {"version": version(plan), **path_rows(row)})
    assert response.status_code == 302
    assert response["Location"] == url("staff_plan", plan) + "#contact-paths"
    assert plan.contact_paths.get().kind == "web_booking"


def test_a_contact_path_without_a_number_is_refused(client, plan, doctor):
    client.force_login(doctor)
    before = version(plan)
    response = client.post(
        url("contact_paths", plan),
        {"version": before, **path_rows({"kind": "phone", "label": "Mottagningen"})},
        **HTMX,
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert version(plan) == before


def test_stale_contact_paths_keep_my_input(client, plan, doctor, nurse, network):
    client.force_login(doctor)
    seen = version(plan)
    services.set_contact_paths(
        actor=Actor.staff(nurse, network["home_health"]),
        contract=plan,
        expected_version=seen,
        paths=[{"kind": "phone", "label": "Hemsjukvården", "value": "0293-999 99"}],
    )
    row = {"kind": "phone", "label": "Doktorns linje", "value": "0293-111 11"}
    response = client.post(url("contact_paths", plan), {"version": seen, **path_rows(row)}, **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "0293-999 99" in html
    assert 'value="Doktorns linje"' in html
    assert f'name="version" value="{seen + 1}"' in html
    assert plan.contact_paths.get().label == "Hemsjukvården"


def test_patients_cannot_edit_contact_paths(client, plan, tolvan):
    client.force_login(tolvan.user)
    assert client.get(url("contact_paths", plan), **HTMX).status_code == 403
    row = {"kind": "phone", "label": "x", "value": "1"}
    response = client.post(url("contact_paths", plan), {"version": version(plan), **path_rows(row)})
    assert response.status_code == 403
    assert "Edit how to reach us" not in client.get(reverse("contracts:my_plan")).content.decode()
    assert plan.contact_paths.count() == 0
