"""Fictional personas for the coordination tests, on top of tests/personas.py.

A ward at the university hospital (Avdelning 30) joins Tolvan's care team; Tierp's
home health care has a coordinator of its own; more fictional patients get plans
without a fixed care contact.
"""

from datetime import date, timedelta

import pytest
from personas import SYSTEM, make_staff

from actors.models import Organisation, OrganisationKind, Role
from contracts import services
from contracts.history import Actor
from contracts.models import Notification
from coordination import services as coordination
from patients import services as patient_services
from patients.identity import luhn_check_digit


def fictional_number(n: int) -> str:
    """A valid personnummer born 1940-01-01 + n days, with a made-up serial number."""
    born = date(1940, 1, 1) + timedelta(days=n)
    nine = f"{born:%y%m%d}{n % 1000:03d}"
    return f"{born:%Y%m%d}{n % 1000:03d}{luhn_check_digit(nine)}"


def patient_with_plan(network, n, *, teams=("vardcentral",), by=None, family="Testsson"):
    """A fictional patient on the given teams, with a plan and no fixed care contact."""
    patient = patient_services.register_patient(
        actor=SYSTEM,
        identity_number=fictional_number(n),
        given_name=f"Person{n}",
        family_name=family,
        phone=f"+4670000{n:04d}",
    )
    for key in teams:
        patient_services.add_to_care_team(
            actor=SYSTEM, patient=patient, organisation=network[key], consent=True
        )
    # As for Tolvan (personas.tolvan): the patient starts with an empty outbox.
    Notification.objects.filter(recipient_patient=patient, kind="sharing_changed").delete()
    actor = Actor.staff(by, network[teams[0]]) if by else SYSTEM
    contract = services.create_contract(actor=actor, patient=patient)
    return patient, contract


@pytest.fixture
def ward(network, tolvan):
    """A hospital ward on Tolvan's care team, with his consent."""
    unit = Organisation.objects.create(
        name="Avdelning 30, Akademiska sjukhuset",
        kind=OrganisationKind.HOSPITAL_UNIT,
        parent=network["region"],
    )
    patient_services.add_to_care_team(actor=SYSTEM, patient=tolvan, organisation=unit, consent=True)
    return unit


@pytest.fixture
def ward_nurse(ward):
    return make_staff("avdelning30@example.org", ward, Role.CLINICIAN, "Vera", "Avdelning")


@pytest.fixture
def municipal_coordinator(network):
    return make_staff(
        "kommunsamordnare@example.org",
        network["home_health"],
        Role.COORDINATOR,
        "Kim",
        "Kommun",
    )


@pytest.fixture
def admit(tolvan, ward_nurse, ward, network):
    """Admit Tolvan to the ward now, with Tierp's vårdcentral and home health to be told."""

    def admit(**kwargs):
        return coordination.register_admission(
            actor=Actor.staff(ward_nurse, ward),
            patient=tolvan,
            hospital_unit=ward,
            primary_care=network["vardcentral"],
            municipality_unit=network["home_health"],
            **kwargs,
        )

    return admit


@pytest.fixture
def new_plan(network):
    """Make a fictional patient with a plan and no fixed care contact: new_plan(n, ...)."""

    def new_plan(n, **kwargs):
        return patient_with_plan(network, n, **kwargs)

    return new_plan
