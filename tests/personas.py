"""Fictional personas, built through the services, shared by the test modules.

A small network in Region Uppsala: a vårdcentral and a cardiology unit under the
region, home health care under Tierp municipality. Tolvan Tolvansson is the patient.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from actors.models import Membership, Organisation, OrganisationKind, Role, User
from contracts import services
from contracts.history import Actor
from contracts.models import Notification
from patients import services as patient_services
from patients.models import Relative

SYSTEM = Actor.system("tests")


def version(contract):
    """The contract's current version, as a client that just reloaded the page sees it."""
    contract.refresh_from_db(fields=["version"])
    return contract.version


def make_staff(email, organisation, role, first="", last=""):
    user = User.objects.create_user(email=email, password="pw", first_name=first, last_name=last)
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def network(db):
    region = Organisation.objects.create(
        name="Region Uppsala", kind=OrganisationKind.REGION, county_code="03"
    )
    tierp = Organisation.objects.create(
        name="Tierps kommun",
        kind=OrganisationKind.MUNICIPALITY,
        municipality_code="0360",
        county_code="03",
    )
    return {
        "region": region,
        "tierp": tierp,
        "vardcentral": Organisation.objects.create(
            name="Vårdcentralen Tierp",
            kind=OrganisationKind.PRIMARY_CARE,
            parent=region,
            hsa_id="SE2321000032-vc01",
        ),
        "cardiology": Organisation.objects.create(
            name="Kardiologmottagningen",
            kind=OrganisationKind.HOSPITAL_UNIT,
            parent=region,
        ),
        "home_health": Organisation.objects.create(
            name="Hemsjukvården Tierp",
            kind=OrganisationKind.HOME_HEALTH_CARE,
            parent=tierp,
        ),
    }


@pytest.fixture
def doctor(network):
    return make_staff(
        "doktor@example.org", network["vardcentral"], Role.CLINICIAN, "Doris", "Doktor"
    )


@pytest.fixture
def nurse(network):
    return make_staff(
        "sjukskoterska@example.org", network["home_health"], Role.HOME_CARE, "Nils", "Nurse"
    )


@pytest.fixture
def coordinator(network):
    return make_staff(
        "samordnare@example.org", network["vardcentral"], Role.COORDINATOR, "Cora", "Samordnare"
    )


@pytest.fixture
def cardiologist(network):
    """Works at a unit that is NOT on Tolvan's care team."""
    return make_staff(
        "kardiolog@example.org", network["cardiology"], Role.CLINICIAN, "Kalle", "Kardiolog"
    )


@pytest.fixture
def tolvan(network):
    user = User.objects.create_user(email="tolvan@example.org", password="pw")
    patient = patient_services.register_patient(
        actor=SYSTEM,
        identity_number="19121212-1212",
        given_name="Tolvan",
        family_name="Tolvansson",
        phone="+46701234567",
        email="tolvan@example.org",
    )
    patient.user = user
    patient.save(update_fields=["user"])
    for key in ("vardcentral", "home_health"):
        patient_services.add_to_care_team(
            actor=SYSTEM, patient=patient, organisation=network[key], consent=True
        )
    # Joining told Tolvan who can now see his plan (reminders.notify.sharing_changed).
    # He starts with an empty outbox, as the plan fixture does; tests/test_abuse_fixes.py
    # has those notices.
    Notification.objects.filter(recipient_patient=patient, kind="sharing_changed").delete()
    return patient


@pytest.fixture
def daughter(tolvan):
    user = User.objects.create_user(email="dotter@example.org", password="pw")
    return Relative.objects.create(
        patient=tolvan,
        user=user,
        name="Tova Tolvansson",
        relation="dotter",
        access=Relative.Access.WRITE,
    )


@pytest.fixture
def plan(tolvan, doctor, nurse, network):
    """Tolvan's contract with all four parts."""
    as_doctor = Actor.staff(doctor, network["vardcentral"])
    contract = services.create_contract(
        actor=as_doctor, patient=tolvan, what_matters="Att kunna gå till affären själv."
    )
    services.agree_next_step(
        actor=as_doctor,
        contract=contract,
        expected_version=version(contract),
        scheduled_at=timezone.now() + timedelta(days=3),
        channel="home_visit",
        purpose="Följa upp vikt och andning",
        with_whom="Distriktssköterskan",
    )
    services.add_commitment(
        actor=as_doctor,
        contract=contract,
        expected_version=version(contract),
        what="Väga mig varje morgon",
        owner_kind="patient",
    )
    services.add_commitment(
        actor=as_doctor,
        contract=contract,
        expected_version=version(contract),
        what="Se över medicinlistan",
        owner_kind="organisation",
        owner_organisation=network["vardcentral"],
    )
    services.add_commitment(
        actor=as_doctor,
        contract=contract,
        expected_version=version(contract),
        what="Hjälpa till med kompressionsstrumpor",
        owner_kind="staff",
        owner_organisation=network["home_health"],
        owner_staff=nurse,
    )
    services.assign_fixed_care_contact(
        actor=as_doctor,
        contract=contract,
        expected_version=version(contract),
        staff=doctor,
        organisation=network["vardcentral"],
    )
    # The assignment told the doctor and Tolvan (reminders.notify). The plan starts with
    # an empty outbox, as the outbox and sweep tests count what they queue themselves;
    # the tests of that news make an assignment of their own.
    Notification.objects.filter(contract=contract).delete()
    contract.refresh_from_db()
    return contract
