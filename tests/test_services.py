"""The write use cases: versioning, events, invariants and who may do what."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from personas import version

from contracts import services
from contracts.history import Actor
from contracts.models import Commitment, Contract, Event, NextStep
from patients import services as patient_services
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db


def as_doctor(doctor, network):
    return Actor.staff(doctor, network["vardcentral"])


def test_creating_a_plan_writes_the_first_event(tolvan, doctor, network):
    contract = services.create_contract(
        actor=as_doctor(doctor, network), patient=tolvan, what_matters="Bo kvar hemma"
    )
    assert contract.version == 1
    assert contract.review_due is not None
    event = Event.objects.get(contract=contract)
    assert (event.kind, event.actor, event.version) == ("contract_created", doctor, 1)


def test_a_patient_has_at_most_one_open_plan(plan, doctor, network):
    with pytest.raises(ValidationError):
        services.create_contract(actor=as_doctor(doctor, network), patient=plan.patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        Contract.objects.create(patient=plan.patient, status=Contract.Status.DRAFT)


def test_staff_outside_the_team_cannot_start_a_plan(tolvan, cardiologist, network):
    with pytest.raises(PermissionDenied):
        services.create_contract(
            actor=Actor.staff(cardiologist, network["cardiology"]), patient=tolvan
        )


def test_patient_writes_what_matters_and_the_version_moves(plan, tolvan):
    before = plan.version
    services.set_what_matters(
        actor=Actor.patient(tolvan.user),
        contract=plan,
        text="Att orka gå till affären och träffa barnbarnen.",
        goals=["Gå till affären själv", "Fira jul hemma"],
        expected_version=before,
    )
    plan.refresh_from_db()
    assert plan.version == before + 1
    assert list(plan.goals.values_list("text", flat=True)) == [
        "Gå till affären själv",
        "Fira jul hemma",
    ]
    event = plan.events.first()
    assert event.kind == "what_matters_changed"
    assert event.actor_kind == "patient"
    assert event.before["what_matters"] == "Att kunna gå till affären själv."
    assert event.after["what_matters"].startswith("Att orka")


def test_a_stale_version_is_refused_and_nothing_changes(plan, tolvan, doctor, network):
    seen = plan.version
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text="Läkarens text",
        expected_version=seen,
    )
    events_before = Event.objects.count()
    with pytest.raises(services.StaleVersion) as refused:
        services.set_what_matters(
            actor=Actor.patient(tolvan.user),
            contract=plan,
            text="Min egen text",
            expected_version=seen,
        )
    # The newer content comes back with the refusal so the user can compare.
    assert refused.value.contract.what_matters == "Läkarens text"
    assert refused.value.contract.version == seen + 1
    plan.refresh_from_db()
    assert plan.what_matters == "Läkarens text"
    assert Event.objects.count() == events_before


def test_stale_version_is_refused_for_every_write(plan, tolvan, doctor, network):
    stale = plan.version - 1
    actor = as_doctor(doctor, network)
    commitment = plan.commitments.get(owner_kind="organisation")
    calls = [
        lambda: services.add_commitment(
            actor=actor, contract=plan, expected_version=stale, what="x", owner_kind="patient"
        ),
        lambda: services.complete_commitment(
            actor=actor, commitment=commitment, expected_version=stale
        ),
        lambda: services.agree_next_step(
            actor=actor,
            contract=plan,
            expected_version=stale,
            scheduled_at=timezone.now() + timedelta(days=1),
            channel="phone",
            purpose="x",
        ),
        lambda: services.assign_fixed_care_contact(
            actor=actor,
            contract=plan,
            expected_version=stale,
            staff=doctor,
            organisation=network["vardcentral"],
        ),
        lambda: services.agree_to_version(
            actor=Actor.patient(tolvan.user), contract=plan, version=stale
        ),
    ]
    for call in calls:
        with pytest.raises(services.StaleVersion):
            call()


def test_bad_input_changes_nothing(plan, doctor, network):
    version = plan.version
    actor = as_doctor(doctor, network)
    with pytest.raises(ValidationError) as error:
        services.add_commitment(
            actor=actor,
            contract=plan,
            expected_version=version,
            what="   ",
            owner_kind="patient",
        )
    assert "what" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.agree_next_step(
            actor=actor,
            contract=plan,
            expected_version=version,
            scheduled_at=timezone.now() - timedelta(hours=1),
            channel="phone",
            purpose="x",
        )
    with pytest.raises(ValidationError):
        services.set_what_matters(
            actor=actor, contract=plan, text="x" * 5001, expected_version=version
        )
    plan.refresh_from_db()
    assert plan.version == version


def test_agreeing_a_new_next_step_replaces_the_planned_one(plan, doctor, network):
    old = plan.next_steps.planned().get()
    new = services.agree_next_step(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=version(plan),
        scheduled_at=timezone.now() + timedelta(days=10),
        channel="video",
        purpose="Videosamtal",
    )
    old.refresh_from_db()
    assert old.status == NextStep.Status.CANCELLED
    assert new.follows == old
    assert plan.next_steps.planned().get() == new


def test_recording_the_outcome_and_agreeing_the_following_step(plan, doctor, network):
    actor = as_doctor(doctor, network)
    step = plan.next_steps.planned().get()
    services.record_next_step_outcome(
        actor=actor, step=step, expected_version=version(plan), outcome="Vikten stabil."
    )
    plan.refresh_from_db()
    following = services.agree_next_step(
        actor=actor,
        contract=plan,
        expected_version=version(plan),
        scheduled_at=timezone.now() + timedelta(days=30),
        channel="visit",
        purpose="Återbesök",
    )
    step.refresh_from_db()
    assert step.status == NextStep.Status.DONE and step.outcome == "Vikten stabil."
    assert following.follows == step
    with pytest.raises(ValidationError):
        services.record_next_step_outcome(
            actor=actor, step=step, expected_version=version(plan), outcome="igen"
        )


def test_patient_ticks_off_own_self_care_commitment(plan, tolvan):
    mine = plan.commitments.get(owner_kind="patient")
    assert mine.is_self_care
    services.complete_commitment(
        actor=Actor.patient(tolvan.user), commitment=mine, expected_version=version(plan)
    )
    mine.refresh_from_db()
    assert mine.status == Commitment.Status.DONE
    assert mine.completed_by == tolvan.user


def test_patient_cannot_tick_off_the_care_units_commitment(plan, tolvan):
    theirs = plan.commitments.get(owner_kind="organisation")
    with pytest.raises(PermissionDenied):
        services.complete_commitment(
            actor=Actor.patient(tolvan.user), commitment=theirs, expected_version=version(plan)
        )


def test_home_care_nurse_cannot_edit_region_commitment(plan, nurse, network):
    region_commitment = plan.commitments.get(owner_organisation=network["vardcentral"])
    with pytest.raises(PermissionDenied):
        services.complete_commitment(
            actor=Actor.staff(nurse, network["home_health"]),
            commitment=region_commitment,
            expected_version=version(plan),
        )


def test_home_care_nurse_completes_own_organisations_commitment(plan, nurse, network):
    own = plan.commitments.get(owner_organisation=network["home_health"])
    services.complete_commitment(
        actor=Actor.staff(nurse, network["home_health"]),
        commitment=own,
        expected_version=version(plan),
    )
    own.refresh_from_db()
    assert own.status == Commitment.Status.DONE


def test_commitment_owner_must_be_on_the_care_team(plan, doctor, network):
    with pytest.raises(ValidationError) as error:
        services.add_commitment(
            actor=as_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            what="Ekokardiografi",
            owner_kind="organisation",
            owner_organisation=network["cardiology"],
        )
    assert "owner_organisation" in error.value.message_dict


def test_commitment_owner_kind_and_reference_must_agree_in_the_database(plan, network):
    with pytest.raises(IntegrityError), transaction.atomic():
        Commitment.objects.create(
            contract=plan,
            owner_kind="patient",
            owner_organisation=network["vardcentral"],
            what="fel",
        )


def test_reassigning_fixed_care_contact_keeps_history(plan, coordinator, doctor, network):
    services.assign_fixed_care_contact(
        actor=Actor.staff(coordinator, network["vardcentral"]),
        contract=plan,
        expected_version=version(plan),
        staff=coordinator,
        organisation=network["vardcentral"],
    )
    contacts = plan.care_contacts.order_by("id")
    assert [c.staff for c in contacts] == [doctor, coordinator]
    assert contacts[0].ended_on is not None and contacts[1].ended_on is None


def test_fixed_care_contact_must_work_in_the_named_organisation(plan, doctor, nurse, network):
    with pytest.raises(ValidationError):
        services.assign_fixed_care_contact(
            actor=as_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            staff=nurse,
            organisation=network["vardcentral"],
        )


def test_patient_agrees_and_a_later_change_shows_as_changed(plan, tolvan, doctor, network):
    services.agree_to_version(
        actor=Actor.patient(tolvan.user), contract=plan, version=version(plan)
    )
    plan.refresh_from_db()
    assert plan.agreed_version == plan.version and not plan.changed_since_agreed
    services.set_what_matters(
        actor=as_doctor(doctor, network),
        contract=plan,
        text="Ändrat",
        expected_version=version(plan),
    )
    plan.refresh_from_db()
    assert plan.changed_since_agreed


def test_staff_cannot_agree_on_the_patients_behalf(plan, doctor, network):
    with pytest.raises(PermissionDenied):
        services.agree_to_version(
            actor=as_doctor(doctor, network), contract=plan, version=plan.version
        )


def test_relative_with_write_access_edits_what_matters(plan, daughter):
    services.set_what_matters(
        actor=Actor.relative(daughter.user),
        contract=plan,
        text="Mamma vill bo hemma.",
        expected_version=version(plan),
    )
    plan.refresh_from_db()
    assert plan.what_matters == "Mamma vill bo hemma."


def test_relative_with_read_access_cannot_edit(plan, daughter):
    daughter.access = "read"
    daughter.save()
    with pytest.raises(PermissionDenied):
        services.set_what_matters(
            actor=Actor.relative(daughter.user),
            contract=plan,
            text="x",
            expected_version=version(plan),
        )


def test_withdrawn_consent_stops_the_organisations_writes(plan, nurse, network, tolvan):
    patient_services.withdraw_consent(
        actor=Actor.patient(tolvan.user), patient=tolvan, organisation=network["home_health"]
    )
    own = plan.commitments.get(owner_organisation=network["home_health"])
    with pytest.raises(PermissionDenied):
        services.complete_commitment(
            actor=Actor.staff(nurse, network["home_health"]),
            commitment=own,
            expected_version=version(plan),
        )


def test_joining_the_team_needs_consent(tolvan, network):
    with pytest.raises(ValidationError):
        patient_services.add_to_care_team(
            actor=Actor.system(), patient=tolvan, organisation=network["cardiology"]
        )


def test_a_closed_plan_cannot_be_changed(plan, doctor, network):
    Contract.objects.filter(pk=plan.pk).update(status=Contract.Status.CLOSED)
    with pytest.raises(ValidationError):
        services.set_what_matters(
            actor=as_doctor(doctor, network),
            contract=plan,
            text="x",
            expected_version=version(plan),
        )


def test_a_failure_half_way_loses_nothing(plan, doctor, network, monkeypatch):
    """If writing the event fails, the change itself is rolled back too."""
    version = plan.version

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "record_event", broken)
    with pytest.raises(RuntimeError):
        services.set_what_matters(
            actor=as_doctor(doctor, network),
            contract=plan,
            text="Ny text",
            expected_version=version,
        )
    plan.refresh_from_db()
    assert plan.version == version
    assert plan.what_matters == "Att kunna gå till affären själv."


@pytest.mark.parametrize("model", [Event, AccessLogEntry])
def test_audit_trails_are_append_only_in_postgresql(plan, model, doctor, network):
    if model is AccessLogEntry:
        AccessLogEntry.objects.create(
            user=doctor,
            organisation=network["vardcentral"],
            patient=plan.patient,
            action="view_plan",
        )
    row = model.objects.first()
    with pytest.raises(ValueError):
        row.save()
    with pytest.raises(ValueError):
        row.delete()
    # Even a raw statement that bypasses the model is refused: the app's role may not
    # delete from the trail at all (and its owner is stopped by the trigger, see
    # test_history_roles.py).
    with (
        pytest.raises(Exception, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = %s", [row.pk])


def test_events_carry_the_writing_transaction_for_the_change_feed(plan):
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")
        (current,) = cursor.fetchone()
    # The test runs in one transaction, so every event carries its id.
    assert set(plan.events.values_list("txid", flat=True)) == {current}


def test_next_step_is_with_an_organisation_on_the_team(plan, doctor, cardiologist, network):
    with pytest.raises(ValidationError) as error:
        services.agree_next_step(
            actor=as_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            scheduled_at=timezone.now() + timedelta(days=5),
            channel="visit",
            purpose="Ultraljud",
            organisation=network["cardiology"],
            staff=cardiologist,
        )
    assert "organisation" in error.value.message_dict


def test_relative_cannot_tick_own_commitment_once_access_is_removed(
    plan, daughter, doctor, network
):
    own = services.add_commitment(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=version(plan),
        what="Handla på lördagar",
        owner_kind="relative",
        owner_relative=daughter,
    )
    daughter.access = "none"
    daughter.save()
    with pytest.raises(PermissionDenied):
        services.complete_commitment(
            actor=Actor.relative(daughter.user), commitment=own, expected_version=version(plan)
        )


# --- warning signs and contact paths ------------------------------------------------


def test_staff_set_warning_signs_and_the_change_is_an_event(plan, doctor, network):
    seen = version(plan)
    services.set_warning_signs(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=seen,
        signs=[("Svullna ben", "Ring vårdcentralen"), ("  Andfådd i vila ", "Ring 1177")],
    )
    assert version(plan) == seen + 1
    assert list(plan.warning_signs.values_list("sign", "action", "position")) == [
        ("Svullna ben", "Ring vårdcentralen", 0),
        ("Andfådd i vila", "Ring 1177", 1),
    ]
    event = Event.objects.filter(contract=plan).latest("id")
    assert event.kind == "warning_signs_changed"
    assert event.before == {"signs": []}
    assert event.after["signs"][1] == {"sign": "Andfådd i vila", "action": "Ring 1177"}


def test_setting_warning_signs_replaces_the_list(plan, tolvan):
    actor = Actor.patient(tolvan.user)
    services.set_warning_signs(
        actor=actor, contract=plan, expected_version=version(plan), signs=[("A", "B"), ("C", "D")]
    )
    services.set_warning_signs(
        actor=actor, contract=plan, expected_version=version(plan), signs=[("C", "D")]
    )
    assert list(plan.warning_signs.values_list("sign", flat=True)) == ["C"]
    event = Event.objects.filter(contract=plan).latest("id")
    assert event.before == {"signs": [{"sign": "A", "action": "B"}, {"sign": "C", "action": "D"}]}


def test_a_stale_warning_sign_change_is_refused(plan, tolvan, doctor, network):
    seen = version(plan)
    services.set_what_matters(
        actor=as_doctor(doctor, network), contract=plan, text="Ny", expected_version=seen
    )
    with pytest.raises(services.StaleVersion):
        services.set_warning_signs(
            actor=Actor.patient(tolvan.user), contract=plan, expected_version=seen, signs=[]
        )


def test_a_warning_sign_needs_both_sign_and_action(plan, tolvan):
    before = version(plan)
    with pytest.raises(ValidationError):
        services.set_warning_signs(
            actor=Actor.patient(tolvan.user),
            contract=plan,
            expected_version=before,
            signs=[("Svullna ben", " ")],
        )
    assert version(plan) == before


def test_relative_with_write_access_sets_warning_signs(plan, daughter):
    services.set_warning_signs(
        actor=Actor.relative(daughter.user),
        contract=plan,
        expected_version=version(plan),
        signs=[("Förvirrad", "Ring mig")],
    )
    assert plan.warning_signs.count() == 1


def test_relative_with_read_access_cannot_set_warning_signs(plan, daughter):
    daughter.access = "read"
    daughter.save()
    with pytest.raises(PermissionDenied):
        services.set_warning_signs(
            actor=Actor.relative(daughter.user),
            contract=plan,
            expected_version=version(plan),
            signs=[("x", "y")],
        )


def phone_path(organisation=None, **changes):
    path = {
        "kind": "phone",
        "label": "Sjuksköterskan",
        "value": "0293-123 45",
        "hours": "Vardagar 8–10",
        "organisation": organisation,
    }
    path.update(changes)
    return path


def test_staff_set_contact_paths_and_the_change_is_an_event(plan, doctor, network):
    seen = version(plan)
    services.set_contact_paths(
        actor=as_doctor(doctor, network),
        contract=plan,
        expected_version=seen,
        paths=[
            phone_path(network["vardcentral"]),
            {"kind": "web_booking", "label": "1177", "value": "https://www.1177.se"},
        ],
    )
    assert version(plan) == seen + 1
    paths = list(plan.contact_paths.all())
    assert [(p.kind, p.position, p.organisation) for p in paths] == [
        ("phone", 0, network["vardcentral"]),
        ("web_booking", 1, None),
    ]
    event = Event.objects.filter(contract=plan).latest("id")
    assert event.kind == "contact_paths_changed"
    assert event.before == {"paths": []}
    assert event.after["paths"][0]["organisation"] == network["vardcentral"].pk


def test_patient_cannot_set_contact_paths(plan, tolvan):
    with pytest.raises(PermissionDenied):
        services.set_contact_paths(
            actor=Actor.patient(tolvan.user),
            contract=plan,
            expected_version=version(plan),
            paths=[phone_path()],
        )


def test_a_contact_path_needs_a_known_kind_and_a_value(plan, doctor, network):
    actor = as_doctor(doctor, network)
    for bad in (phone_path(kind="fax"), phone_path(value="  ")):
        with pytest.raises(ValidationError):
            services.set_contact_paths(
                actor=actor, contract=plan, expected_version=version(plan), paths=[bad]
            )
    assert plan.contact_paths.count() == 0


def test_a_contact_path_organisation_must_be_on_the_team(plan, doctor, network):
    with pytest.raises(ValidationError) as refused:
        services.set_contact_paths(
            actor=as_doctor(doctor, network),
            contract=plan,
            expected_version=version(plan),
            paths=[phone_path(network["cardiology"])],
        )
    assert "organisation" in refused.value.error_dict
    assert plan.contact_paths.count() == 0


def test_the_history_names_warning_sign_and_contact_path_changes(plan, doctor, network, tolvan):
    from contracts.selectors import EventWording

    services.set_warning_signs(
        actor=Actor.patient(tolvan.user), contract=plan, expected_version=version(plan), signs=[]
    )
    services.set_contact_paths(
        actor=as_doctor(doctor, network), contract=plan, expected_version=version(plan), paths=[]
    )
    events = list(Event.objects.filter(contract=plan).order_by("-id")[:2])
    sentences = [s for _, s in EventWording(tolvan, None).all(events)]
    assert sentences == [
        "Doris Doktor, Vårdcentralen Tierp, changed how to reach the care team.",
        "Tolvan Tolvansson changed what to look out for.",
    ]
