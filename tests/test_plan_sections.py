"""The plan page's parts (contracts/sections.py) and the markup they are written with:
every row of the table has its partial, the template names no part the table lacks, a
commitment's row and the team pickers are written by templates that do what the
Python-written markup did."""

import re
from pathlib import Path

import pytest
from django import forms
from django.conf import settings
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse
from personas import version

from contracts.forms import Picker
from contracts.models import Commitment
from contracts.sections import BY_EDIT, SECTIONS
from patients.models import Relative

PLAN = Path(settings.BASE_DIR) / "templates" / "contracts" / "plan.html"
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_every_part_of_the_table_has_its_partial_in_plan_html():
    for name in SECTIONS:
        assert get_template(f"contracts/plan.html#{name}") is not None


def test_the_plan_template_names_no_part_the_table_lacks():
    source = PLAN.read_text()
    named = set(re.findall(r"""(?:saved|conflict) == ["'](\w+)["']""", source))
    named |= set(re.findall(r"forms\.(\w+)", source))
    named |= set(re.findall(r"partialdef (\w+)", source))
    assert named and named <= set(SECTIONS), named - set(SECTIONS)
    assert {part.within for part in SECTIONS.values() if part.within} <= set(SECTIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("edit", sorted(BY_EDIT))
def test_each_edit_value_opens_its_form_on_the_staff_page(client, plan, doctor, edit):
    client.force_login(doctor)
    staff_url = reverse("contracts:staff_plan", args=[plan.patient_id])
    html = client.get(f"{staff_url}?edit={edit}").content.decode()
    # A form's fields are named after its `?edit=` value, its version first of all.
    assert f'id="{edit}-version"' in html
    assert f'value="{version(plan)}"' in html


def _row(html, commitment):
    return html.split(f'<li id="commitment-{commitment.pk}"')[1].split("</li>")[0]


@pytest.mark.django_db
def test_a_commitment_row_ticks_off_with_the_pages_csrf_token(plan, tolvan):
    client = Client(HTTP_ACCEPT_LANGUAGE="en", enforce_csrf_checks=True)
    client.force_login(tolvan.user)
    mine = plan.commitments.get(owner_kind="patient")
    row = _row(client.get(reverse("contracts:my_plan")).content.decode(), mine)
    tick = reverse("contracts:tick_commitment", args=[plan.patient_id, mine.pk])
    assert f'action="{tick}"' in row and f'hx-post="{tick}"' in row
    assert 'aria-label="Mark as done: Väga mig varje morgon">Mark as done</button>' in row
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', row))
    assert fields["version"] == str(version(plan)) and fields["done"] == "1"
    assert len(fields["csrfmiddlewaretoken"]) == 64
    # The token written once for the page is one the CSRF check accepts.
    assert client.post(tick, fields).status_code == 302
    mine.refresh_from_db()
    assert mine.status == Commitment.Status.DONE
    row = _row(client.get(reverse("contracts:my_plan")).content.decode(), mine)
    assert row.startswith(' class="commitment is-done">')
    assert '<span class="badge ok">Done</span> Väga mig varje morgon' in row
    assert 'aria-label="Not done: Väga mig varje morgon">Not done</button>' in row
    assert 'name="done" value="0"' in row


@pytest.mark.django_db
def test_a_staff_row_says_who_and_by_when_and_links_to_its_form(client, plan, nurse):
    client.force_login(nurse)
    ours = plan.commitments.get(owner_staff=nurse)
    Commitment.objects.filter(pk=ours.pk).update(due_date="2031-05-06")
    staff_url = reverse("contracts:staff_plan", args=[plan.patient_id])
    row = _row(client.get(staff_url).content.decode(), ours)
    assert "Hjälpa till med kompressionsstrumpor" in row
    assert '<span class="muted">– Nils Nurse – by 6 May 2031</span>' in row
    change = reverse("contracts:change_commitment", args=[plan.patient_id, ours.pk])
    assert f'href="{staff_url}?edit=commitment-{ours.pk}#commitment-{ours.pk}"' in row
    assert f'hx-get="{change}" hx-target="closest li"' in row
    assert 'aria-label="Change or hand over: Hjälpa till med kompressionsstrumpor"' in row
    # Alone, for htmx: the same row, its form open.
    alone = client.get(change, **HTMX).content.decode()
    assert alone.strip().startswith(f'<li id="commitment-{ours.pk}"')
    assert 'name="owner"' in alone and f'id="commitment-{ours.pk}-what"' in alone


@pytest.mark.django_db
def test_rows_the_viewer_may_not_update_carry_no_controls(client, plan, tolvan):
    client.force_login(tolvan.user)
    theirs = plan.commitments.get(owner_kind="organisation")
    row = _row(client.get(reverse("contracts:my_plan")).content.decode(), theirs)
    assert "<form" not in row and "<a " not in row and "Se över medicinlistan" in row


def test_the_picker_writes_what_djangos_select_writes():
    choices = [
        ("", "Choose"),
        ("Relatives & friends", [("relative:1", "Tova <dotter>"), ("relative:2", "Bo")]),
        ("Named staff", [("staff:1:2", "Nils"), ("staff:1:2", "Nils again")]),
    ]
    for value in ("staff:1:2", "relative:2", "", None, "missing"):
        attrs = {"id": "new-commitment-owner", "autofocus": True, "required": True}
        ours = Picker(choices=choices).render("owner", value, attrs=attrs)
        django = forms.Select(choices=choices).render("owner", value, attrs=attrs)
        assert ours == re.sub(r">\s+<", "><", django).replace("\n", ""), value
    assert "Tova &lt;dotter&gt;" in ours and 'label="Relatives &amp; friends"' in ours


@pytest.mark.django_db
def test_the_owner_picker_keeps_the_current_owner_selected(client, plan, doctor, daughter):
    daughter.access = Relative.Access.WRITE
    daughter.save()
    client.force_login(doctor)
    ours = plan.commitments.get(owner_kind="organisation")
    change = reverse("contracts:change_commitment", args=[plan.patient_id, ours.pk])
    picker = client.get(change, **HTMX).content.decode().split('name="owner"')[1]
    picker = picker.split("</select>")[0]
    assert picker.count(" selected") == 1
    assert f'<option value="organisation:{ours.owner_organisation_id}" selected>' in picker
    assert '<optgroup label="Relatives"><option value="relative:' in picker


@pytest.mark.django_db
def test_the_site_menu_marks_the_current_page(client, plan, tolvan, doctor):
    client.force_login(tolvan.user)
    html = client.get(reverse("contracts:my_plan")).content.decode()
    assert f'<a href="{reverse("contracts:my_plan")}" aria-current="page">My plan</a>' in html
    assert f'<a href="{reverse("access:log")}">Who has read my plan</a>' in html
    client.force_login(doctor)
    html = client.get(reverse("patients:worklist")).content.decode()
    assert f'<a href="{reverse("patients:worklist")}" aria-current="page">My patients' in html


@pytest.mark.django_db
def test_a_reader_cannot_open_a_form_with_or_without_javascript(client, plan, daughter):
    daughter.access = Relative.Access.READ
    daughter.save()
    client.force_login(daughter.user)
    what_matters = reverse("contracts:what_matters", args=[plan.patient_id])
    assert client.get(what_matters).status_code == 403
    assert client.get(what_matters, **HTMX).status_code == 403
