"""Invariants that live on the models and in the database."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from actors.models import Organisation, OrganisationKind
from patients.models import Consent

pytestmark = pytest.mark.django_db


def test_every_organisation_knows_its_principal(network):
    assert network["region"].principal == network["region"]
    assert network["tierp"].principal == network["tierp"]
    assert network["vardcentral"].principal == network["region"]
    unit = Organisation.objects.create(
        name="Hemsjukvård natt",
        kind=OrganisationKind.HOME_HEALTH_CARE,
        parent=network["home_health"],
    )
    assert unit.principal == network["tierp"]


def test_region_needs_its_county_code():
    region = Organisation(name="Region Utan Kod", kind=OrganisationKind.REGION)
    with pytest.raises(ValidationError) as error:
        region.full_clean()
    assert "county_code" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        region.save()


def test_municipality_code_belongs_to_its_county(db):
    municipality = Organisation(
        name="Fel kommun",
        kind=OrganisationKind.MUNICIPALITY,
        municipality_code="1480",
        county_code="03",
    )
    with pytest.raises(ValidationError) as error:
        municipality.full_clean()
    assert "municipality_code" in error.value.message_dict


def test_care_unit_must_sit_under_a_principal(db):
    unit = Organisation(name="Fristående", kind=OrganisationKind.PRIMARY_CARE)
    with pytest.raises(ValidationError) as error:
        unit.full_clean()
    assert "parent" in error.value.message_dict


def test_hsa_id_has_the_national_form(network):
    unit = network["vardcentral"]
    unit.hsa_id = "not-an-hsa-id"
    with pytest.raises(ValidationError):
        unit.full_clean()


def test_an_organisation_cannot_be_its_own_ancestor(network):
    region = network["region"]
    unit = network["vardcentral"]
    unit.parent = unit
    with pytest.raises(ValidationError):
        unit.full_clean()
    assert region.principal_id == region.pk


def test_patient_identity_number_is_validated(tolvan):
    tolvan.identity_number = "191212121213"
    with pytest.raises(ValidationError) as error:
        tolvan.full_clean()
    assert "identity_number" in error.value.message_dict


def test_registering_normalises_the_identity_number(tolvan):
    assert tolvan.identity_number == "191212121212"
    assert tolvan.identity_display == "19121212-1212"
    assert str(tolvan.birth_date) == "1912-12-12"


def test_consent_status_needs_its_time(tolvan, network):
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            patient=tolvan, organisation=network["cardiology"], status=Consent.Status.GIVEN
        )


def test_the_access_log_keeps_one_index_per_way_it_is_read():
    # Every staff read writes a row, so each index costs on every read: lookups by
    # patient use (patient, -at) alone, and the emergency review its own small index.
    from django.db import connection

    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "patients_accesslogentry")
        plain = [i["columns"] for i in indexes.values() if i["index"] and not i["primary_key"]]
        assert ["patient_id"] not in plain
        assert ["patient_id", "at"] in plain
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT * FROM patients_accesslogentry WHERE emergency ORDER BY at DESC"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "access_log_emergency" in plan


def test_the_access_log_names_rows_without_database_foreign_keys():
    # A foreign key checks and locks the referenced row when a logged read commits: a
    # hundred patient rows for one change-feed page. The log names who read what.
    from django.db import connection

    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "patients_accesslogentry")
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'access_log_by_user'")
        (by_user,) = cursor.fetchone()
    assert not [name for name, i in indexes.items() if i["foreign_key"]]
    # Staff reads by person, newest first; integrations' reads (no user) stay out.
    assert ["user_id"] not in [i["columns"] for i in indexes.values() if i["index"]]
    assert "(user_id, at DESC) WHERE (user_id IS NOT NULL)" in by_user


def test_references_most_rows_leave_empty_are_indexed_only_where_set():
    # The sweep marks open commitments and makes tasks by the hundred thousand; an
    # index entry for an empty reference (or a LIKE index nothing uses) cost each one.
    from django.db import connection

    partial = {
        "contracts_commitment": ("owner_staff_id", "owner_relative_id", "completed_by_id"),
        "contracts_followuptask": ("next_step_id", "commitment_id", "done_by_id"),
    }
    with connection.cursor() as cursor:
        for table, columns in partial.items():
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table]
            )
            indexes = dict(cursor.fetchall())
            for column in columns:
                defs = [d for d in indexes.values() if f"({column})" in d]
                assert defs == [defs[0]] and f"WHERE ({column} IS NOT NULL)" in defs[0], column
            assert not [name for name in indexes if name.endswith("_like")], table
