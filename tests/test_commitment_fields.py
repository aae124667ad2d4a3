"""A commitment's plain fields are named once (Commitment.EDITABLE): the doors, the services,
the events and both one-statement reads follow that list and the serializers."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from personas import version

from api import serializers as s
from contracts import services
from contracts.forms import CommitmentEditForm, CommitmentForm
from contracts.history import Actor
from contracts.models import Commitment, Event
from contracts.plan_read import COMMITMENT_FIELDS

pytest_plugins = ["api_fixtures"]

pytestmark = pytest.mark.django_db


def test_every_editable_field_has_a_form_field_an_api_field_and_a_page_column():
    for name in Commitment.EDITABLE:
        assert name in CommitmentForm.base_fields
        assert name in CommitmentEditForm.base_fields
        assert name in s.CommitmentCreate().fields
        assert name in s.CommitmentUpdate().fields
        assert name in s.CommitmentOut().fields
        assert name in {f.attname for f in COMMITMENT_FIELDS}


def _doctor(doctor, network):
    return Actor.staff(doctor, network["vardcentral"])


def test_a_field_that_is_not_editable_is_refused(plan, doctor, network):
    with pytest.raises(TypeError, match="status"):
        services.add_commitment(
            actor=_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            what="Ringa",
            owner_kind="patient",
            status="done",
        )


def test_the_models_own_rules_check_an_editable_field(plan, doctor, network):
    with pytest.raises(ValidationError) as refused:
        services.add_commitment(
            actor=_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            what="Ringa",
            owner_kind="patient",
            due_date="not a date",
        )
    assert "due_date" in refused.value.message_dict


def test_the_event_carries_the_editable_fields_before_and_after(plan, doctor, network):
    vc = network["vardcentral"]
    commitment = plan.commitments.get(owner_organisation=vc)
    due = timezone.localdate() + timedelta(days=3)
    services.update_commitment(
        actor=_doctor(doctor, network),
        commitment=commitment,
        expected_version=version(plan),
        due_date=due,
    )
    event = Event.objects.filter(contract=plan).latest("id")
    assert event.kind == "commitment_changed"
    assert set(Commitment.EDITABLE) <= set(event.before) & set(event.after)
    assert (event.before["what"], event.before["due_date"]) == (commitment.what, None)
    assert event.after["due_date"] == due.isoformat()


@pytest.mark.parametrize("door", ["page", "api"])
def test_staff_clear_a_due_date_through_either_door(client, vc_api, plan, doctor, network, door):
    """One use case, one behaviour: the page and the REST API both clear a due date."""
    vc = network["vardcentral"]
    commitment = plan.commitments.get(owner_organisation=vc)
    Commitment.objects.filter(pk=commitment.pk).update(
        due_date=timezone.localdate() + timedelta(days=3)
    )
    if door == "page":
        client.force_login(doctor)
        response = client.post(
            reverse("contracts:change_commitment", args=[plan.patient_id, commitment.pk]),
            {
                "version": version(plan),
                "what": commitment.what,
                "owner": f"organisation:{vc.pk}",
                "due_date": "",
            },
        )
        assert response.status_code == 302
    else:
        response = vc_api.patch(
            f"/api/v1/commitments/{commitment.pk}/",
            {"due_date": None},
            headers={"If-Match": f'"contract-{plan.pk}-v{version(plan)}"'},
        )
        assert response.status_code == 200, response.content
    commitment.refresh_from_db()
    assert commitment.due_date is None
