"""A relative's access changed or removed in the Django admin goes through the services:
an event in the patient's history and a notice to the patient, as from the patient's own
page (patients.services.set_relative_access, remove_relative)."""

import pytest
from django.test import Client
from django.urls import reverse
from second_factor import verified_login

from actors.models import User
from contracts.models import Event, Notification
from patients.models import Relative

pytestmark = pytest.mark.django_db

pytest_plugins = ["personas"]


@pytest.fixture
def operator_client(db):
    operator = User.objects.create_superuser(email="drift@example.org", password="pw")
    client = Client(headers={"accept-language": "en"})
    verified_login(client, operator)
    client.operator = operator
    return client


def sharing_notices(patient):
    return Notification.objects.filter(kind="sharing_changed", recipient_patient=patient)


def relative_events(patient):
    return Event.objects.filter(patient=patient, kind=Event.Kind.RELATIVE_ACCESS_CHANGED)


def form_data(response) -> dict:
    """What the admin's change page would post back unchanged: its form and inlines."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def test_operator_removing_a_relative_in_the_admin_writes_an_event_and_tells_the_patient(
    operator_client, tolvan, daughter
):
    url = reverse("admin:patients_relative_delete", args=[daughter.pk])
    response = operator_client.post(url, {"post": "yes"})
    assert response.status_code == 302

    assert not Relative.objects.filter(pk=daughter.pk).exists()
    event = relative_events(tolvan).get()
    assert event.actor == operator_client.operator
    assert event.before == {"relative": daughter.pk, "access": "write"}
    assert event.after["access"] == "none" and event.after["removed"] is True
    assert sharing_notices(tolvan).count() == 1


def test_operator_removing_relatives_in_bulk_in_the_admin_tells_the_patient(
    operator_client, tolvan, daughter
):
    response = operator_client.post(
        reverse("admin:patients_relative_changelist"),
        {"action": "delete_selected", "_selected_action": [daughter.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Relative.objects.filter(pk=daughter.pk).exists()
    assert relative_events(tolvan).count() == 1
    assert sharing_notices(tolvan).count() == 1


def test_operator_changing_a_relatives_access_in_the_admin_writes_an_event_and_tells_the_patient(
    operator_client, tolvan, daughter
):
    url = reverse("admin:patients_relative_change", args=[daughter.pk])
    data = form_data(operator_client.get(url))
    data["access"] = Relative.Access.READ
    data["phone"] = "+46709999999"
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    daughter.refresh_from_db()
    assert (daughter.access, daughter.phone) == ("read", "+46709999999")
    event = relative_events(tolvan).get()
    assert (event.before["access"], event.after["access"]) == ("write", "read")
    assert event.actor == operator_client.operator
    assert sharing_notices(tolvan).count() == 1

    # Saving again without a change of access writes nothing more.
    data["phone"] = "+46708888888"
    assert operator_client.post(url, data).status_code == 302
    assert relative_events(tolvan).count() == 1
    assert sharing_notices(tolvan).count() == 1


def test_operator_removing_a_relative_on_the_patients_page_tells_the_patient(
    operator_client, tolvan, daughter
):
    url = reverse("admin:patients_patient_change", args=[tolvan.pk])
    data = form_data(operator_client.get(url))
    row = next(key for key, value in data.items() if key.endswith("-id") and value == daughter.pk)
    data[row.removesuffix("-id") + "-DELETE"] = "on"
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]

    assert not Relative.objects.filter(pk=daughter.pk).exists()
    assert relative_events(tolvan).get().after["removed"] is True
    assert sharing_notices(tolvan).count() == 1


def test_operator_giving_access_on_the_patients_page_goes_through_the_service(
    operator_client, tolvan, daughter
):
    url = reverse("admin:patients_patient_change", args=[tolvan.pk])
    data = form_data(operator_client.get(url))
    row = next(key for key, value in data.items() if key.endswith("-id") and value == daughter.pk)
    data[row.removesuffix("-id") + "-access"] = Relative.Access.NONE
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]

    daughter.refresh_from_db()
    assert daughter.access == "none"
    assert relative_events(tolvan).get().after["access"] == "none"
    assert sharing_notices(tolvan).count() == 1
