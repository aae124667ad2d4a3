"""The patient's access pages: who has read my plan, consent, relatives; emergency access."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from personas import make_staff

from actors.assurance import LOA3
from actors.assurance import SESSION_KEY as ASSURANCE_KEY
from actors.models import Role
from contracts.history import Actor
from patients import services as patient_services
from patients.access import (
    EMERGENCY_SESSION_KEY,
    EmergencyReason,
    NoAccess,
    emergency_reason_for,
    get_patient_for,
    logged_in_at,
)
from patients.models import AccessLogEntry, Consent, Relative

pytestmark = pytest.mark.django_db

LOG = "/my-plan/access-log/"
CONSENT = "/my-plan/consent/"
RELATIVES = "/my-plan/relatives/"


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


def staff_reads(user, patient, times=1, emergency_reason=None, **kwargs):
    if emergency_reason:
        kwargs["emergency_reason"] = EmergencyReason("acute_cannot_ask", emergency_reason)
    with logged_in_at(LOA3):
        for _ in range(times):
            get_patient_for(user, patient.pk, **kwargs)


def e_legitimation(client):
    """The client's session logged in at assurance level 3, as the OIDC login records it."""
    session = client.session
    session[ASSURANCE_KEY] = {"level": LOA3, "method": "oidc:staff"}
    session.save()


EMERGENCY = {
    "category": "acute_cannot_ask",
    "reason": "Akut försämring på akuten, patienten kan inte svara",
}


# --- who has read my plan ------------------------------------------------------------


def test_patient_sees_who_has_read_the_plan_in_stockholm_time(client, tolvan, doctor):
    # 07:30 UTC in January is 08:30 in Stockholm.
    with time_machine.travel(datetime(2026, 1, 15, 7, 30, tzinfo=UTC), tick=False):
        staff_reads(doctor, tolvan)
    client.force_login(tolvan.user)
    html = client.get(LOG).content.decode()
    assert "Doris Doktor" in html
    assert "Vårdcentralen Tierp" in html
    assert "Clinician" in html
    assert "Read the plan" in html
    assert "08:30" in html and "07:30" not in html


def test_the_log_shows_only_the_patients_own_rows(client, tolvan, doctor, network):
    other = patient_services.register_patient(
        actor=Actor.system("tests"),
        identity_number="19100101-0105",
        given_name="Greta",
        family_name="Prov",
    )
    patient_services.add_to_care_team(
        actor=Actor.system("tests"),
        patient=other,
        organisation=network["home_health"],
        consent=True,
    )
    other_reader = make_staff("annan@example.org", network["home_health"], Role.HOME_CARE, "Anna")
    staff_reads(other_reader, other)
    staff_reads(doctor, tolvan)
    client.force_login(tolvan.user)
    html = client.get(LOG).content.decode()
    assert "Doris Doktor" in html
    assert "Anna" not in html
    # Asking for another patient's log by id gives 404, not their rows.
    assert client.get(LOG, {"patient": other.pk}).status_code == 404


def test_emergency_reads_are_flagged_with_their_reason(client, tolvan, cardiologist):
    staff_reads(cardiologist, tolvan, emergency_reason="Medvetslös på akuten, kan inte svara")
    client.force_login(tolvan.user)
    html = client.get(LOG).content.decode()
    assert "Emergency access" in html
    assert "Medvetslös på akuten" in html
    assert "Acute care, and the patient cannot be asked" in html
    assert "Logged in with e-legitimation" in html


def test_a_relative_with_access_sees_the_log_and_one_without_does_not(
    client, tolvan, daughter, doctor
):
    staff_reads(doctor, tolvan)
    client.force_login(daughter.user)
    response = client.get(LOG)
    assert response.status_code == 200
    assert "Doris Doktor" in response.content.decode()
    patient_services.set_relative_access(
        actor=Actor.patient(tolvan.user), relative=daughter, access=Relative.Access.NONE
    )
    assert client.get(LOG).status_code == 404


def test_staff_have_no_access_log_of_their_own(client, doctor, tolvan):
    client.force_login(doctor)
    assert client.get(LOG).status_code == 404


def test_the_log_is_paginated_with_a_fixed_number_of_queries(client, tolvan, doctor, nurse):
    client.force_login(tolvan.user)

    def queries_for_page():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LOG).status_code == 200
        return len(captured)

    staff_reads(doctor, tolvan, times=2)
    few = queries_for_page()
    staff_reads(nurse, tolvan, times=40)
    many = queries_for_page()
    assert few == many
    html = client.get(LOG).content.decode()
    assert "Page 1 of 2" in html
    assert client.get(LOG, {"page": 2}).status_code == 200


# --- consent ---------------------------------------------------------------------------


def test_patient_withdraws_and_gives_back_consent_after_confirming(client, tolvan, doctor, network):
    vardcentral = network["vardcentral"]
    client.force_login(tolvan.user)
    page = client.get(CONSENT).content.decode()
    assert "Vårdcentralen Tierp" in page and "Hemsjukvården Tierp" in page
    url = reverse("access:consent_change", args=[vardcentral.pk, "withdraw"])
    assert "Vårdcentralen Tierp" in client.get(url).content.decode()  # the confirmation
    assert Consent.objects.get(patient=tolvan, organisation=vardcentral).status == "given"

    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == CONSENT
    assert "can no longer see your plan" in response.content.decode()
    with pytest.raises(NoAccess):
        get_patient_for(doctor, tolvan.pk)

    client.post(reverse("access:consent_change", args=[vardcentral.pk, "give"]))
    get_patient_for(doctor, tolvan.pk)
    assert tolvan.events.filter(kind="consent_withdrawn", actor=tolvan.user).exists()


def test_consent_pages_are_the_patients_own(client, tolvan, daughter, network, cardiologist):
    url = reverse("access:consent_change", args=[network["vardcentral"].pk, "withdraw"])
    client.force_login(daughter.user)
    assert client.get(CONSENT).status_code == 404
    assert client.post(url).status_code == 404
    client.force_login(tolvan.user)
    # An organisation that has nothing to do with the patient, and a made-up change.
    assert (
        client.get(
            reverse("access:consent_change", args=[network["cardiology"].pk, "give"])
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("access:consent_change", args=[network["vardcentral"].pk, "delete"])
        ).status_code
        == 404
    )


# --- relatives -------------------------------------------------------------------------


def test_patient_sets_what_a_relative_may_do(client, tolvan, daughter):
    client.force_login(tolvan.user)
    assert "Tova Tolvansson" in client.get(RELATIVES).content.decode()
    url = reverse("access:relative_access", args=[daughter.pk])
    response = client.post(url, {f"{daughter.pk}-access": "read"}, follow=True)
    assert response.redirect_chain[-1][0] == RELATIVES
    daughter.refresh_from_db()
    assert daughter.access == Relative.Access.READ
    event = tolvan.events.get(kind="relative_access_changed")
    assert event.actor == tolvan.user


def test_a_relative_of_another_patient_cannot_be_changed(client, tolvan, daughter, network):
    other = patient_services.register_patient(
        actor=Actor.system("tests"),
        identity_number="19100101-0105",
        given_name="Greta",
        family_name="Prov",
    )
    stranger = Relative.objects.create(patient=other, name="Sven Prov", access="write")
    client.force_login(tolvan.user)
    url = reverse("access:relative_access", args=[stranger.pk])
    assert client.post(url, {f"{stranger.pk}-access": "none"}).status_code == 404
    stranger.refresh_from_db()
    assert stranger.access == "write"


# --- emergency access ------------------------------------------------------------------


def test_emergency_access_asks_for_a_reason_and_shows_no_patient_data(client, tolvan, cardiologist):
    url = reverse("access:emergency", args=[tolvan.pk])
    client.force_login(cardiologist)
    e_legitimation(client)
    page = client.get(url)
    assert page.status_code == 200
    assert "Tolvan" not in page.content.decode()
    refused = client.post(url, {"category": "acute_cannot_ask", "reason": "  "})
    assert refused.status_code == 400
    assert "State why you need emergency access" in refused.content.decode()
    assert not AccessLogEntry.objects.exists()


def test_emergency_reason_is_kept_for_the_plan_page_for_one_hour(
    client, tolvan, cardiologist, settings
):
    url = reverse("access:emergency", args=[tolvan.pk])
    client.force_login(cardiologist)
    e_legitimation(client)
    response = client.post(url, EMERGENCY)
    assert response.status_code == 302
    assert response["Location"] == reverse("contracts:staff_plan", args=[tolvan.pk])
    request = type("Request", (), {"session": client.session})()
    assert emergency_reason_for(request, tolvan.pk) == EmergencyReason(
        EMERGENCY["category"], EMERGENCY["reason"]
    )
    assert emergency_reason_for(request, tolvan.pk + 1) is None
    # An hour later the reason no longer opens the plan.
    grants = client.session[EMERGENCY_SESSION_KEY]
    grants[str(tolvan.pk)]["until"] -= settings.NARAVARD_EMERGENCY_ACCESS_SECONDS + 1
    request.session = {EMERGENCY_SESSION_KEY: grants}
    assert emergency_reason_for(request, tolvan.pk) is None


def test_staff_plan_page_opens_with_emergency_access(client, plan, tolvan, cardiologist):
    client.force_login(cardiologist)
    e_legitimation(client)
    client.post(reverse("access:emergency", args=[tolvan.pk]), EMERGENCY)
    response = client.get(reverse("contracts:staff_plan", args=[tolvan.pk]))
    assert response.status_code == 200
    assert "emergency access" in response.content.decode()
    row = AccessLogEntry.objects.get(user=cardiologist)
    assert (row.emergency, row.reason, row.assurance_level) == (True, EMERGENCY["reason"], LOA3)


def test_emergency_access_is_for_staff_only(client, tolvan, daughter):
    client.force_login(daughter.user)
    assert client.get(reverse("access:emergency", args=[tolvan.pk])).status_code == 404


def test_org_admin_reviews_emergency_reads_of_their_staff(client, tolvan, cardiologist, network):
    staff_reads(cardiologist, tolvan, emergency_reason="Akut, medvetslös, kan inte svara")
    region_admin = make_staff("admin@example.org", network["region"], Role.ORG_ADMIN, "Ada")
    home_admin = make_staff("kommun@example.org", network["home_health"], Role.ORG_ADMIN, "Kim")
    client.force_login(region_admin)
    html = client.get("/access/emergency/").content.decode()
    assert "Kalle Kardiolog" in html and "Akut, medvetslös" in html
    # The municipality's admin reviews their own staff, not the region's.
    client.force_login(home_admin)
    assert "Kalle Kardiolog" not in client.get("/access/emergency/").content.decode()


def test_the_emergency_review_list_is_for_org_admins(client, doctor):
    client.force_login(doctor)
    assert client.get("/access/emergency/").status_code == 403
