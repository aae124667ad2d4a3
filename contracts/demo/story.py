"""The demo story (demoberättelsen): Esther's plan, Tolvan Tolvansson and about twenty
patients in varied states, for `manage.py seed_demo` and the tests.

Built through the services, as the staff, patients and relatives in it would make the
changes, so every change has its event. Idempotent: people are found by identity number
or e-mail before anything is created.
"""

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from actors.models import Organisation, User
from contracts import days, services
from contracts.history import Actor
from contracts.models import Channel, Commitment, ContactPath, Contract, NextStep, OwnerKind
from patients import services as patient_services
from patients.models import Patient, Relative, SupportProfile

from .network import (
    ADMIN_EMAIL,
    DOMAIN,
    FAMILY_NAMES,
    FEMALE_NAMES,
    HSA_PREFIX,
    MALE_NAMES,
    PASSWORD,
    STAFF,
    STREETS,
    UNIT_HSA,
    Network,
    fictional_identity_number,
    fictional_phone,
    find_or_create_login,
    personnummer,
    show_phone,
)

ESTHER_EMAIL = f"esther@{DOMAIN}"
KARIN_EMAIL = f"karin@{DOMAIN}"
TOLVAN_EMAIL = f"tolvan@{DOMAIN}"

# Esther, born 15 April 1938; birth number 982 from the test-person series (even: a woman).
ESTHER_NUMBER = personnummer(1938, 4, 15, 982)
TOLVAN_NUMBER = "191212121212"


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(e-mail, password, role, organisation) for every demo login that exists."""
    rows = [
        (f"{local}@{DOMAIN}", str(role.label), org_key)
        for _key, local, _given, _family, org_key, role, _title in STAFF
    ]
    rows += [
        (ESTHER_EMAIL, "Patient (Esther Lindqvist)", ""),
        (KARIN_EMAIL, "Relative of Esther (may write)", ""),
        (TOLVAN_EMAIL, "Patient (Tolvan Tolvansson)", ""),
        (ADMIN_EMAIL, "Superuser (/admin/)", ""),
    ]
    present = set(
        User.objects.filter(email__in=[r[0] for r in rows]).values_list("email", flat=True)
    )
    names = {
        org.hsa_id: org.name
        for org in Organisation.objects.filter(hsa_id__startswith=HSA_PREFIX + "D")
    }
    return [
        (email, PASSWORD, role, names.get(HSA_PREFIX + UNIT_HSA[org], "") if org else "")
        for email, role, org in rows
        if email in present
    ]


def _version(contract: Contract) -> int:
    # The services lock and bump their own copy of the row, so ask the database.
    return Contract.objects.values_list("version", flat=True).get(pk=contract.pk)


def _at(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), tzinfo=days.STOCKHOLM)


def _warning_signs(actor: Actor, contract: Contract, signs: list[tuple[str, str]]) -> None:
    services.set_warning_signs(
        actor=actor, contract=contract, expected_version=_version(contract), signs=signs
    )


def _contact_paths(actor: Actor, contract: Contract, paths) -> None:
    """`paths` as (kind, label, value, hours, organisation) tuples, to keep the lists short."""
    services.set_contact_paths(
        actor=actor,
        contract=contract,
        expected_version=_version(contract),
        paths=[
            {"kind": kind, "label": label, "value": value, "hours": hours, "organisation": org}
            for kind, label, value, hours, org in paths
        ],
    )


ESTHER_WHAT_MATTERS = (
    "Att kunna bo kvar hemma och gå till affären själv, som jag alltid har gjort. "
    "Jag vill orka gå ner till Konsum och fika med Karin på lördagarna. "
    "Och jag vill slippa åka in till sjukhuset i Uppsala igen om det går."
)


def seed_story(network: Network) -> bool:
    """Esther, Tolvan and the varied patients. False when they are already there."""
    if Patient.objects.filter(identity_number=ESTHER_NUMBER).exists():
        return False
    with transaction.atomic():
        _build_esther(network)
        if not Patient.objects.filter(identity_number=TOLVAN_NUMBER).exists():
            _build_tolvan(network)
        _build_cases(network)
    return True


def _build_esther(net: Network) -> Patient:
    """Esther Lindqvist, 88, heart failure and diabetes, lives alone in Tierp."""
    vc, cardiology = net.orgs["vardcentral"], net.orgs["cardiology"]
    home_health, home_care = net.orgs["home_health"], net.orgs["home_care"]
    as_maria, as_anna, as_sara = net.actor("maria"), net.actor("anna"), net.actor("sara")
    as_erik, as_lena, as_johan = net.actor("erik"), net.actor("lena"), net.actor("johan")
    today = timezone.localdate()

    user = find_or_create_login(ESTHER_EMAIL, "Esther", "Lindqvist", phone=fictional_phone(0))
    esther = patient_services.register_patient(
        actor=as_maria,
        identity_number=ESTHER_NUMBER,
        given_name="Esther",
        family_name="Lindqvist",
        phone=fictional_phone(0),
        email=ESTHER_EMAIL,
        address="Sjögatan 4, Tierp",
        support_profile=SupportProfile.WORRIED_ENGAGED,
        user=user,
    )
    as_esther = Actor.patient(user)

    karin_user = find_or_create_login(KARIN_EMAIL, "Karin", "Lindqvist", phone=fictional_phone(1))
    # No service adds a relative yet; the access she is given goes through one.
    karin = Relative.objects.create(
        patient=esther,
        user=karin_user,
        name="Karin Lindqvist",
        relation="dotter",
        phone=fictional_phone(1),
        email=KARIN_EMAIL,
    )
    patient_services.set_relative_access(
        actor=as_esther, relative=karin, access=Relative.Access.WRITE
    )
    as_karin = Actor.relative(karin_user)

    for organisation, staff_key, responsibility in [
        (vc, "maria", "Fast vårdkontakt, hjärtsvikt och diabetes"),
        (cardiology, "erik", "Hjärtsvikt: ultraljud och läkemedel"),
        (home_health, "lena", "Dosett, vikt och bensvullnad vid hembesök"),
        (home_care, None, "Inköp, dusch och tillsyn"),
    ]:
        patient_services.add_to_care_team(
            actor=as_maria,
            patient=esther,
            organisation=organisation,
            responsibility=responsibility,
            consent=True,
        )
        if staff_key:
            patient_services.add_to_care_team(
                actor=as_maria,
                patient=esther,
                organisation=organisation,
                staff=net.staff[staff_key],
                responsibility=responsibility,
            )

    contract = services.create_contract(actor=as_maria, patient=esther)
    services.set_what_matters(
        actor=as_esther,
        contract=contract,
        expected_version=_version(contract),
        text=ESTHER_WHAT_MATTERS,
        goals=[
            "Gå till affären själv två gånger i veckan",
            "Hålla vikten stabil, inom 2 kg",
            "Slippa bli inlagd på sjukhus i vinter",
        ],
    )
    visit = services.agree_next_step(
        actor=as_anna,
        contract=contract,
        expected_version=_version(contract),
        scheduled_at=_at(1, 9, 30),
        channel=Channel.VISIT,
        location="Vårdcentralen Tierp",
        with_whom="Anna Berglund, läkare",
        staff=net.staff["anna"],
        purpose="Gå igenom andfåddheten och blodsockret efter tiden på sjukhuset",
    )
    services.record_next_step_outcome(
        actor=as_anna,
        step=visit,
        expected_version=_version(contract),
        outcome="Höjd dos vätskedrivande. Esther väger sig varje morgon. "
        "Distriktssköterskan gör hembesök om några dagar.",
    )
    services.agree_next_step(
        actor=as_maria,
        contract=contract,
        expected_version=_version(contract),
        scheduled_at=_at(3, 10),
        channel=Channel.HOME_VISIT,
        location="Hemma hos Esther, Sjögatan 4, Tierp",
        with_whom="Maria Sjöberg, distriktssköterska",
        staff=net.staff["maria"],
        purpose="Följa upp vikten, andningen och svullnaden i benen efter den höjda dosen",
    )

    def commit(actor, what, owner_kind, **owner):
        return services.add_commitment(
            actor=actor,
            contract=contract,
            expected_version=_version(contract),
            what=what,
            owner_kind=owner_kind,
            **owner,
        )

    commit(as_esther, "Väga mig varje morgon före frukost och skriva upp vikten", OwnerKind.PATIENT)
    commit(
        as_esther,
        "Ringa distriktssköterskan samma dag om jag har gått upp 2 kg på 3 dagar",
        OwnerKind.PATIENT,
    )
    pharmacy = commit(
        as_esther,
        "Hämta ut de nya vätskedrivande tabletterna på apoteket",
        OwnerKind.PATIENT,
        due_date=today + timedelta(days=1),
    )
    commit(
        as_karin,
        "Följa med mamma på återbesöket på kardiologen",
        OwnerKind.RELATIVE,
        owner_relative=karin,
        due_date=today + timedelta(days=21),
    )
    commit(as_karin, "Handla med mamma på lördagarna", OwnerKind.RELATIVE, owner_relative=karin)
    commit(
        as_anna,
        "Göra en läkemedelsgenomgång och skicka den nya listan till Esther och hemsjukvården",
        OwnerKind.ORGANISATION,
        owner_organisation=vc,
        due_date=today + timedelta(days=10),
    )
    commit(
        as_anna,
        "Ta blodprov för njurvärden och kalium en vecka efter dosökningen",
        OwnerKind.STAFF,
        owner_organisation=vc,
        owner_staff=net.staff["anna"],
        due_date=today + timedelta(days=7),
    )
    commit(
        as_lena,
        "Lägga dosetten varje fredag och titta på svullnaden i benen",
        OwnerKind.STAFF,
        owner_organisation=home_health,
        owner_staff=net.staff["lena"],
    )
    commit(
        as_johan,
        "Handla mat på tisdagar och hjälpa till med duschen på torsdagar",
        OwnerKind.ORGANISATION,
        owner_organisation=home_care,
    )
    echo = commit(
        as_erik,
        "Kalla Esther till ultraljud av hjärtat",
        OwnerKind.ORGANISATION,
        owner_organisation=cardiology,
        due_date=today + timedelta(days=1),
    )
    services.complete_commitment(
        actor=as_esther, commitment=pharmacy, expected_version=_version(contract)
    )
    services.assign_fixed_care_contact(
        actor=as_sara,
        contract=contract,
        expected_version=_version(contract),
        staff=net.staff["maria"],
        organisation=vc,
        how_to_reach=f"Direktnummer {show_phone(fictional_phone(11))}, vardagar 8–16",
    )
    _warning_signs(
        as_maria,
        contract,
        [
            ("Jag har gått upp 2 kg på 3 dagar", "Ring distriktssköterskan samma dag."),
            (
                "Jag blir mer andfådd, eller benen svullnar mer än vanligt",
                "Ring vårdcentralen. Kvällar och helger: ring hemsjukvården.",
            ),
            (
                "Blodsockret är under 4 eller över 15",
                "Ät något sött om det är lågt. Ring vårdcentralen om det inte går över.",
            ),
            ("Jag får ont i bröstet eller svårt att andas när jag vilar", "Ring 112."),
        ],
    )
    _contact_paths(
        as_maria,
        contract,
        [
            (ContactPath.Kind.PHONE, "Maria Sjöberg, distriktssköterska",
             show_phone(fictional_phone(11)), "Vardagar 8–16", vc),
            (ContactPath.Kind.PHONE, "Vårdcentralen Tierp", show_phone(vc.phone),
             "Vardagar 8–17", vc),
            (ContactPath.Kind.SECURE_MESSAGE, "Skriv till vårdcentralen",
             "1177.se, Inloggade tjänster", "Svar inom två vardagar", vc),
            (ContactPath.Kind.WEB_BOOKING, "Boka eller avboka tid", "https://www.1177.se", "",
             vc),
            (ContactPath.Kind.PHONE, "Hemsjukvården Tierp", show_phone(home_health.phone),
             "Dygnet runt", home_health),
            (ContactPath.Kind.PHONE, "Sjukvårdsrådgivningen", "1177", "Dygnet runt", None),
        ],
    )  # fmt: skip
    services.agree_to_version(actor=as_esther, contract=contract, version=_version(contract))
    # A change after she agreed, so her page shows "changed since you agreed".
    commit(
        as_lena,
        "Väga Esther vid hembesöken och skicka vikten till distriktssköterskan",
        OwnerKind.ORGANISATION,
        owner_organisation=home_health,
    )

    # Demo only: the services refuse dates in the past, as they should. To show a
    # finished visit and an overdue commitment, dates are moved back afterwards
    # (no event is written for this, as nobody really changed anything).
    NextStep.objects.filter(pk=visit.pk).update(
        scheduled_at=_at(-9, 9, 30), outcome_recorded_at=_at(-9, 10, 15)
    )
    Commitment.objects.filter(pk=echo.pk).update(due_date=today - timedelta(days=5))
    return esther


def _build_tolvan(net: Network) -> Patient:
    """Tolvan Tolvansson, the classic test person, with a short plan."""
    as_anna = net.actor("anna")
    user = find_or_create_login(TOLVAN_EMAIL, "Tolvan", "Tolvansson", phone=fictional_phone(2))
    tolvan = patient_services.register_patient(
        actor=net.actor("sara"),
        identity_number=TOLVAN_NUMBER,
        given_name="Tolvan",
        family_name="Tolvansson",
        phone=fictional_phone(2),
        email=TOLVAN_EMAIL,
        address="Tolvgatan 12, Tierp",
        support_profile=SupportProfile.INDEPENDENT_ENGAGED,
        user=user,
    )
    vc = net.orgs["vardcentral"]
    patient_services.add_to_care_team(actor=as_anna, patient=tolvan, organisation=vc, consent=True)
    contract = services.create_contract(
        actor=as_anna,
        patient=tolvan,
        what_matters="Att orka gå ut med hunden varje dag och klara trappan hemma.",
    )
    services.agree_next_step(
        actor=as_anna,
        contract=contract,
        expected_version=_version(contract),
        scheduled_at=_at(5, 14),
        channel=Channel.PHONE,
        with_whom="Anna Berglund, läkare",
        staff=net.staff["anna"],
        purpose="Gå igenom blodtrycket efter en vecka med den nya medicinen",
    )
    for what, kind, owner in [
        ("Ta blodtrycket varje morgon i en vecka", OwnerKind.PATIENT, {}),
        ("Förnya receptet på blodtrycksmedicinen", OwnerKind.ORGANISATION,
         {"owner_organisation": vc}),
    ]:  # fmt: skip
        services.add_commitment(
            actor=as_anna,
            contract=contract,
            expected_version=_version(contract),
            what=what,
            owner_kind=kind,
            **owner,
        )
    services.assign_fixed_care_contact(
        actor=as_anna,
        contract=contract,
        expected_version=_version(contract),
        staff=net.staff["anna"],
        organisation=vc,
    )
    return tolvan


@dataclass(frozen=True)
class Case:
    """One of the varied demo patients: the state their plan is in."""

    note: str
    profile: str
    team: tuple[str, ...] = ("vardcentral",)
    plan: bool = True
    contact: str = "maria"  # staff key of the fixed care contact, "" for none
    step: str = "planned"  # "planned", "overdue" (passed, no outcome) or "" (none)
    overdue_commitments: int = 0
    withdraw: str = ""  # organisation the patient blocks (spärr) after the plan is made
    agreed: str = ""  # "", "agreed", or "changed" (changed since the patient agreed)
    review_overdue: bool = False
    waiting_days: int = 0  # how long ago the plan started
    language: str = "sv"
    interpreter: bool = False
    easy_read: bool = False
    coordination: bool = False  # samordningsnummer instead of personnummer
    channel: str = "sms"


_IE = SupportProfile.INDEPENDENT_ENGAGED
_WE = SupportProfile.WORRIED_ENGAGED
_TU = SupportProfile.TRADITIONAL_UNCONCERNED
_VW = SupportProfile.VULNERABLE_WORRIED

CASES = [
    Case("full plan, agreed", _IE, ("vardcentral", "home_health"), agreed="agreed"),
    Case("changed since agreed", _WE, ("vardcentral", "cardiology"), contact="anna",
         agreed="changed"),
    Case("home help and home health care", _VW, ("vardcentral", "home_health", "home_care"),
         contact="lena", agreed="agreed"),
    Case("no next step, no reminders", _TU, step="", channel="none"),
    Case("no fixed care contact for 6 days", _WE, ("vardcentral", "home_health"), contact="",
         waiting_days=6),
    Case("no fixed care contact, new today", _IE, contact=""),
    Case("no fixed care contact for 10 days", _VW, ("vardcentral", "home_care"), contact="",
         waiting_days=10),
    Case("next step passed without outcome", _WE, step="overdue"),
    Case("next step passed, vulnerable", _VW, ("vardcentral", "home_health", "home_care"),
         contact="lena", step="overdue"),
    Case("next step passed and no contact", _TU, contact="", step="overdue", waiting_days=8),
    Case("registered, no plan yet", _IE, plan=False),
    Case("registered, no plan yet", _VW, ("vardcentral", "home_health"), plan=False),
    Case("home help only, no plan", _TU, ("vardcentral", "home_care"), plan=False),
    Case("blocked hemtjänst", _WE, ("vardcentral", "home_care"), withdraw="home_care"),
    Case("blocked cardiology", _IE, ("vardcentral", "cardiology"), contact="anna",
         withdraw="cardiology"),
    Case("overdue commitments", _WE, ("vardcentral", "home_health"), overdue_commitments=2),
    Case("overdue commitments, vulnerable", _VW, ("vardcentral", "cardiology"),
         contact="anna", overdue_commitments=3, agreed="agreed"),
    Case("review overdue", _TU, review_overdue=True, agreed="agreed"),
    Case("Finnish, needs an interpreter", _WE, ("vardcentral", "home_health"),
         language="fi", interpreter=True),
    Case("easy-read", _VW, ("vardcentral", "home_care"), easy_read=True),
    Case("samordningsnummer, lives abroad part of the year", _IE, language="en",
         coordination=True),
]  # fmt: skip

WHAT_MATTERS = [
    "Att kunna bo kvar i mitt hus och sköta trädgården.",
    "Att orka gå på kyrkkaffet på söndagarna.",
    "Att klara mig själv i badrummet.",
    "Att kunna träffa barnbarnen utan att bli så trött.",
    "Att slippa åka in akut till sjukhuset.",
    "Att kunna fortsätta sjunga i kören.",
    "Att få vara hemma med min fru så länge det går.",
    "Att kunna ta bussen in till Uppsala själv.",
    "Att veta vem jag ska ringa när något känns fel.",
    "Att sova hela natten utan att bli andfådd.",
    "Att kunna laga min egen mat.",
    "Att gå ut med hunden varje dag.",
]
GOALS = [
    "Gå en promenad varje dag",
    "Hålla vikten stabil",
    "Klara trappan hemma",
    "Ha ett jämnt blodsocker",
    "Inte behöva läggas in på sjukhus",
    "Sova bättre på nätterna",
    "Orka handla själv",
]
PURPOSES = [
    "Följa upp blodtrycket och medicinerna",
    "Gå igenom provsvaren",
    "Följa upp vikt och andning",
    "Se över bensåret",
    "Årskontroll för diabetes",
    "Planera inför vintern",
]
OUTCOMES = [
    "Provsvaren var bra. Vi fortsätter som förut.",
    "Ändrad dos, ny kontroll om två veckor.",
    "Bensåret läker. Omläggning två gånger i veckan.",
]
SELF_CARE = [
    "Väga mig varje morgon",
    "Ta blodtrycket två gånger i veckan",
    "Gå en promenad varje dag",
    "Mäta blodsockret före frukost",
    "Ta mina mediciner enligt dosetten",
    "Skriva upp frågor till nästa besök",
    "Göra benövningarna från fysioterapeuten",
]
RELATIVE_TASKS = [
    "Följa med på nästa läkarbesök",
    "Handla mat en gång i veckan",
    "Ringa varje kväll",
    "Hjälpa till att förnya recepten",
]
ORGANISATION_TASKS = {
    "vardcentral": [
        "Göra en läkemedelsgenomgång",
        "Ta blodprover (HbA1c och njurvärden)",
        "Skicka remiss till fotterapeut",
        "Förnya recepten",
        "Boka årskontroll för diabetes",
    ],
    "cardiology": [
        "Göra ultraljud av hjärtat",
        "Justera dosen vätskedrivande efter provsvaren",
        "Kalla till återbesök på hjärtsviktsmottagningen",
        "Skicka epikris till vårdcentralen",
    ],
    "home_health": [
        "Lägga dosetten varje vecka",
        "Lägga om bensåret två gånger i veckan",
        "Följa upp vikt och svullnad vid hembesöken",
        "Ge insulin morgon och kväll",
    ],
    "home_care": [
        "Handla mat varje tisdag",
        "Hjälpa till med duschen två gånger i veckan",
        "Laga middag på vardagar",
        "Titta till på kvällen",
    ],
}
WARNING_SIGNS = [
    ("Jag blir mer andfådd än vanligt", "Ring vårdcentralen samma dag."),
    ("Jag får ont i bröstet eller svårt att andas när jag vilar", "Ring 112."),
]


def _case_people() -> list[tuple[str, bool, str, str]]:
    """(identity number, female, given name, family name) for each case; the same every run."""
    rng = random.Random("naravard-demo-cases")
    taken = {ESTHER_NUMBER, TOLVAN_NUMBER}
    people = []
    for case in CASES:
        number, female = fictional_identity_number(rng, taken, coordination=case.coordination)
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        people.append((number, female, given, rng.choice(FAMILY_NAMES)))
    return people


def story_identity_numbers() -> set[str]:
    return {ESTHER_NUMBER, TOLVAN_NUMBER, *(person[0] for person in _case_people())}


def _ascii(text: str) -> str:
    return text.lower().translate(str.maketrans("åäöé", "aaoe"))


def _build_cases(net: Network) -> None:
    rng = random.Random("naravard-demo-case-details")
    for index, (case, (number, _female, given, family)) in enumerate(
        zip(CASES, _case_people(), strict=True), start=20
    ):
        if not Patient.objects.filter(identity_number=number).exists():
            _build_case(net, case, rng, index, number, given, family)


def _build_case(net, case: Case, rng, index, number, given, family) -> None:
    as_sara, as_anna, as_maria = net.actor("sara"), net.actor("anna"), net.actor("maria")
    today = timezone.localdate()
    user = None
    if case.agreed:
        # Agreeing needs the patient's own login. These patients would sign in with
        # e-legitimation; they have no demo password and are not in the login table.
        email = f"{_ascii(given)}.{_ascii(family)}.{index}@{DOMAIN}"
        user = find_or_create_login(email, given, family, usable=False)
    patient = patient_services.register_patient(
        actor=as_sara,
        identity_number=number,
        given_name=given,
        family_name=family,
        phone=fictional_phone(index),
        address=f"{rng.choice(STREETS)} {rng.randint(1, 40)}, Tierp",
        support_profile=case.profile,
        preferred_language=case.language,
        needs_interpreter=case.interpreter,
        easy_read=case.easy_read,
        preferred_channel=case.channel,
        user=user,
    )
    for key in case.team:
        patient_services.add_to_care_team(
            actor=as_sara, patient=patient, organisation=net.orgs[key], consent=True
        )
    if not case.plan:
        return

    contract = services.create_contract(actor=as_anna, patient=patient)
    services.set_what_matters(
        actor=as_maria,
        contract=contract,
        expected_version=_version(contract),
        text=rng.choice(WHAT_MATTERS),
        goals=rng.sample(GOALS, rng.randint(1, 2)),
    )
    step = None
    if case.step:
        step = services.agree_next_step(
            actor=as_maria,
            contract=contract,
            expected_version=_version(contract),
            scheduled_at=_at(1 if case.step == "overdue" else rng.randint(2, 20),
                             rng.choice((9, 10, 13, 14))),
            channel=rng.choice(Channel.values),
            with_whom="Maria Sjöberg, distriktssköterska",
            staff=net.staff["maria"],
            purpose=rng.choice(PURPOSES),
        )  # fmt: skip

    def commit(what, kind, due_in=None, **owner):
        return services.add_commitment(
            actor=as_anna,
            contract=contract,
            expected_version=_version(contract),
            what=what,
            owner_kind=kind,
            due_date=today + timedelta(days=due_in) if due_in is not None else None,
            **owner,
        )

    for what in rng.sample(SELF_CARE, rng.randint(1, 2)):
        commit(what, OwnerKind.PATIENT)
    dated = []
    for key in case.team:
        dated.append(
            commit(
                rng.choice(ORGANISATION_TASKS[key]),
                OwnerKind.ORGANISATION,
                due_in=rng.randint(1, 30),
                owner_organisation=net.orgs[key],
            )
        )
    for _ in range(case.overdue_commitments - len(dated)):
        dated.append(
            commit(
                rng.choice(ORGANISATION_TASKS["vardcentral"]),
                OwnerKind.ORGANISATION,
                due_in=1,
                owner_organisation=net.orgs["vardcentral"],
            )
        )
    if case.contact:
        services.assign_fixed_care_contact(
            actor=as_sara,
            contract=contract,
            expected_version=_version(contract),
            staff=net.staff[case.contact],
            organisation=net.org_of(case.contact),
        )
    vc = net.orgs["vardcentral"]
    _warning_signs(as_maria, contract, WARNING_SIGNS)
    _contact_paths(
        as_maria,
        contract,
        [
            (ContactPath.Kind.PHONE, vc.name, show_phone(vc.phone), "Vardagar 8–17", vc),
            (ContactPath.Kind.PHONE, "Sjukvårdsrådgivningen", "1177", "Dygnet runt", None),
        ],
    )
    if case.agreed:
        services.agree_to_version(
            actor=Actor.patient(user), contract=contract, version=_version(contract)
        )
    if case.agreed == "changed":
        commit(rng.choice(ORGANISATION_TASKS["vardcentral"]), OwnerKind.ORGANISATION,
               due_in=14, owner_organisation=vc)  # fmt: skip
    if case.withdraw:
        patient_services.withdraw_consent(
            actor=Actor.patient(user) if user else as_sara,
            patient=patient,
            organisation=net.orgs[case.withdraw],
        )

    # Demo only: the services refuse dates in the past, as they should. To fill the
    # coordinators' queues, dates are moved back afterwards (no event: nobody acted).
    if case.step == "overdue":
        NextStep.objects.filter(pk=step.pk).update(
            scheduled_at=_at(-rng.randint(2, 6), rng.choice((9, 10, 13, 14)))
        )
    for days_late, commitment in enumerate(dated[: case.overdue_commitments], start=3):
        Commitment.objects.filter(pk=commitment.pk).update(
            due_date=today - timedelta(days=days_late)
        )
    if case.review_overdue:
        Contract.objects.filter(pk=contract.pk).update(review_due=today - timedelta(days=12))
    if case.waiting_days:
        Contract.objects.filter(pk=contract.pk).update(
            created_at=timezone.now() - timedelta(days=case.waiting_days)
        )
