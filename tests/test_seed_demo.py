"""`manage.py seed_demo`: the demo network, Esther's plan, Tolvan and the varied patients."""

from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from actors.models import Membership, Organisation, OrganisationKind, Role, User
from contracts import demo
from contracts.models import Contract, Event, NextStep, OwnerKind
from patients.identity import is_valid
from patients.models import Consent, Patient, Relative

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The demo logins hash a password each; the real hasher makes that take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # As `make run` seeds: on a developer's machine (tests/test_abuse_fixes.py has the
    # production side).
    settings.DEBUG = True


def seed_demo(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for app in ("actors", "patients", "contracts")
        for model in apps.get_app_config(app).get_models()
    }


def esthers_contract() -> Contract:
    return Contract.objects.get(patient__identity_number=demo.ESTHER_NUMBER)


def test_seed_demo_builds_the_network_in_region_uppsala():
    seed_demo()
    region = Organisation.objects.get(kind=OrganisationKind.REGION, county_code="03")
    tierp = Organisation.objects.get(municipality_code="0360")
    assert Organisation.objects.filter(municipality_code="0380").exists()
    units = {o.kind: o for o in Organisation.objects.filter(hsa_id__startswith="SE2321000032-")}
    assert units[OrganisationKind.PRIMARY_CARE].parent == region
    assert units[OrganisationKind.HOSPITAL_UNIT].principal == region
    assert units[OrganisationKind.HOME_HEALTH_CARE].parent == tierp
    assert units[OrganisationKind.HOME_CARE_SERVICE].principal == tierp
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    admin = User.objects.get(email="admin@naravard.example")
    assert admin.is_superuser and admin.is_staff and admin.check_password("demo1234")
    assert User.objects.get(email="anna.lakare@naravard.example").check_password("demo1234")


def test_seed_demo_gives_esther_a_plan_with_all_four_parts():
    seed_demo()
    contract = esthers_contract()
    esther = contract.patient
    assert esther.full_name == "Esther Lindqvist"
    assert esther.birth_date.year == 1938 and is_valid(esther.identity_number)
    assert esther.user.email == "esther@naravard.example"
    assert Consent.objects.filter(patient=esther, status=Consent.Status.GIVEN).count() == 4
    daughter = Relative.objects.get(patient=esther)
    assert daughter.access == Relative.Access.WRITE and daughter.user is not None

    # What matters to me, in her words, with goals.
    assert contract.what_matters.startswith("Att kunna bo kvar hemma")
    assert contract.goals.count() >= 2
    # My next step: a planned home visit in a few days, after a finished visit.
    step = contract.next_steps.planned().get()
    assert step.channel == "home_visit" and step.scheduled_at > timezone.now()
    assert step.follows.status == NextStep.Status.DONE and step.follows.outcome
    # Who does what: several owners, self-care among them, one overdue.
    commitments = contract.commitments.all()
    assert {c.owner_kind for c in commitments} == set(OwnerKind.values)
    owner_orgs = {c.owner_organisation.kind for c in commitments if c.owner_organisation}
    assert {"primary_care", "hospital_unit", "home_health_care", "home_care_service"} <= owner_orgs
    assert any("Väga mig varje morgon" in c.what for c in commitments if c.is_self_care)
    assert contract.commitments.overdue(timezone.localdate()).count() == 1
    # The fixed care contact is the district nurse at the vårdcentral.
    contact = contract.care_contacts.get(ended_on__isnull=True)
    assert contact.staff.email == "maria.sjukskoterska@naravard.example"
    assert contact.organisation.kind == OrganisationKind.PRIMARY_CARE

    assert contract.warning_signs.exists() and contract.contact_paths.exists()
    assert contract.agreed_version is not None and contract.changed_since_agreed


def test_seed_demo_writes_the_events_of_esthers_plan():
    seed_demo()
    contract = esthers_contract()
    kinds = set(contract.events.values_list("kind", flat=True))
    assert {
        "contract_created",
        "what_matters_changed",
        "next_step_agreed",
        "next_step_outcome",
        "commitment_added",
        "commitment_completed",
        "care_contact_assigned",
        "warning_signs_changed",
        "contact_paths_changed",
        "plan_agreed",
    } <= kinds
    assert Event.objects.filter(patient=contract.patient, kind="consent_given").count() == 4
    # Every version bump has its event.
    assert contract.events.exclude(kind="plan_agreed").count() == contract.version


def test_seed_demo_adds_tolvan_and_patients_in_varied_states():
    seed_demo()
    assert Patient.objects.filter(identity_number="191212121212").exists()
    assert Patient.objects.count() >= 20
    today = timezone.localdate()
    assert Contract.objects.without_care_contact().exists()
    assert NextStep.objects.planned().filter(scheduled_at__lt=timezone.now()).exists()
    assert Patient.objects.filter(contracts__isnull=True).exists()
    assert Consent.objects.filter(status=Consent.Status.WITHDRAWN).exists()
    assert Contract.objects.filter(review_due__lt=today).exists()
    assert Patient.objects.values("support_profile").distinct().count() == 4


def test_seed_demo_twice_changes_nothing():
    seed_demo()
    before = row_counts()
    seed_demo()
    assert row_counts() == before


def test_seed_demo_prints_the_site_and_the_demo_logins():
    out = seed_demo()
    assert django_settings.SITE_URL in out
    for email in ("esther@naravard.example", "karin@naravard.example", "admin@naravard.example"):
        assert email in out
    assert "demo1234" in out and "Vårdcentralen Tierp" in out


def test_generated_numbers_go_on_as_samordningsnummer_when_the_test_series_runs_out():
    import random

    from patients import identity

    rng, taken = random.Random("a full year"), set()
    # One year holds 366 days x 20 test-series birth numbers of personnummer.
    numbers = [
        demo.fictional_identity_number(rng, taken, first_year=2000, last_year=2000)[0]
        for _ in range(366 * 20 + 50)
    ]
    assert len(set(numbers)) == len(numbers)
    kinds = [identity.parse(n).kind for n in numbers]
    assert kinds.count("samordningsnummer") >= 50
    for number in numbers:
        parsed = identity.parse(number)
        assert parsed.birth_date == demo.birth_date_of(number)
