"""A refused read of a patient who exists is logged at every door (PDL, issue 15).

One rule for every door that reads a patient's data by id (REST, FHIR and the staff
pages): an integration or staff member refused a patient who exists writes exactly one
`denied` row in that patient's access log, which the patient sees; a missing id writes
nothing. The rows are checked after the 404 has been answered: a door that wrote its
row inside a transaction the 404 rolls back would fail here (the test's own transaction
keeps every door's savepoints visible).
"""

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token
from django.conf import settings
from django.test import Client
from django.urls import reverse
from second_factor import verified_login

from actors.models import User
from contracts.models import FixedCareContact, Goal
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations"]

MISSING = 999_999


@pytest.fixture
def tolvans_plan(plan):
    """Tolvan's plan with a goal too, so that every kind of row has an id to ask for."""
    goal = Goal.objects.create(contract=plan, text="Gå till affären själv")
    commitment = plan.commitments.order_by("pk").first()
    return {
        "patient": plan.patient_id,
        "contract": plan.pk,
        "goal": goal.pk,
        "commitment": commitment.pk,
        "step": plan.next_steps.get().pk,
        "contact": FixedCareContact.objects.get(contract=plan).pk,
    }


def ids_missing():
    return dict.fromkeys(("patient", "contract", "goal", "commitment", "step", "contact"), MISSING)


# (door, URL with the ids of the row it reads)
INTEGRATION_DOORS = [
    ("REST patient", "/api/v1/patients/{patient}/"),
    ("REST care team", "/api/v1/patients/{patient}/care-team/"),
    ("REST contract", "/api/v1/contracts/{contract}/"),
    ("REST contract events", "/api/v1/contracts/{contract}/events/"),
    ("REST commitment", "/api/v1/commitments/{commitment}/"),
    ("REST next step", "/api/v1/next-steps/{step}/"),
    ("FHIR Patient", "/fhir/R4/Patient/{patient}"),
    ("FHIR CarePlan", "/fhir/R4/CarePlan/{contract}"),
    ("FHIR Goal", "/fhir/R4/Goal/{goal}"),
    ("FHIR Task (next step)", "/fhir/R4/Task/nextstep-{step}"),
    ("FHIR Task (commitment)", "/fhir/R4/Task/commitment-{commitment}"),
    ("FHIR CareTeam", "/fhir/R4/CareTeam/team-{patient}"),
    ("FHIR CareTeam (fixed care contact)", "/fhir/R4/CareTeam/contact-{contact}"),
]

STAFF_PAGE_DOORS = [
    ("plan page", "contracts:staff_plan", ()),
    ("history", "contracts:history", ()),
    ("calendar export", "contracts:next_step_ics", ()),
    ("relative's view of the plan", "contracts:relative_plan", ()),
    ("what matters form", "contracts:what_matters", ()),
    ("commitment form", "contracts:change_commitment", ("commitment",)),
]


def denied_rows():
    return list(AccessLogEntry.objects.values_list("action", "patient_id"))


@pytest.mark.parametrize(("door", "url"), INTEGRATION_DOORS, ids=[d for d, _ in INTEGRATION_DOORS])
def test_an_integration_refused_a_patient_leaves_one_denied_row_at_every_door(
    integrations, tolvans_plan, door, url
):
    cardiology = Api(issue_token(integrations["cardiology"]))  # not on Tolvan's team

    assert cardiology.get(url.format(**ids_missing())).status_code == 404
    assert denied_rows() == []  # a missing id writes nothing

    assert cardiology.get(url.format(**tolvans_plan)).status_code == 404
    assert denied_rows() == [("denied", tolvans_plan["patient"])]
    entry = AccessLogEntry.objects.get()
    assert entry.organisation == integrations["cardiology"].organisation
    assert entry.api_client == integrations["cardiology"].name


def test_an_integration_refused_a_write_leaves_one_denied_row(integrations, tolvans_plan):
    cardiology = Api(issue_token(integrations["cardiology"]))
    url = "/api/v1/contracts/{contract}/what-matters/"
    body = {"what_matters": "Något annat"}
    headers = {"If-Match": '"contract-1-v1"'}
    assert cardiology.put(url.format(**ids_missing()), body, headers=headers).status_code == 404
    assert denied_rows() == []
    response = cardiology.put(url.format(**tolvans_plan), body, headers=headers)
    assert response.status_code == 404
    assert denied_rows() == [("denied", tolvans_plan["patient"])]


@pytest.mark.parametrize(
    ("door", "name", "extra"), STAFF_PAGE_DOORS, ids=[d for d, _n, _e in STAFF_PAGE_DOORS]
)
def test_staff_refused_a_patient_leave_one_denied_row_at_every_page(
    cardiologist, tolvans_plan, door, name, extra
):
    client = Client(headers={"accept-language": "en"})
    verified_login(client, cardiologist)  # a clinician of a unit not on Tolvan's team

    def url(ids):
        return reverse(name, args=[ids["patient"], *(ids[key] for key in extra)])

    assert client.get(url(ids_missing())).status_code == 404
    assert denied_rows() == []

    assert client.get(url(tolvans_plan)).status_code == 404
    assert denied_rows() == [("denied", tolvans_plan["patient"])]
    assert AccessLogEntry.objects.get().user == cardiologist


def test_a_relative_reading_the_plan_leaves_no_denied_row(tolvan, daughter, greta_login):
    # The relative's page is for patients and relatives: their reads are not logged, and
    # a refusal of someone who is not staff (another patient) is not a staff read either.
    relative = Client()
    verified_login(relative, daughter.user)
    url = reverse("contracts:relative_plan", args=[tolvan.pk])
    assert relative.get(url).status_code == 200
    other = Client()
    verified_login(other, greta_login)
    assert other.get(url).status_code == 404
    assert denied_rows() == []


@pytest.fixture
def greta_login(db):
    return User.objects.create_user(email="greta@example.org", password="pw")


def test_requests_are_not_atomic_so_a_404_keeps_its_denied_row():
    # With ATOMIC_REQUESTS every page's 404 would roll its `denied` row back with it
    # (and DRF marks the request's transaction for rollback on every error answer).
    # patients.access writes the row in autocommit; this keeps it that way.
    assert not settings.DATABASES["default"].get("ATOMIC_REQUESTS", False)
