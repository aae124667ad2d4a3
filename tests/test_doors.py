"""One use case, one behaviour, whichever door it comes through.

Each write use case runs once as a direct service call (what the demo and the jobs
do) and once through each door that offers it: the plan page as staff, patient or
relative, the coordinators' pages, the REST API. Every run gets a fresh patient with
the same plan, and must write the same events (kind, before and after; ids of the
patient's own rows aside), with the actor kind of the door, the same outbox rows
(kind, channel, recipient, shape of the dedupe key) and the same wake-ups.

The FHIR facade is a door for the commitments: `POST Task` adds one, `PUT Task/[id]`
ticks it off or cancels it (fhir_r4/writes.py).
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from api_fixtures import Api, _fresh_rate_limits, integrations, issue_token
from coordination_fixtures import fictional_number
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from personas import SYSTEM, make_staff

from actors.models import Organisation, OrganisationKind, Role, User
from contracts import services
from contracts.history import Actor
from contracts.models import Commitment, Contract, Event, NextStep, Notification
from coordination import services as coordination
from patients import services as patient_services
from patients.models import Patient, Relative
from reminders import wake

pytestmark = pytest.mark.django_db
__all__ = ["_fresh_rate_limits", "integrations"]

STAFF, PATIENT, RELATIVE, INTEGRATION = "staff", "patient", "relative", "integration"
# Payload keys that name a row of the patient's own plan, which every run makes anew.
OWN_ROWS = {"id", "admission"}


@dataclass
class World:
    """One fresh patient with the same plan as every other run's."""

    patient: Patient
    contract: Contract
    relative: Relative
    admission: object = None

    def commitment(self, owner_kind) -> Commitment:
        return self.contract.commitments.get(owner_kind=owner_kind)

    @property
    def step(self) -> NextStep:
        return self.contract.next_steps.planned().get()

    @property
    def version(self) -> int:
        self.contract.refresh_from_db(fields=["version"])
        return self.contract.version


@dataclass
class Written:
    events: list
    actor_kinds: list
    outbox: list
    wakeups: list


@pytest.fixture
def team(network, doctor, nurse, coordinator, integrations):
    """Everyone the doors act as, and the moments the plans use."""
    ward = Organisation.objects.create(
        name="Avdelning 30, Akademiska sjukhuset",
        kind=OrganisationKind.HOSPITAL_UNIT,
        parent=network["region"],
    )
    soon = (timezone.localtime() + timedelta(days=10)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    return {
        **network,
        "doctor": doctor,
        "nurse": nurse,
        "coordinator": coordinator,
        "ward": ward,
        "ward_nurse": make_staff("avdelning30@example.org", ward, Role.CLINICIAN),
        "api": Api(issue_token(integrations["vardcentral"])),
        "soon": soon,
        "in_a_week": timezone.localdate() + timedelta(days=7),
    }


def build_world(team, n, *, care_contact=True, admitted=False) -> World:
    """The same plan for a new patient: a next step, three commitments, and (unless
    the use case is to assign one) the doctor as fixed care contact."""
    vc, home = team["vardcentral"], team["home_health"]
    patient = patient_services.register_patient(
        actor=SYSTEM,
        identity_number=fictional_number(n),
        given_name="Tolvan",
        family_name="Tolvansson",
        phone="+46701234567",
    )
    patient.user = User.objects.create_user(email=f"patient{n}@example.org", password="pw")
    patient.save(update_fields=["user"])
    relative = Relative.objects.create(
        patient=patient,
        user=User.objects.create_user(email=f"relative{n}@example.org", password="pw"),
        name="Tova Tolvansson",
        access=Relative.Access.WRITE,
    )
    for organisation in (vc, home, team["ward"]):
        patient_services.add_to_care_team(
            actor=SYSTEM, patient=patient, organisation=organisation, consent=True
        )
    as_doctor = Actor.staff(team["doctor"], vc)
    contract = services.create_contract(actor=as_doctor, patient=patient, what_matters="Bo hemma")
    world = World(patient, contract, relative)
    services.agree_next_step(
        actor=as_doctor,
        contract=contract,
        expected_version=world.version,
        scheduled_at=team["soon"] - timedelta(days=7),
        channel="home_visit",
        purpose="Följa upp vikt och andning",
    )
    for owner in (
        {"owner_kind": "patient"},
        {"owner_kind": "organisation", "owner_organisation": vc},
        {"owner_kind": "staff", "owner_organisation": home, "owner_staff": team["nurse"]},
    ):
        services.add_commitment(
            actor=as_doctor,
            contract=contract,
            expected_version=world.version,
            what=f"Åtagande för {owner['owner_kind']}",
            **owner,
        )
    if care_contact:
        services.assign_fixed_care_contact(
            actor=as_doctor,
            contract=contract,
            expected_version=world.version,
            staff=team["doctor"],
            organisation=vc,
        )
    if admitted:
        world.admission = coordination.register_admission(
            actor=Actor.staff(team["ward_nurse"], team["ward"]),
            patient=patient,
            hospital_unit=team["ward"],
            primary_care=vc,
            municipality_unit=home,
        )
    return world


def _same_in_every_world(value):
    if isinstance(value, dict):
        return {
            key: "<own row>" if key in OWN_ROWS else _same_in_every_world(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_same_in_every_world(item) for item in value]
    return value


def _recipient(notification) -> str:
    if notification.recipient_patient_id is not None:
        return PATIENT
    return f"staff:{notification.recipient_user.email}"


def run(world, write, monkeypatch, *, leave_out=()) -> Written:
    """Run one write and return what it wrote: events, outbox rows and wake-ups."""
    last_event = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_row = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    wakeups = []
    with monkeypatch.context() as patched:
        patched.setattr(wake, "enqueue_on_commit", lambda name, **kw: wakeups.append(name))
        write(world)
    events = [
        e
        for e in Event.objects.filter(patient=world.patient, pk__gt=last_event).order_by("pk")
        if e.kind not in leave_out
    ]
    rows = Notification.objects.filter(pk__gt=last_row).select_related("recipient_user")
    return Written(
        events=[
            (e.kind, _same_in_every_world(e.before), _same_in_every_world(e.after)) for e in events
        ],
        actor_kinds=[e.actor_kind for e in events],
        outbox=sorted(
            (n.kind, n.channel, _recipient(n), re.sub(r"\d+", "<n>", n.dedupe_key)) for n in rows
        ),
        wakeups=wakeups,
    )


# --- the doors ------------------------------------------------------------------------------


def page(user_of, name, data, *args):
    """A plain form post to a plan page (no htmx), by the user `user_of(team, world)`."""

    def door(client, team):
        def write(world):
            client.force_login(user_of(team, world))
            values = data(team, world) if callable(data) else data
            url = reverse(name, args=[world.patient.pk, *(a(world) for a in args)])
            response = client.post(url, {"version": world.version, **values})
            assert response.status_code == 302, response.content.decode()[:2000]

        return write

    return door


def rest(method, path, body):
    """An API call by the vårdcentral's journal system, naming the version it read."""

    def door(client, team):
        def write(world):
            url = "/api/v1/" + path(world)
            values = body(team, world) if callable(body) else body
            etag = f'"contract-{world.contract.pk}-v{world.version}"'
            response = getattr(team["api"], method)(url, values, headers={"If-Match": etag})
            assert response.status_code in (200, 201), response.json()

        return write

    return door


def fhir_status(status):
    """`PUT Task/[id]` by the vårdcentral's journal system: the Task as it read it, with
    only the status changed, naming the Task's version it read."""

    def door(client, team):
        def write(world):
            url = f"/fhir/R4/Task/commitment-{world.commitment('organisation').pk}"
            task = team["api"].get(url).json()
            response = team["api"].put(
                url,
                {**task, "status": status},
                headers={"If-Match": f'"{task["meta"]["versionId"]}"'},
                content_type="application/fhir+json",
            )
            assert response.status_code == 200, response.json()

        return write

    return door


def fhir_new_task(client, team):
    """`POST Task` by the vårdcentral's journal system, naming the plan's version it read."""

    def write(world):
        body = {
            "resourceType": "Task",
            "status": "ready",
            "intent": "plan",
            "basedOn": [{"reference": f"CarePlan/{world.contract.pk}"}],
            "description": "Ringa efter provsvar",
            "owner": {"reference": f"Organization/{team['vardcentral'].pk}"},
            "restriction": {"period": {"end": team["in_a_week"].isoformat()}},
        }
        response = team["api"].post(
            "/fhir/R4/Task",
            body,
            headers={"If-Match": f'"{world.version}"'},
            content_type="application/fhir+json",
        )
        assert response.status_code == 201, response.json()

    return write


def service(call):
    """The use case called directly, as the demo and the jobs do."""

    def door(client, team):
        return lambda world: call(team, world)

    return door


def as_doctor(team, world=None):
    return team["doctor"]


def as_patient(team, world):
    return world.patient.user


def as_relative(team, world):
    return world.relative.user


def doctor_at_vc(team):
    return Actor.staff(team["doctor"], team["vardcentral"])


@dataclass
class UseCase:
    """A write use case: the direct service call, and each door with the actor kind it
    writes as. `world` gives build_world's options; `leave_out` names events a door
    writes for a use case of its own that includes this one."""

    reference: object
    reference_actor: str
    doors: dict
    world: dict = None
    leave_out: dict = None


def _commitment_id(owner_kind):
    return lambda world: world.commitment(owner_kind).pk


SIGNS = [("Svullna ben", "Ring hemsjukvården"), ("Andfådd i vila", "Ring 112")]
GOALS = ["Gå 500 meter", "Laga mat själv"]

USE_CASES = {
    "what matters": UseCase(
        service(
            lambda team, world: services.set_what_matters(
                actor=doctor_at_vc(team),
                contract=world.contract,
                expected_version=world.version,
                text="Att kunna gå till affären själv.",
                goals=GOALS,
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:what_matters",
                    {"what_matters": "Att kunna gå till affären själv.", "goals": "\n".join(GOALS)},
                ),
                STAFF,
            ),
            "patient page": (
                page(
                    as_patient,
                    "contracts:what_matters",
                    {"what_matters": "Att kunna gå till affären själv.", "goals": "\n".join(GOALS)},
                ),
                PATIENT,
            ),
            "relative page": (
                page(
                    as_relative,
                    "contracts:what_matters",
                    {"what_matters": "Att kunna gå till affären själv.", "goals": "\n".join(GOALS)},
                ),
                RELATIVE,
            ),
            "REST": (
                rest(
                    "put",
                    lambda world: f"contracts/{world.contract.pk}/what-matters/",
                    {"what_matters": "Att kunna gå till affären själv.", "goals": GOALS},
                ),
                INTEGRATION,
            ),
        },
    ),
    "warning signs": UseCase(
        service(
            lambda team, world: services.set_warning_signs(
                actor=doctor_at_vc(team),
                contract=world.contract,
                expected_version=world.version,
                signs=SIGNS,
            )
        ),
        STAFF,
        {
            who: (
                page(
                    user_of,
                    "contracts:warning_signs",
                    {
                        "signs-TOTAL_FORMS": "2",
                        "signs-INITIAL_FORMS": "0",
                        **{
                            f"signs-{i}-{field}": text
                            for i, pair in enumerate(SIGNS)
                            for field, text in zip(("sign", "action"), pair, strict=True)
                        },
                    },
                ),
                kind,
            )
            for who, user_of, kind in (
                ("staff page", as_doctor, STAFF),
                ("patient page", as_patient, PATIENT),
            )
        },
    ),
    "contact paths": UseCase(
        service(
            lambda team, world: services.set_contact_paths(
                actor=doctor_at_vc(team),
                contract=world.contract,
                expected_version=world.version,
                paths=[
                    {
                        "kind": "phone",
                        "label": "Vårdcentralen",
                        "value": "0293-123 45",
                        "hours": "Vardagar 8–16",
                        "organisation": team["vardcentral"],
                    }
                ],
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:contact_paths",
                    lambda team, world: {
                        "paths-TOTAL_FORMS": "1",
                        "paths-INITIAL_FORMS": "0",
                        "paths-0-kind": "phone",
                        "paths-0-label": "Vårdcentralen",
                        "paths-0-value": "0293-123 45",
                        "paths-0-hours": "Vardagar 8–16",
                        "paths-0-organisation": str(team["vardcentral"].pk),
                    },
                ),
                STAFF,
            ),
        },
    ),
    "add commitment": UseCase(
        service(
            lambda team, world: services.add_commitment(
                actor=doctor_at_vc(team),
                contract=world.contract,
                expected_version=world.version,
                what="Ringa efter provsvar",
                owner_kind="organisation",
                owner_organisation=team["vardcentral"],
                due_date=team["in_a_week"],
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:add_commitment",
                    lambda team, world: {
                        "what": "Ringa efter provsvar",
                        "owner": f"organisation:{team['vardcentral'].pk}",
                        "due_date": team["in_a_week"].isoformat(),
                    },
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "post",
                    lambda world: f"contracts/{world.contract.pk}/commitments/",
                    lambda team, world: {
                        "what": "Ringa efter provsvar",
                        "owner_kind": "organisation",
                        "owner_organisation": team["vardcentral"].pk,
                        "due_date": team["in_a_week"].isoformat(),
                    },
                ),
                INTEGRATION,
            ),
            "FHIR": (fhir_new_task, INTEGRATION),
        },
    ),
    "complete commitment": UseCase(
        service(
            lambda team, world: services.complete_commitment(
                actor=doctor_at_vc(team),
                commitment=world.commitment("organisation"),
                expected_version=world.version,
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:tick_commitment",
                    {"done": "1"},
                    _commitment_id("organisation"),
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "patch",
                    lambda world: f"commitments/{world.commitment('organisation').pk}/",
                    {"status": "done"},
                ),
                INTEGRATION,
            ),
            "FHIR": (fhir_status("completed"), INTEGRATION),
        },
    ),
    "complete own commitment": UseCase(
        service(
            lambda team, world: services.complete_commitment(
                actor=Actor.patient(world.patient.user),
                commitment=world.commitment("patient"),
                expected_version=world.version,
            )
        ),
        PATIENT,
        {
            who: (
                page(
                    user_of, "contracts:tick_commitment", {"done": "1"}, _commitment_id("patient")
                ),
                kind,
            )
            for who, user_of, kind in (
                ("patient page", as_patient, PATIENT),
                ("relative page", as_relative, RELATIVE),
            )
        },
    ),
    "hand over commitment": UseCase(
        service(
            lambda team, world: services.update_commitment(
                actor=doctor_at_vc(team),
                commitment=world.commitment("organisation"),
                expected_version=world.version,
                owner_kind="organisation",
                owner_organisation=team["home_health"],
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:change_commitment",
                    lambda team, world: {
                        "what": world.commitment("organisation").what,
                        "owner": f"organisation:{team['home_health'].pk}",
                        "due_date": "",
                    },
                    _commitment_id("organisation"),
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "patch",
                    lambda world: f"commitments/{world.commitment('organisation').pk}/",
                    lambda team, world: {
                        "owner_kind": "organisation",
                        "owner_organisation": team["home_health"].pk,
                    },
                ),
                INTEGRATION,
            ),
        },
    ),
    "cancel commitment": UseCase(
        service(
            lambda team, world: services.update_commitment(
                actor=doctor_at_vc(team),
                commitment=world.commitment("organisation"),
                expected_version=world.version,
                cancel=True,
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:change_commitment",
                    lambda team, world: {
                        "what": world.commitment("organisation").what,
                        "owner": f"organisation:{team['vardcentral'].pk}",
                        "due_date": "",
                        "cancel": "1",
                    },
                    _commitment_id("organisation"),
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "patch",
                    lambda world: f"commitments/{world.commitment('organisation').pk}/",
                    {"status": "cancelled"},
                ),
                INTEGRATION,
            ),
            "FHIR": (fhir_status("cancelled"), INTEGRATION),
        },
    ),
    "agree next step": UseCase(
        service(
            lambda team, world: services.agree_next_step(
                actor=doctor_at_vc(team),
                contract=world.contract,
                expected_version=world.version,
                scheduled_at=team["soon"],
                channel="video",
                purpose="Gå igenom provsvar",
                location="",
                with_whom="Doris",
                staff=team["doctor"],
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:agree_next_step",
                    lambda team, world: {
                        "scheduled_at": team["soon"].strftime("%Y-%m-%dT%H:%M"),
                        "channel": "video",
                        "purpose": "Gå igenom provsvar",
                        "with_whom": "Doris",
                        "staff": str(team["doctor"].pk),
                    },
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "post",
                    lambda world: f"contracts/{world.contract.pk}/next-steps/",
                    lambda team, world: {
                        "scheduled_at": team["soon"].isoformat(),
                        "channel": "video",
                        "purpose": "Gå igenom provsvar",
                        "with_whom": "Doris",
                        "staff": team["doctor"].pk,
                    },
                ),
                INTEGRATION,
            ),
        },
    ),
    "record outcome": UseCase(
        service(
            lambda team, world: services.record_next_step_outcome(
                actor=doctor_at_vc(team),
                step=world.step,
                expected_version=world.version,
                outcome="Vikten är stabil.",
            )
        ),
        STAFF,
        {
            "staff page": (
                page(
                    as_doctor,
                    "contracts:record_outcome",
                    {"outcome": "Vikten är stabil.", "happened": "1"},
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "post",
                    lambda world: f"next-steps/{world.step.pk}/outcome/",
                    {"outcome": "Vikten är stabil.", "happened": True},
                ),
                INTEGRATION,
            ),
        },
    ),
    "assign fixed care contact": UseCase(
        service(
            lambda team, world: services.assign_fixed_care_contact(
                actor=Actor.staff(team["coordinator"], team["vardcentral"]),
                contract=world.contract,
                expected_version=world.version,
                staff=team["doctor"],
                organisation=team["vardcentral"],
            )
        ),
        STAFF,
        {
            "coordinator page": (
                lambda client, team: _coordinator_post(
                    client,
                    team,
                    lambda world: reverse(
                        "coordination:assign_care_contact", args=[world.contract.pk]
                    ),
                    lambda world: world.version,
                ),
                STAFF,
            ),
            "discharge page": (
                lambda client, team: _coordinator_post(
                    client,
                    team,
                    lambda world: reverse(
                        "coordination:appoint_discharge_contact", args=[world.admission.pk]
                    ),
                    lambda world: world.admission.version,
                ),
                STAFF,
            ),
            "REST": (
                rest(
                    "put",
                    lambda world: f"contracts/{world.contract.pk}/care-contact/",
                    lambda team, world: {
                        "staff": team["doctor"].pk,
                        "organisation": team["vardcentral"].pk,
                    },
                ),
                INTEGRATION,
            ),
        },
        world={"care_contact": False, "admitted": True},
        # Naming the discharge's contact is a step of its own, on the stay.
        leave_out={"discharge page": {Event.Kind.DISCHARGE_CARE_CONTACT_APPOINTED}},
    ),
    "agree to the plan": UseCase(
        service(
            lambda team, world: services.agree_to_version(
                actor=Actor.patient(world.patient.user),
                contract=world.contract,
                version=world.version,
            )
        ),
        PATIENT,
        {"patient page": (page(as_patient, "contracts:agree", {}), PATIENT)},
    ),
}


def _coordinator_post(client, team, url, version):
    def write(world):
        client.force_login(team["coordinator"])
        membership = team["doctor"].memberships.get()
        response = client.post(url(world), {"version": version(world), "membership": membership.pk})
        assert response.status_code == 302
        refused = [m for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
        assert not refused, refused

    return write


DOORS = [(case, door) for case, use_case in USE_CASES.items() for door in use_case.doors]


@pytest.mark.parametrize("case, door", DOORS, ids=[f"{c}: {d}" for c, d in DOORS])
def test_every_door_writes_what_the_service_writes(case, door, team, client, monkeypatch):
    use_case = USE_CASES[case]
    options = use_case.world or {}
    through_door, door_actor = use_case.doors[door]
    leave_out = (use_case.leave_out or {}).get(door, ())

    expected = run(build_world(team, 1, **options), use_case.reference(client, team), monkeypatch)
    written = run(
        build_world(team, 2, **options),
        through_door(client, team),
        monkeypatch,
        leave_out=leave_out,
    )

    assert expected.events, "the use case writes its event"
    assert expected.actor_kinds == [use_case.reference_actor] * len(expected.events)
    assert written.actor_kinds == [door_actor] * len(written.events)
    assert written.events == expected.events
    assert written.outbox == expected.outbox
    assert written.wakeups == expected.wakeups


def test_assigning_a_fixed_care_contact_tells_the_contact_and_the_patient(team, monkeypatch):
    """The outbox rows every door above must match: not zero, whatever the door."""
    written = run(
        build_world(team, 1, care_contact=False),
        USE_CASES["assign fixed care contact"].reference(None, team),
        monkeypatch,
    )
    assert written.outbox == [
        (
            "care_contact_assigned",
            "email",
            "staff:doktor@example.org",
            "care_contact_assigned:<n>:staff",
        ),
        ("care_contact_assigned", "sms", PATIENT, "care_contact_assigned:<n>:patient"),
    ]
    assert written.wakeups == [wake.SEND_DUE]


# --- a refusal is the same at every door too ------------------------------------------------


def _refused_by_service(team, world, administrator):
    with pytest.raises(ValidationError) as refused:
        services.assign_fixed_care_contact(
            actor=Actor.staff(team["coordinator"], team["vardcentral"]),
            contract=world.contract,
            expected_version=world.version,
            staff=administrator,
            organisation=team["vardcentral"],
        )
    assert refused.value.message_dict == {"staff": [ADMINISTRATOR_REFUSED]}


def _refused_by_discharge_service(team, world, administrator):
    with pytest.raises(ValidationError) as refused:
        coordination.appoint_discharge_care_contact(
            actor=Actor.staff(team["coordinator"], team["vardcentral"]),
            admission=world.admission,
            expected_version=world.admission.version,
            staff=administrator,
        )
    assert refused.value.message_dict == {"staff": [ADMINISTRATOR_REFUSED]}


def _refused_by_rest(team, world, administrator):
    response = team["api"].put(
        f"/api/v1/contracts/{world.contract.pk}/care-contact/",
        {"staff": administrator.pk, "organisation": team["vardcentral"].pk},
        headers={
            "If-Match": f'"contract-{world.contract.pk}-v{world.version}"',
            "Accept-Language": "en",
        },
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"staff": [ADMINISTRATOR_REFUSED]}


def _refused_by_page(url_name, row):
    # The pages offer only the staff who may be a contact: a posted administrator is
    # refused as a choice outside the list, with a message on the page.
    def refuse(team, world, administrator):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(team["coordinator"])
        response = client.post(
            reverse(url_name, args=[row(world).pk]),
            {"version": row(world).version, "membership": administrator.memberships.get().pk},
        )
        assert response.status_code == 302
        assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["error"]

    return refuse


ADMINISTRATOR_REFUSED = "An organisation administrator cannot be a fixed care contact."
REFUSING_DOORS = {
    "service": _refused_by_service,
    "discharge service": _refused_by_discharge_service,
    "REST": _refused_by_rest,
    "coordinator page": _refused_by_page(
        "coordination:assign_care_contact", lambda world: world.contract
    ),
    "discharge page": _refused_by_page(
        "coordination:appoint_discharge_contact", lambda world: world.admission
    ),
}


@pytest.mark.parametrize("door", REFUSING_DOORS)
def test_no_door_makes_an_administrator_the_fixed_care_contact(door, team, monkeypatch):
    administrator = make_staff("admin@example.org", team["vardcentral"], Role.ORG_ADMIN)
    world = build_world(team, 1, care_contact=False, admitted=True)

    written = run(
        world, lambda world: REFUSING_DOORS[door](team, world, administrator), monkeypatch
    )

    assert (written.events, written.outbox, written.wakeups) == ([], [], [])
    assert not world.contract.care_contacts.exists()
