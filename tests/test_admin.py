"""The operator's admin: every registered model's pages load for a superuser, list and
change pages use a fixed number of queries, and the audit trails cannot be edited.

Parametrised over `admin.site._registry`, so a newly registered model is covered.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from personas import make_staff
from second_factor import verified_login

from actors.models import Organisation, Role, User
from contracts import services
from contracts.history import Actor
from contracts.models import (
    ContactPath,
    Contract,
    Event,
    FollowUpTask,
    Goal,
    Notification,
    WarningSign,
)
from patients import services as patient_services
from patients.access import get_patient_for
from patients.identity import luhn_check_digit
from patients.models import (
    AccessLogEntry,
    CareTeamMember,
    Consent,
    EmergencyReview,
    Patient,
    Relative,
)

pytest_plugins = ["personas"]

SYSTEM = Actor.system("tests")

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
# A model of ours without a row in `world` fails the change-page test, so the fixture
# grows with the models; third-party models (OAuth tokens and the like) are skipped.
OUR_APPS = {"actors", "patients", "contracts"}
READ_ONLY = [AccessLogEntry, Event, Consent, CareTeamMember, Notification, FollowUpTask]


def model_id(item):
    return item[0]._meta.label


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def identity_number(n: int) -> str:
    nine = f"4501{n:02d}123"
    return f"19{nine}{luhn_check_digit(nine)}"


def add_plan_parts(contract, actor, network, nurse, relative, n, care_contact=None):
    """One more of every part of the plan, through the services where they exist."""
    services.agree_next_step(
        actor=actor,
        contract=contract,
        expected_version=contract.version,
        scheduled_at=timezone.now() + timedelta(days=n + 1),
        channel="visit",
        purpose=f"Uppföljning {n}",
        staff=actor.user,
    )
    for owner in (
        {"owner_kind": "patient"},
        {"owner_kind": "organisation", "owner_organisation": network["vardcentral"]},
        {"owner_kind": "staff", "owner_organisation": network["home_health"], "owner_staff": nurse},
        {"owner_kind": "relative", "owner_relative": relative},
    ):
        contract.refresh_from_db()
        services.add_commitment(
            actor=actor,
            contract=contract,
            expected_version=contract.version,
            what=f"Åtagande {n} för {owner['owner_kind']}",
            **owner,
        )
    contract.refresh_from_db()
    services.assign_fixed_care_contact(
        actor=actor,
        contract=contract,
        expected_version=contract.version,
        staff=care_contact or actor.user,
        organisation=network["vardcentral"],
        how_to_reach="Ring 0293-123 45",
        started_on=timezone.localdate() + timedelta(days=n),
    )
    # Goals, warning signs and contact paths have no service of their own yet.
    Goal.objects.create(contract=contract, text=f"Mål {n}", position=n)
    WarningSign.objects.create(contract=contract, sign=f"Andfådd {n}", action="Ring 1177")
    ContactPath.objects.create(
        contract=contract,
        kind=ContactPath.Kind.PHONE,
        label=f"Vårdcentralen {n}",
        value="0293-123 45",
        organisation=network["vardcentral"],
    )
    patient = contract.patient
    get_patient_for(actor.user, patient.pk)
    emergency_read = AccessLogEntry.objects.create(
        user=nurse,
        organisation=network["home_health"],
        patient=patient,
        action=AccessLogEntry.Action.VIEW_PLAN,
        emergency=True,
        reason="Akut försämring",
    )
    EmergencyReview.objects.create(
        entry=emergency_read,
        reviewer=actor.user,
        organisation=network["vardcentral"],
        verdict=EmergencyReview.Verdict.JUSTIFIED,
    )
    for status in (Notification.Status.FAILED, Notification.Status.SENT):
        Notification.objects.create(
            dedupe_key=f"test:{contract.pk}:{n}:{status}",
            kind="next_step_48h",
            channel=Notification.Channel.SMS,
            recipient_patient=patient,
            contract=contract,
            address="+46701234567",
            body="Påminnelse",
            status=status,
        )
    FollowUpTask.objects.create(
        dedupe_key=f"test:{contract.pk}:{n}",
        kind=FollowUpTask.Kind.REVIEW_DUE,
        contract=contract,
        assigned_organisation=network["vardcentral"],
        due_at=timezone.now(),
    )


def add_patient_with_plan(n, network, doctor, nurse):
    patient = patient_services.register_patient(
        actor=SYSTEM,
        identity_number=identity_number(n),
        given_name=f"Patient{n}",
        family_name="Testsson",
    )
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=patient, organisation=network["vardcentral"], consent=True
    )
    patient_services.add_to_care_team(
        actor=SYSTEM,
        patient=patient,
        organisation=network["home_health"],
        staff=nurse,
        consent=True,
    )
    relative = Relative.objects.create(
        patient=patient,
        user=User.objects.create_user(email=f"anhorig{n}@example.org"),
        name=f"Anhörig {n}",
        access=Relative.Access.READ,
    )
    actor = Actor.staff(doctor, network["vardcentral"])
    contract = services.create_contract(actor=actor, patient=patient, what_matters="Att orka")
    add_plan_parts(contract, actor, network, nurse, relative, n)
    return contract


@pytest.fixture
def world(network, doctor, nurse):
    Group.objects.create(name="Samordnare")
    return add_patient_with_plan(1, network, doctor, nurse)


def grow(world, network, doctor, nurse):
    """More of everything: another patient, and more rows under the first one's objects."""
    add_patient_with_plan(2, network, doctor, nurse)
    contract = Contract.objects.get(pk=world.pk)
    actor = Actor.staff(doctor, network["vardcentral"])
    relative = world.patient.relatives.get()
    successor = make_staff("efterträdare@example.org", network["vardcentral"], Role.CLINICIAN)
    add_plan_parts(contract, actor, network, nurse, relative, 3, care_contact=successor)
    Relative.objects.create(patient=world.patient, name="Granne", relation="granne")
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=world.patient, organisation=network["cardiology"], consent=True
    )
    User.objects.get(email="sjukskoterska@example.org").memberships.create(
        organisation=network["vardcentral"], role=Role.CLINICIAN
    )
    Organisation.objects.create(
        name="Vårdcentralen Örbyhus", kind="primary_care", parent=network["region"]
    )


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("registered", REGISTERED, ids=model_id)
def test_changelist_loads_for_every_registered_model(admin_client, world, registered):
    model, _model_admin = registered

    response = admin_client.get(admin_url(model, "changelist"))
    searched = admin_client.get(admin_url(model, "changelist"), {"q": "Patient1"})

    assert response.status_code == 200
    assert searched.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("registered", REGISTERED, ids=model_id)
def test_add_page_loads_where_adding_is_allowed(admin_client, world, registered):
    model, model_admin = registered
    request = admin_client.get(admin_url(model, "changelist")).wsgi_request

    response = admin_client.get(admin_url(model, "add"))

    expected = 200 if model_admin.has_add_permission(request) else 403
    assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("registered", REGISTERED, ids=model_id)
def test_change_page_loads_for_every_registered_model(admin_client, world, registered):
    model, _model_admin = registered
    obj = model._default_manager.order_by("pk").first()
    if obj is None and model._meta.app_label not in OUR_APPS:
        pytest.skip(f"no {model._meta.label} row to open")
    assert obj is not None, f"add a {model._meta.label} row to the world fixture"

    response = admin_client.get(admin_url(model, "change", obj.pk))

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("registered", REGISTERED, ids=model_id)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, world, network, doctor, nurse, registered
):
    model, _model_admin = registered
    url = admin_url(model, "changelist")
    admin_client.get(url)  # fill the process-wide caches (content types) first
    before = count_queries(admin_client, url)

    grow(world, network, doctor, nurse)

    assert count_queries(admin_client, url) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model, pick",
    [
        (Contract, lambda world, network, doctor: world),
        (Patient, lambda world, network, doctor: world.patient),
        (Organisation, lambda world, network, doctor: network["vardcentral"]),
        (User, lambda world, network, doctor: doctor),
    ],
    ids=["contract", "patient", "organisation", "user"],
)
def test_change_page_queries_do_not_grow_with_inline_rows(
    admin_client, world, network, doctor, nurse, model, pick
):
    url = admin_url(model, "change", pick(world, network, doctor).pk)
    admin_client.get(url)
    before = count_queries(admin_client, url)

    grow(world, network, doctor, nurse)

    assert count_queries(admin_client, url) == before


@pytest.mark.django_db
@pytest.mark.parametrize("model", READ_ONLY, ids=lambda model: model._meta.label)
def test_audit_rows_cannot_be_added_changed_or_deleted_in_admin(admin_client, world, model):
    obj = model._default_manager.order_by("pk").first()
    rows = model._default_manager.count()

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    bulk_delete = admin_client.post(
        admin_url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert bulk_delete.status_code in (200, 302)
    assert model._default_manager.count() == rows


@pytest.mark.django_db
def test_contract_admin_shows_plan_parts_read_only(admin_client, world):
    response = admin_client.get(admin_url(Contract, "change", world.pk))

    assert "version" in response.context["adminform"].readonly_fields
    assert "what_matters" in response.context["adminform"].readonly_fields
    inlines = response.context["inline_admin_formsets"]
    assert len(inlines) == 6
    for inline in inlines:
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission


@pytest.mark.django_db
def test_contract_admin_status_change_keeps_version(admin_client, world):
    version = Contract.objects.get(pk=world.pk).version
    page = admin_client.get(admin_url(Contract, "change", world.pk))
    data = {"status": "closed", "review_due": "", "closed_at_0": "", "closed_at_1": ""}
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        management = inline.formset.management_form
        for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{prefix}-{name}"] = management[name].value()

    response = admin_client.post(admin_url(Contract, "change", world.pk), data)

    assert response.status_code == 302
    world.refresh_from_db()
    assert world.status == Contract.Status.CLOSED
    assert world.version == version


@pytest.mark.django_db
def test_operator_retries_failed_notifications(admin_client, world):
    failed = Notification.objects.get(status=Notification.Status.FAILED)
    sent = Notification.objects.get(status=Notification.Status.SENT)
    Notification.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now(), attempts=3)

    response = admin_client.post(
        admin_url(Notification, "changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk, sent.pk]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.status == Notification.Status.PENDING
    assert failed.next_attempt_at is None
    assert sent.status == Notification.Status.SENT


@pytest.mark.django_db
def test_staff_without_change_permission_cannot_retry_notifications(client, world):
    viewer = User.objects.create_user(email="operator@example.org", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    verified_login(client, viewer)
    failed = Notification.objects.get(status=Notification.Status.FAILED)

    client.post(
        admin_url(Notification, "changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk]},
    )

    failed.refresh_from_db()
    assert failed.status == Notification.Status.FAILED


@pytest.mark.django_db
def test_operator_adds_staff_user_with_email_as_login(admin_client, network):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "Ny.Kollega@Example.org",
            "first_name": "Ny",
            "last_name": "Kollega",
            "phone": "",
            "usable_password": "true",
            "password1": "ett-langt-losenord-42",
            "password2": "ett-langt-losenord-42",
            "is_active": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-organisation": network["vardcentral"].pk,
            "memberships-0-role": Role.CLINICIAN,
            "memberships-0-active": "on",
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    user = User.objects.get(email="ny.kollega@example.org")
    assert user.check_password("ett-langt-losenord-42")
    assert user.memberships.get().organisation == network["vardcentral"]


@pytest.mark.django_db
def test_patient_search_finds_identity_number_typed_with_a_dash(admin_client, world):
    typed = f"{world.patient.identity_number[:8]}-{world.patient.identity_number[8:]}"

    response = admin_client.get(admin_url(Patient, "changelist"), {"q": typed})

    assert list(response.context["cl"].result_list) == [world.patient]


@pytest.mark.parametrize("model_name", ["patient", "contract"])
def test_opening_a_patients_record_in_the_admin_is_access_logged(plan, model_name):
    from django.test import Client

    from patients.models import AccessLogEntry

    operator = User.objects.create_superuser(email="drift@example.org", password="pw")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    verified_login(client, operator)
    obj = plan.patient if model_name == "patient" else plan
    url = reverse(f"admin:{obj._meta.app_label}_{model_name}_change", args=[obj.pk])

    assert client.get(url).status_code == 200

    entry = AccessLogEntry.objects.get(user=operator)
    assert (entry.patient, entry.role) == (plan.patient, "admin")


def test_opening_an_event_in_the_admin_is_access_logged(plan):
    from django.test import Client

    from contracts.models import Event
    from patients.models import AccessLogEntry

    operator = User.objects.create_superuser(email="drift2@example.org", password="pw")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    verified_login(client, operator)
    event = Event.objects.filter(contract=plan).first()
    assert client.get(reverse("admin:contracts_event_change", args=[event.pk])).status_code == 200
    assert AccessLogEntry.objects.filter(user=operator, patient=plan.patient).count() == 1


def test_a_relatives_login_cannot_be_moved_in_the_admin(daughter):
    from patients.admin import RelativeAdmin
    from patients.models import Relative

    model_admin = RelativeAdmin(Relative, admin.site)
    assert "user" in model_admin.get_readonly_fields(request=None, obj=daughter)
