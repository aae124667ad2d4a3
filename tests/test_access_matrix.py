"""The access matrix: who may read and change a patient's plan (DESIGN §5, security).

Staff: role × organisation on/off the care team × consent given/withdrawn × action,
every cell asserted. Reads go through patients.access (the one access function), writes
through the services; for writes both must agree. Then the rule itself, read through
every form it is exported in and every reader built on it. Then patients and relatives."""

import pytest
from api_fixtures import Api, _fresh_rate_limits, issue_token
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, make_staff, version

from actors.api_clients import create_api_client
from actors.assurance import LOA3
from actors.models import Membership, Organisation, OrganisationKind, Role
from contracts import services
from contracts.history import Actor
from contracts.selectors import team_for_pickers
from coordination.queues import contact_choices
from patients import services as patient_services
from patients.access import (
    EmergencyReason,
    NoAccess,
    care_relationships,
    care_relationships_sql,
    get_patient_for,
    log_patients_listed,
    logged_in_at,
    organisation_serves,
    patients_visible_to,
    patients_visible_to_organisation,
    staff_memberships_with_access,
    viewer_for,
)
from patients.models import (
    AccessLogEntry,
    CareTeamMember,
    Consent,
    EmergencyCategory,
    Relative,
)

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits"]

VIEW_PLAN = "view plan"
VIEW_HISTORY = "view history"
EDIT_WHAT_MATTERS = "edit what matters"
COMPLETE_OWN_COMMITMENT = "complete own organisation's commitment"

READS = {
    VIEW_PLAN: AccessLogEntry.Action.VIEW_PLAN,
    VIEW_HISTORY: AccessLogEntry.Action.VIEW_HISTORY,
}

STAFF_CELLS = [
    # role, on the team, consent given, action, expected
    (role, on_team, consent, action, "allowed" if on_team and consent else denied)
    for role in (Role.CLINICIAN, Role.HOME_CARE, Role.COORDINATOR, Role.ORG_ADMIN)
    for on_team in (True, False)
    for consent in (True, False)
    for action, denied in (
        (VIEW_PLAN, "404"),
        (VIEW_HISTORY, "404"),
        (EDIT_WHAT_MATTERS, "403"),
        (COMPLETE_OWN_COMMITMENT, "403"),
    )
]


def cell_id(cell):
    role, on_team, consent, action, expected = cell
    team = "on team" if on_team else "off team"
    given = "consent given" if consent else "consent withdrawn"
    return f"{role}, {team}, {given}: {action} -> {expected}"


@pytest.fixture
def unit(network):
    """A unit that joins Tolvan's team (with consent) and owns a commitment in the plan."""
    return Organisation.objects.create(
        name="Rehabenheten", kind=OrganisationKind.HOSPITAL_UNIT, parent=network["region"]
    )


def set_up_cell(plan, unit, *, on_team, consent):
    patient = plan.patient
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=patient, organisation=unit, consent=True
    )
    commitment = services.add_commitment(
        actor=SYSTEM,
        contract=plan,
        expected_version=version(plan),
        what="Träna balans två gånger i veckan",
        owner_kind="organisation",
        owner_organisation=unit,
    )
    if not on_team:
        # The unit has left the team (there is no service for leaving yet; see notes).
        CareTeamMember.objects.filter(patient=patient, organisation=unit).update(active=False)
    if not consent:
        patient_services.withdraw_consent(
            actor=Actor.patient(patient.user), patient=patient, organisation=unit
        )
    return commitment


def attempt(action, user, unit, plan, commitment) -> str:
    """Do the action as the staff member; "allowed", "404" or "403"."""
    patient = plan.patient
    if action in READS:
        try:
            get_patient_for(user, patient.pk, action=READS[action])
        except NoAccess:
            return "404"
        return "allowed"
    # A write: the page asks the access function first, the service decides too.
    try:
        viewer = viewer_for(user, patient)
        page_allows = viewer.can_write
    except NoAccess:
        page_allows = False
    actor = Actor.staff(user, unit)
    try:
        if action == EDIT_WHAT_MATTERS:
            services.set_what_matters(
                actor=actor,
                contract=plan,
                text="Komma ut i trädgården",
                expected_version=version(plan),
            )
        else:
            services.complete_commitment(
                actor=actor, commitment=commitment, expected_version=version(plan)
            )
    except PermissionDenied:
        assert not page_allows, "the access function allows a write the service refuses"
        return "403"
    assert page_allows, "the service allows a write the access function refuses"
    return "allowed"


@pytest.mark.parametrize("cell", STAFF_CELLS, ids=[cell_id(c) for c in STAFF_CELLS])
def test_staff_access_matrix(cell, plan, unit):
    role, on_team, consent, action, expected = cell
    commitment = set_up_cell(plan, unit, on_team=on_team, consent=consent)
    user = make_staff("personal@example.org", unit, role, "Per", "Sonal")
    logged_before = AccessLogEntry.objects.filter(patient=plan.patient, user=user).count()

    assert attempt(action, user, unit, plan, commitment) == expected

    # Worklists and search use the same rule.
    visible = patients_visible_to(user).filter(pk=plan.patient.pk).exists()
    assert visible == (expected == "allowed")
    logged = AccessLogEntry.objects.filter(patient=plan.patient, user=user)
    if action in READS and expected == "allowed":
        row = logged.get()
        assert (row.action, row.organisation, row.role, row.emergency) == (
            READS[action],
            unit,
            role,
            False,
        )
    elif action in READS:
        # A refused read of a patient who exists is logged as an attempt.
        row = logged.get()
        assert (row.action, row.organisation, row.role, row.emergency) == (
            AccessLogEntry.Action.DENIED,
            unit,
            role,
            False,
        )
    else:
        assert logged.count() == logged_before == 0


# --- the rule, the same through every form ------------------------------------------------

RULE_CELLS = [
    # Two organisations, A and B, and Tolvan: their care-team rows (active or not), the
    # consents on record, and who may see her.
    ("A on the team with consent", {"A": True}, {"A": "given"}, {"A"}),
    ("A has left the team", {"A": False}, {"A": "given"}, set()),
    ("A's consent withdrawn", {"A": True}, {"A": "withdrawn"}, set()),
    ("A on the team, no consent on record", {"A": True}, {}, set()),
    ("A on the team, consent only for B", {"A": True}, {"B": "given"}, set()),
    ("A and B on the team, consent only for B", {"A": True, "B": True}, {"B": "given"}, {"B"}),
    (
        "A with consent, B withdrawn",
        {"A": True, "B": True},
        {"A": "given", "B": "withdrawn"},
        {"A"},
    ),
    ("A left, B with consent", {"A": False, "B": True}, {"A": "given", "B": "given"}, {"B"}),
    ("both with consent", {"A": True, "B": True}, {"A": "given", "B": "given"}, {"A", "B"}),
]


def in_sql(patient_id, organisation) -> bool:
    """The rule as the hand-written statements embed it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM ({care_relationships_sql()}) care"
            " WHERE care.patient_id = %(patient)s AND care.organisation_id = %(organisation)s)",
            {"patient": patient_id, "organisation": organisation.pk},
        )
        return cursor.fetchone()[0]


def opens_the_plan(user, patient_id):
    """The organisation get_patient_for reads the plan page as, or None."""
    try:
        _patient, viewer = get_patient_for(user, patient_id)
    except NoAccess:
        return None
    assert (viewer.kind, viewer.emergency, viewer.can_write) == ("staff", False, True)
    return viewer.organisation


@pytest.mark.parametrize(
    "team, consents, expected", [c[1:] for c in RULE_CELLS], ids=[c[0] for c in RULE_CELLS]
)
def test_the_rule_reads_the_same_through_every_form(plan, network, team, consents, expected):
    patient_id = plan.patient_id
    orgs = {
        key: Organisation.objects.create(
            name=f"Enhet {key}", kind=OrganisationKind.HOSPITAL_UNIT, parent=network["region"]
        )
        for key in "AB"
    }
    for key, active in team.items():
        CareTeamMember.objects.create(patient_id=patient_id, organisation=orgs[key], active=active)
    now = timezone.now()
    for key, status in consents.items():
        moment = {"given_at" if status == "given" else "withdrawn_at": now}
        Consent.objects.create(
            patient_id=patient_id, organisation=orgs[key], status=status, **moment
        )
    staff = {
        key: make_staff(f"{key.lower()}@example.org", org, Role.CLINICIAN)
        for key, org in orgs.items()
    }
    # Someone who works in both: sees her through either.
    both = make_staff("ab@example.org", orgs["A"], Role.CLINICIAN)
    Membership.objects.create(user=both, organisation=orgs["B"], role=Role.CLINICIAN)
    apis = {
        key: Api(issue_token(create_api_client(name=f"Journal {key}", organisation=org)[0]))
        for key, org in orgs.items()
    }
    whose = {org.pk: key for key, org in orgs.items()}

    def keys(organisations):
        return {whose[org.pk] for org in organisations if org is not None and org.pk in whose}

    seen = {
        "ORM expression": {
            key
            for key, org in orgs.items()
            if care_relationships().filter(patient_id=patient_id, organisation=org).exists()
        },
        "SQL fragment": {key for key, org in orgs.items() if in_sql(patient_id, org)},
        "patients_visible_to_organisation": {
            key
            for key, org in orgs.items()
            if patients_visible_to_organisation(org).filter(pk=patient_id).exists()
        },
        "organisation_serves (writes)": {
            key for key, org in orgs.items() if organisation_serves(patient_id, org)
        },
        "REST contract read": {
            key
            for key, api in apis.items()
            if api.get(f"/api/v1/contracts/{plan.pk}/").status_code == 200
        },
        "patients_visible_to": {
            key
            for key, user in staff.items()
            if patients_visible_to(user).filter(pk=patient_id).exists()
        },
        "get_patient_for": keys(opens_the_plan(user, patient_id) for user in staff.values()),
        "staff_memberships_with_access": keys(
            m.organisation for m in staff_memberships_with_access(both, patient_id)
        ),
        "owner pickers": keys(member.organisation for member in team_for_pickers(plan.patient)[0]),
        "fixed care contact choices": keys(
            m.organisation for m in contact_choices([plan])[plan.pk]
        ),
    }
    assert seen == dict.fromkeys(seen, expected)

    # One who works in both sees her as the first organisation that may (A before B), and
    # a listing logs her read under it.
    first = orgs["A"] if "A" in expected else orgs.get("B") if expected else None
    assert opens_the_plan(both, patient_id) == first
    assert patients_visible_to(both).filter(pk=patient_id).exists() == bool(expected)
    listed = log_patients_listed(
        user=both,
        memberships=list(Membership.objects.filter(user=both).order_by("id")),
        patient_ids=[patient_id],
    )
    assert [row.organisation_id for row in listed] == ([first.pk] if first else [])


OTHER = "other patient's plan"

PERSON_CELLS = [
    # who, their access, action, expected
    ("patient", "own", "read", "allowed"),
    ("patient", "own", "write", "allowed"),
    ("patient", OTHER, "read", "404"),
    ("patient", OTHER, "write", "403"),
    ("relative", Relative.Access.NONE, "read", "404"),
    ("relative", Relative.Access.NONE, "write", "403"),
    ("relative", Relative.Access.READ, "read", "allowed"),
    ("relative", Relative.Access.READ, "write", "403"),
    ("relative", Relative.Access.WRITE, "read", "allowed"),
    ("relative", Relative.Access.WRITE, "write", "allowed"),
]


@pytest.fixture
def other_patient(network, doctor):
    from actors.models import User

    patient = patient_services.register_patient(
        actor=SYSTEM, identity_number="19100101-0105", given_name="Greta", family_name="Prov"
    )
    patient.user = User.objects.create_user(email="greta@example.org")
    patient.save(update_fields=["user"])
    patient_services.add_to_care_team(
        actor=SYSTEM, patient=patient, organisation=network["vardcentral"], consent=True
    )
    return services.create_contract(actor=SYSTEM, patient=patient, what_matters="Sova gott")


@pytest.mark.parametrize("cell", PERSON_CELLS, ids=[" ".join(map(str, c)) for c in PERSON_CELLS])
def test_patient_and_relative_access_matrix(cell, plan, daughter, other_patient):
    who, access, action, expected = cell
    target = other_patient if access == OTHER else plan
    if who == "patient":
        user, actor = plan.patient.user, Actor.patient(plan.patient.user)
    else:
        patient_services.set_relative_access(
            actor=Actor.patient(plan.patient.user), relative=daughter, access=access
        )
        user, actor = daughter.user, Actor.relative(daughter.user)

    if action == "read":
        try:
            _patient, viewer = get_patient_for(user, target.patient_id)
            outcome = "allowed"
        except NoAccess:
            outcome = "404"
    else:
        try:
            services.set_what_matters(
                actor=actor, contract=target, text="Mina ord", expected_version=version(target)
            )
            outcome = "allowed"
        except PermissionDenied:
            outcome = "403"
    assert outcome == expected
    # Patients and relatives do not appear in the staff access log.
    assert not AccessLogEntry.objects.filter(user=user).exists()


def test_emergency_access_is_read_only_logged_and_flagged(plan, cardiologist, network):
    reason = "Akut bröstsmärta, patienten medvetslös"
    stated = EmergencyReason(EmergencyCategory.ACUTE_CANNOT_ASK, reason)
    with logged_in_at(LOA3):
        patient, viewer = get_patient_for(cardiologist, plan.patient_id, emergency_reason=stated)
    assert (viewer.kind, viewer.emergency, viewer.can_write) == ("staff", True, False)
    row = AccessLogEntry.objects.get(user=cardiologist)
    assert (row.emergency, row.reason, row.organisation) == (True, reason, network["cardiology"])
    assert (row.reason_category, row.assurance_level) == ("acute_cannot_ask", LOA3)
    with pytest.raises(PermissionDenied):
        services.set_what_matters(
            actor=Actor.staff(cardiologist, network["cardiology"]),
            contract=plan,
            text="x",
            expected_version=version(plan),
        )


def test_emergency_access_needs_a_reason_and_a_staff_membership(plan, cardiologist, daughter):
    with logged_in_at(LOA3), pytest.raises(NoAccess):
        get_patient_for(
            cardiologist,
            plan.patient_id,
            emergency_reason=EmergencyReason(EmergencyCategory.ACUTE_CANNOT_ASK, "   "),
        )
    # The refusal is logged as an attempt, and nothing else.
    assert list(AccessLogEntry.objects.values_list("action", flat=True)) == ["denied"]
    # A relative without access is not staff: a reason does not help, and nothing is logged.
    patient_services.set_relative_access(
        actor=Actor.patient(plan.patient.user), relative=daughter, access=Relative.Access.NONE
    )
    worried = EmergencyReason(EmergencyCategory.PATIENT_ASKED, "Jag är orolig för min mamma nu")
    with logged_in_at(LOA3), pytest.raises(NoAccess):
        get_patient_for(daughter.user, plan.patient_id, emergency_reason=worried)
    assert not AccessLogEntry.objects.filter(user=daughter.user).exists()


def test_an_inactive_membership_gives_no_access(plan, doctor):
    doctor.memberships.update(active=False)
    with pytest.raises(NoAccess):
        get_patient_for(doctor, plan.patient_id)


def test_a_superuser_off_the_team_cannot_read_plans(plan, network):
    from actors.models import User

    admin = User.objects.create_superuser(email="root@example.org", password="pw")
    with pytest.raises(NoAccess):
        get_patient_for(admin, plan.patient_id)


def test_a_missing_patient_and_a_bad_id_look_like_not_yours(doctor, plan):
    for patient_id in (plan.patient_id + 1000, "abc", None):
        with pytest.raises(NoAccess):
            get_patient_for(doctor, patient_id)


def test_another_users_patient_id_gives_404_not_data(client, plan, other_patient, cardiologist):
    """Through the HTTP views: the staff plan page and the history of someone not yours."""
    client.force_login(cardiologist)
    for url in (
        reverse("contracts:staff_plan", args=[plan.patient_id]),
        reverse("contracts:history", args=[plan.patient_id]),
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert "Tolvan" not in response.content.decode()
    client.force_login(plan.patient.user)
    response = client.get(reverse("contracts:staff_plan", args=[other_patient.patient_id]))
    assert response.status_code == 404
    assert "Greta" not in response.content.decode()
    # The cardiologist's two refused reads are logged as attempts; the patient, who is
    # not staff, leaves no row.
    assert list(AccessLogEntry.objects.values_list("user", "action")) == [
        (cardiologist.pk, "denied"),
        (cardiologist.pk, "denied"),
    ]
