"""bench/data.py: generated patients for benchmarks, each with a whole plan."""

import pytest
from django.apps import apps
from django.db.models import Count

from bench import data
from contracts.models import Commitment, Contract, Event, NextStep
from patients.identity import is_valid
from patients.models import Patient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The demo logins hash a password each; the real hasher makes that take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def generate(patients, *, seed=1, low, high):
    return data.seed(
        patients=patients, seed=seed, commitments_min=low, commitments_max=high, log=lambda _: None
    )


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for app in ("actors", "patients", "contracts")
        for model in apps.get_app_config(app).get_models()
    }


def test_generated_patients_each_have_a_plan_with_commitments_within_bounds():
    generate(0, low=0, high=0)  # the demo network and story only
    existing = set(Patient.objects.values_list("pk", flat=True))
    result = generate(50, low=2, high=5)
    new = Patient.objects.exclude(pk__in=existing)
    assert new.count() == result.created == 50
    contracts = Contract.objects.filter(patient__in=new).annotate(n=Count("commitments"))
    assert contracts.count() == 50
    assert all(2 <= c.n <= 5 for c in contracts)
    assert Event.objects.filter(contract__in=contracts, kind="contract_created").count() == 50
    assert NextStep.objects.filter(contract__in=contracts).exists()
    assert Commitment.objects.filter(contract__in=contracts, owner_kind="patient").exists()


def test_generating_again_with_the_same_seed_adds_nothing():
    generate(30, low=2, high=3)
    before = row_counts()
    assert generate(30, low=2, high=3).present == 30
    assert row_counts() == before
    generate(30, seed=2, low=1, high=1)
    assert Patient.objects.count() == before["patients.Patient"] + 30


def test_every_seeded_identity_number_is_valid():
    generate(50, low=0, high=1)
    numbers = list(Patient.objects.values_list("identity_number", flat=True))
    assert len(numbers) > 70
    assert [n for n in numbers if not is_valid(n)] == []
