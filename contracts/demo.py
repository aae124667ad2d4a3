"""Demo data (påhittade personer): a care network in Region Uppsala, and bulk data for benchmarks.

Everything here is made up: the people, their identity numbers, HSA-ids, addresses
and phone numbers. Two parts, both run by `manage.py seed_demo`:

- `build_network()` and `seed_story()`: the organisations, their staff, Esther's
  plan, Tolvan Tolvansson and about twenty patients in varied states. Built
  through the services, so every change has its event as if staff had made it.
- `generate_patients()`: many more patients for `make bench`, inserted in bulk.

Both are idempotent: organisations are found by HSA-id or county/municipality
code, people by e-mail or identity number, before anything is created.
"""

import calendar
import math
import random
import time as clock
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from actors.models import Membership, Organisation, OrganisationKind, Role, User
from patients import services as patient_services
from patients.identity import SAMORDNING_DAY_OFFSET, luhn_check_digit
from patients.models import IdentityKind, Patient, Relative, SupportProfile

from . import days, services
from .history import Actor
from .models import (
    Channel,
    Commitment,
    ContactPath,
    Contract,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    OwnerKind,
    WarningSign,
)

PASSWORD = "demo1234"
DOMAIN = "naravard.example"
SYSTEM = Actor.system("seed_demo")

# Region Uppsala's HSA prefix with made-up local parts ("D" for demo).
HSA_PREFIX = "SE2321000032-"
UNIT_HSA = {"vardcentral": "D001", "cardiology": "D002", "home_health": "D003", "home_care": "D004"}


def fictional_phone(index: int) -> str:
    """PTS keeps 070-174 06 05 to 070-174 06 99 for use in fiction: they reach nobody."""
    return f"+4670174{605 + index % 95:04d}"


def _show_phone(number: str) -> str:
    return f"070-174 {number[-4:-2]} {number[-2:]}"


# --- people's names ---------------------------------------------------------------

FEMALE_NAMES = [
    "Anna", "Eva", "Karin", "Kristina", "Lena", "Kerstin", "Margareta", "Elisabeth",
    "Birgitta", "Ingrid", "Marianne", "Inger", "Ulla", "Gunilla", "Barbro", "Elsa",
    "Astrid", "Märta", "Britt", "Siv", "Solveig", "Agneta", "Monica", "Gunnel", "Maj",
    "Rut", "Aina", "Greta", "Signe", "Ingegerd",
]  # fmt: skip
MALE_NAMES = [
    "Lars", "Karl", "Erik", "Anders", "Per", "Johan", "Nils", "Jan", "Gunnar", "Olof",
    "Bengt", "Sven", "Lennart", "Bo", "Göran", "Åke", "Kjell", "Rolf", "Stig", "Leif",
    "Ulf", "Bertil", "Arne", "Ingemar", "Rune", "Gösta", "Evert", "Tore", "Sture", "Hans",
]  # fmt: skip
FAMILY_NAMES = [
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
    "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson",
    "Bengtsson", "Jönsson", "Lindberg", "Jakobsson", "Magnusson", "Olofsson", "Lindström",
    "Lindgren", "Berg", "Axelsson", "Bergström", "Lundberg", "Lind", "Lundgren",
    "Lundqvist", "Mattsson", "Fredriksson", "Sandberg", "Henriksson", "Engström",
    "Danielsson", "Håkansson", "Björk", "Bergman", "Gunnarsson", "Wikström",
    "Samuelsson", "Isaksson", "Öberg", "Åström", "Ek", "Strand", "Hedlund", "Sundberg",
]  # fmt: skip
STREETS = [
    "Storgatan", "Kyrkogatan", "Skolgatan", "Järnvägsgatan", "Sjögatan", "Östra vägen",
    "Björkvägen", "Granvägen", "Tallstigen", "Ängsvägen", "Prästgårdsgatan", "Villagatan",
]  # fmt: skip


# Draws of a personnummer that may meet taken numbers before a samordningsnummer is made.
MAX_TRIES = 200


def birth_date_of(number: str) -> date:
    """The date of birth in a personnummer or samordningsnummer (day + 60)."""
    day = int(number[6:8])
    return date(int(number[:4]), int(number[4:6]), day - SAMORDNING_DAY_OFFSET if day > 60 else day)


def fictional_identity_number(
    rng: random.Random,
    taken: set[str],
    *,
    first_year: int = 1920,
    last_year: int = 2000,
    coordination: bool = False,
) -> tuple[str, bool]:
    """A Luhn-valid personnummer (or samordningsnummer) not in `taken`; adds it there.

    Returns the 12-digit number and whether its sex digit is female (even)."""
    tries = 0
    while True:
        tries += 1
        if tries > MAX_TRIES and not coordination:
            # The test series holds about 590 000 personnummer in these years; near that
            # (a million bench patients) the rest become samordningsnummer, of which there
            # are as many. Numbers drawn before keep their order, so a larger run finds
            # the smaller one's patients again.
            coordination, tries = True, 0
        year = rng.randint(first_year, last_year)
        born = date(year, 1, 1) + timedelta(days=rng.randrange(365 + calendar.isleap(year)))
        female = rng.random() < 0.55
        # Birth numbers 980-999 are the series kept for test persons, never given
        # to a real person, so generated demo patients cannot be someone real.
        serial = rng.randrange(980, 1000, 2) + (0 if female else 1)
        day = born.day + (SAMORDNING_DAY_OFFSET if coordination else 0)
        nine = f"{year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
        number = f"{year // 100}{nine}{luhn_check_digit(nine)}"
        if number not in taken:
            taken.add(number)
            return number, female


def _personnummer(year: int, month: int, day: int, serial: int) -> str:
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{year // 100}{nine}{luhn_check_digit(nine)}"


# --- the network ------------------------------------------------------------------

# key, e-mail, given name, family name, organisation, role, title
STAFF = [
    ("anna", "anna.lakare", "Anna", "Berglund", "vardcentral", Role.CLINICIAN, "Läkare"),
    ("maria", "maria.sjukskoterska", "Maria", "Sjöberg", "vardcentral", Role.CLINICIAN,
     "Distriktssköterska"),
    ("sara", "sara.samordnare", "Sara", "Holm", "vardcentral", Role.COORDINATOR,
     "Vårdsamordnare"),
    ("per", "per.admin", "Per", "Wallin", "vardcentral", Role.ORG_ADMIN, "Verksamhetschef"),
    ("erik", "erik.kardiolog", "Erik", "Nyström", "cardiology", Role.CLINICIAN,
     "Överläkare, kardiologi"),
    ("lena", "lena.hemsjukvard", "Lena", "Forsberg", "home_health", Role.HOME_CARE,
     "Sjuksköterska i hemsjukvården"),
    ("ulla", "ulla.samordnare", "Ulla", "Lundin", "home_health", Role.COORDINATOR,
     "Samordnare, Tierps kommun"),
    ("johan", "johan.hemtjanst", "Johan", "Eklund", "home_care", Role.HOME_CARE,
     "Undersköterska i hemtjänsten"),
]  # fmt: skip

ADMIN_EMAIL = f"admin@{DOMAIN}"
ESTHER_EMAIL = f"esther@{DOMAIN}"
KARIN_EMAIL = f"karin@{DOMAIN}"
TOLVAN_EMAIL = f"tolvan@{DOMAIN}"

# Esther, born 15 April 1938; birth number 246 (even: a woman).
ESTHER_NUMBER = _personnummer(1938, 4, 15, 982)
TOLVAN_NUMBER = "191212121212"


@dataclass
class Network:
    orgs: dict[str, Organisation]
    staff: dict[str, User]
    staff_org: dict[str, str]

    def actor(self, staff_key: str) -> Actor:
        return Actor.staff(self.staff[staff_key], self.orgs[self.staff_org[staff_key]])

    def org_of(self, staff_key: str) -> Organisation:
        return self.orgs[self.staff_org[staff_key]]


def _organisation(lookup: dict, **fields) -> Organisation:
    organisation = Organisation.objects.filter(**lookup).first()
    if organisation is None:
        organisation = Organisation(**lookup, **fields)
        organisation.full_clean()
        organisation.save()
    return organisation


def _login(email: str, given: str, family: str, *, usable: bool = True, **extra) -> User:
    """Find or create a login; an existing one keeps its password (re-runs change nothing)."""
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User(email=email, first_name=given, last_name=family, **extra)
        if usable:
            user.set_password(PASSWORD)
        else:
            user.set_unusable_password()
        user.save()
    return user


@transaction.atomic
def build_network() -> Network:
    """Region Uppsala, Uppsala and Tierp municipalities, four units and their staff."""
    region = _organisation(
        {"kind": OrganisationKind.REGION, "county_code": "03"}, name="Region Uppsala"
    )
    _organisation(
        {"kind": OrganisationKind.MUNICIPALITY, "municipality_code": "0380"},
        name="Uppsala kommun",
        county_code="03",
    )
    tierp = _organisation(
        {"kind": OrganisationKind.MUNICIPALITY, "municipality_code": "0360"},
        name="Tierps kommun",
        county_code="03",
    )
    units = [
        ("vardcentral", "Vårdcentralen Tierp", OrganisationKind.PRIMARY_CARE, region,
         "Centralgatan 9, Tierp", 6),
        ("cardiology", "Kardiologmottagningen, Akademiska sjukhuset",
         OrganisationKind.HOSPITAL_UNIT, region, "Ingång 40, Akademiska sjukhuset, Uppsala", 7),
        ("home_health", "Hemsjukvården Tierp", OrganisationKind.HOME_HEALTH_CARE, tierp,
         "Kommunhuset, Tierp", 8),
        ("home_care", "Hemtjänsten Tierp", OrganisationKind.HOME_CARE_SERVICE, tierp,
         "Kommunhuset, Tierp", 9),
    ]  # fmt: skip
    orgs = {"region": region, "tierp": tierp}
    for key, name, kind, parent, address, phone in units:
        orgs[key] = _organisation(
            {"hsa_id": HSA_PREFIX + UNIT_HSA[key]},
            name=name,
            kind=kind,
            parent=parent,
            address=address,
            phone=fictional_phone(phone),
        )

    staff, staff_org = {}, {}
    for number, (key, local, given, family, org_key, role, title) in enumerate(STAFF):
        user = _login(f"{local}@{DOMAIN}", given, family, phone=fictional_phone(10 + number))
        Membership.objects.get_or_create(
            user=user,
            organisation=orgs[org_key],
            role=role,
            defaults={"title": title, "phone": fictional_phone(10 + number)},
        )
        staff[key], staff_org[key] = user, org_key
    _login(ADMIN_EMAIL, "Admin", "Naravard", is_staff=True, is_superuser=True)
    return Network(orgs=orgs, staff=staff, staff_org=staff_org)


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


def format_table(rows, headers) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


# --- the story: Esther, Tolvan and about twenty others, through the services ---------


def _version(contract: Contract) -> int:
    # The services lock and bump their own copy of the row, so ask the database.
    return Contract.objects.values_list("version", flat=True).get(pk=contract.pk)


def _at(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), tzinfo=days.STOCKHOLM)


def _warning_signs(contract, signs):
    # No service writes warning signs or contact paths yet, so the demo writes the rows.
    WarningSign.objects.bulk_create(
        WarningSign(contract=contract, sign=sign, action=action, position=i)
        for i, (sign, action) in enumerate(signs)
    )


def _contact_paths(contract, paths):
    ContactPath.objects.bulk_create(
        ContactPath(
            contract=contract,
            kind=kind,
            label=label,
            value=value,
            hours=hours,
            organisation=organisation,
            position=i,
        )
        for i, (kind, label, value, hours, organisation) in enumerate(paths)
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

    user = _login(ESTHER_EMAIL, "Esther", "Lindqvist", phone=fictional_phone(0))
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

    karin_user = _login(KARIN_EMAIL, "Karin", "Lindqvist", phone=fictional_phone(1))
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
        how_to_reach=f"Direktnummer {_show_phone(fictional_phone(11))}, vardagar 8–16",
    )
    _warning_signs(
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
        contract,
        [
            (ContactPath.Kind.PHONE, "Maria Sjöberg, distriktssköterska",
             _show_phone(fictional_phone(11)), "Vardagar 8–16", vc),
            (ContactPath.Kind.PHONE, "Vårdcentralen Tierp", _show_phone(vc.phone),
             "Vardagar 8–17", vc),
            (ContactPath.Kind.SECURE_MESSAGE, "Skriv till vårdcentralen",
             "1177.se, Inloggade tjänster", "Svar inom två vardagar", vc),
            (ContactPath.Kind.WEB_BOOKING, "Boka eller avboka tid", "https://www.1177.se", "",
             vc),
            (ContactPath.Kind.PHONE, "Hemsjukvården Tierp", _show_phone(home_health.phone),
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
    user = _login(TOLVAN_EMAIL, "Tolvan", "Tolvansson", phone=fictional_phone(2))
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
        user = _login(f"{_ascii(given)}.{_ascii(family)}.{index}@{DOMAIN}", given, family,
                      usable=False)  # fmt: skip
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
    _warning_signs(contract, WARNING_SIGNS)
    _contact_paths(
        contract,
        [
            (ContactPath.Kind.PHONE, vc.name, _show_phone(vc.phone), "Vardagar 8–17", vc),
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


# --- bulk data for benchmarks ----------------------------------------------------------

# One generated district nurse per this many generated patients, so that worklists
# and care-contact queues have a realistic size.
PATIENTS_PER_NURSE = 1000
PLAN_AGES = (0, 1, 2, 4, 7, 14, 30, 60, 120, 240, 365)  # days since the plan started
PLAN_AGE_WEIGHTS = (2, 2, 2, 3, 4, 6, 10, 14, 20, 20, 17)
PROFILES = SupportProfile.values
PROFILE_WEIGHTS = (25, 35, 25, 15)
RELATIONS = ("dotter", "son", "make", "maka", "sambo", "granne", "barnbarn")


@dataclass
class Generated:
    requested: int = 0
    created: int = 0
    present: int = 0
    commitments: int = 0
    seconds: float = 0.0


def _nurse_pool(net: Network, size: int) -> list[User]:
    """District nurses for generated patients; no password, they are not demo logins."""
    vc = net.orgs["vardcentral"]
    emails = [f"distriktsskoterska.{i:04d}@{DOMAIN}" for i in range(size)]
    existing = {u.email: u for u in User.objects.filter(email__in=emails)}
    rng = random.Random("naravard-nurses")
    new = []
    for i, email in enumerate(emails):
        given, family = rng.choice(FEMALE_NAMES + MALE_NAMES), rng.choice(FAMILY_NAMES)
        if email not in existing:
            new.append(User(email=email, first_name=given, last_name=family,
                            password=make_password(None), phone=fictional_phone(i)))  # fmt: skip
    if new:
        User.objects.bulk_create(new)
        Membership.objects.bulk_create(
            Membership(user=user, organisation=vc, role=Role.CLINICIAN,
                       title="Distriktssköterska", phone=user.phone)
            for user in new
        )  # fmt: skip
        existing.update((u.email, u) for u in User.objects.filter(email__in=emails))
    return [existing[email] for email in emails]


def generate_patients(
    net: Network,
    count: int,
    *,
    seed: int = 1,
    commitments_min: int = 10,
    commitments_max: int = 100,
    batch_size: int = 1000,
    log=print,
) -> Generated:
    """Make sure the first `count` patients of the stream for `seed` exist.

    The identity numbers come from their own seeded stream, independent of the
    database, so a re-run finds the same numbers already present and adds nothing;
    a larger count or another seed adds more.

    Bulk inserts bypass the services on purpose: benchmarks need hundreds of
    thousands of plans, and the services take a lock and write an event per
    change. The rows still satisfy every model constraint; each plan gets one
    event (contract_created) so the history is never empty.
    """
    result = Generated(requested=count)
    if count <= 0:
        return result
    started = clock.monotonic()
    numbers = random.Random(f"naravard-bench-numbers-{seed}")
    rng = random.Random(f"naravard-bench-{seed}")
    taken = story_identity_numbers()
    pool = _nurse_pool(net, math.ceil(count / PATIENTS_PER_NURSE))
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        batch = [(start + i, *fictional_identity_number(numbers, taken)) for i in range(size)]
        present = set(
            Patient.objects.filter(identity_number__in=[n for _, n, _ in batch]).values_list(
                "identity_number", flat=True
            )
        )
        fresh = [row for row in batch if row[1] not in present]
        if fresh:
            with transaction.atomic():
                result.commitments += _insert_batch(
                    net, pool, fresh, rng, commitments_min, commitments_max
                )
        result.created += len(fresh)
        result.present += size - len(fresh)
        elapsed = clock.monotonic() - started
        log(
            f"  {start + size:>9,} / {count:,} patients"
            f"  ({result.created:,} new, {result.commitments:,} commitments, "
            f"{elapsed:.1f} s)"
        )
    result.seconds = clock.monotonic() - started
    return result


def _insert_batch(net, pool, rows, rng, commitments_min, commitments_max) -> int:
    """Insert one batch of patients with their whole plans. Returns the commitment count."""
    now = timezone.now()
    today = timezone.localdate()
    vc, coordinator = net.orgs["vardcentral"], net.staff["sara"]
    optional = [("home_health", 45), ("home_care", 35), ("cardiology", 30)]
    named = {"home_health": net.staff["lena"], "home_care": net.staff["johan"],
             "cardiology": net.staff["erik"]}  # fmt: skip

    people = []
    for index, number, female in rows:
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        people.append(
            {
                "patient": Patient(
                    identity_number=number,
                    given_name=given,
                    family_name=rng.choice(FAMILY_NAMES),
                    identity_kind=(
                        IdentityKind.SAMORDNINGSNUMMER
                        if int(number[6:8]) > 60
                        else IdentityKind.PERSONNUMMER
                    ),
                    birth_date=birth_date_of(number),
                    phone=fictional_phone(index),
                    address=f"{rng.choice(STREETS)} {rng.randint(1, 60)}, Tierp",
                    support_profile=rng.choices(PROFILES, PROFILE_WEIGHTS)[0],
                    preferred_channel="sms" if rng.random() < 0.8 else "none",
                ),
                "nurse": pool[index // PATIENTS_PER_NURSE % len(pool)],
                "age": rng.choices(PLAN_AGES, PLAN_AGE_WEIGHTS)[0],
                "team": ["vardcentral"] + [k for k, pct in optional if rng.random() * 100 < pct],
            }
        )
    Patient.objects.bulk_create([p["patient"] for p in people])

    joinings, relatives = [], []
    for p in people:
        patient, started = p["patient"], now - timedelta(days=p["age"])
        blocked = ""
        if len(p["team"]) > 1 and rng.random() < 0.03:
            blocked = rng.choice(p["team"][1:])
        for key in p["team"]:
            joinings.append((patient, net.orgs[key], started, now if key == blocked else None))
        p["owners"] = [k for k in p["team"] if k != blocked]
        p["relative"] = None
        if rng.random() < 0.3:
            p["relative"] = Relative(
                patient=patient,
                name=f"{rng.choice(FEMALE_NAMES + MALE_NAMES)} {patient.family_name}",
                relation=rng.choice(RELATIONS),
                phone=fictional_phone(rng.randrange(95)),
                access=rng.choice(Relative.Access.values),
            )
            relatives.append(p["relative"])
    patient_services.add_to_care_teams_in_bulk(joinings, recorded_by=coordinator)
    Relative.objects.bulk_create(relatives)

    contracts = []
    for p in people:
        started = now - timedelta(days=p["age"])
        agreed = rng.random() < 0.6
        p["contract"] = Contract(
            patient=p["patient"],
            status=Contract.Status.ACTIVE,
            version=1,
            what_matters=rng.choice(WHAT_MATTERS),
            agreed_version=1 if agreed else None,
            agreed_at=started if agreed else None,
            review_due=days.review_due(started.date(), p["patient"].support_profile),
            updated_at=started,
            created_by=p["nurse"],
        )
        contracts.append(p["contract"])
    Contract.objects.bulk_create(contracts)

    goals, done_steps, events, contacts = [], [], [], []
    for p in people:
        contract, nurse, started = p["contract"], p["nurse"], now - timedelta(days=p["age"])
        goals += [
            Goal(contract=contract, text=text, position=i)
            for i, text in enumerate(rng.sample(GOALS, rng.randint(1, 3)))
        ]
        events.append(
            Event(
                patient=p["patient"],
                contract=contract,
                version=1,
                at=started,
                kind="contract_created",
                actor=nurse,
                actor_kind=Event.ActorKind.STAFF,
                organisation=vc,
                after={"what_matters": contract.what_matters},
            )
        )
        p["done"] = None
        if p["age"] >= 7 and rng.random() < 0.5:
            p["done"] = NextStep(
                contract=contract,
                scheduled_at=started + timedelta(days=p["age"] // 2),
                channel=rng.choice(Channel.values),
                organisation=vc,
                staff=nurse,
                with_whom=f"{nurse.get_full_name()}, distriktssköterska",
                purpose=rng.choice(PURPOSES),
                status=NextStep.Status.DONE,
                outcome=rng.choice(OUTCOMES),
                outcome_recorded_at=started + timedelta(days=p["age"] // 2, hours=1),
                outcome_recorded_by=nurse,
            )
            done_steps.append(p["done"])
        if rng.random() < 0.8:
            contacts.append(
                FixedCareContact(
                    contract=contract,
                    staff=nurse,
                    organisation=vc,
                    started_on=started.date(),
                    how_to_reach=f"{_show_phone(nurse.phone)}, vardagar 8–16",
                    assigned_by=coordinator,
                )
            )
    Goal.objects.bulk_create(goals)
    Event.objects.bulk_create(events)
    NextStep.objects.bulk_create(done_steps)
    FixedCareContact.objects.bulk_create(contacts)

    planned, commitments = [], []
    for p in people:
        contract, nurse = p["contract"], p["nurse"]
        if rng.random() < 0.9:
            # About one in twelve has passed without an outcome: the follow-up queue.
            ahead = -rng.randint(1, 10) if rng.random() < 0.08 else rng.randint(1, 60)
            planned.append(
                NextStep(
                    contract=contract,
                    scheduled_at=datetime.combine(
                        today + timedelta(days=ahead),
                        time(rng.randint(8, 15), rng.choice((0, 15, 30, 45))),
                        tzinfo=days.STOCKHOLM,
                    ),
                    channel=rng.choice(Channel.values),
                    organisation=vc,
                    staff=nurse,
                    with_whom=f"{nurse.get_full_name()}, distriktssköterska",
                    purpose=rng.choice(PURPOSES),
                    follows=p["done"],
                )
            )
        # Most plans have 10 to 30 commitments, a few many more: a right-skewed spread.
        count = commitments_min + round(
            (commitments_max - commitments_min) * rng.betavariate(1.3, 5)
        )
        commitments += [_commitment(net, p, named, rng, now, today) for _ in range(count)]
    NextStep.objects.bulk_create(planned)
    _insert_rows(Commitment, COMMITMENT_COLUMNS, commitments)

    # created_at is auto_now_add, so plans are dated back afterwards: one UPDATE
    # per age, so that the "no fixed care contact after 3 working days" queue fills.
    by_age: dict[int, list[int]] = {}
    for p in people:
        if p["age"]:
            by_age.setdefault(p["age"], []).append(p["contract"].pk)
    for age, ids in by_age.items():
        Contract.objects.filter(pk__in=ids).update(created_at=now - timedelta(days=age))
    return len(commitments)


COMMITMENT_COLUMNS = (
    "contract_id",
    "owner_kind",
    "owner_organisation_id",
    "owner_staff_id",
    "owner_relative_id",
    "what",
    "due_date",
    "status",
    "completed_at",
    "completed_by_id",
    "created_at",
)


def _commitment(net, p, named, rng, now, today) -> tuple:
    """One generated commitment as a row in COMMITMENT_COLUMNS order."""
    organisation = staff = relative = None
    roll = rng.random()
    if roll < 0.25:
        kind, what = OwnerKind.PATIENT, rng.choice(SELF_CARE)
    elif roll < 0.30 and p["relative"] is not None:
        kind, what = OwnerKind.RELATIVE, rng.choice(RELATIVE_TASKS)
        relative = p["relative"].pk
    else:
        key = rng.choice(p["owners"])
        kind, what = OwnerKind.ORGANISATION, rng.choice(ORGANISATION_TASKS[key])
        organisation = net.orgs[key].pk
        if roll > 0.85:
            kind = OwnerKind.STAFF
            staff = p["nurse"].pk if key == "vardcentral" else named[key].pk
    due = None if rng.random() < 0.25 else today + timedelta(days=rng.randint(-30, 120))
    status, completed_at = Commitment.Status.OPEN, None
    roll = rng.random()
    if roll < 0.3:
        status, completed_at = Commitment.Status.DONE, now - timedelta(days=rng.randint(0, 30))
    elif roll < 0.33:
        status = Commitment.Status.CANCELLED
    return (p["contract"].pk, kind, organisation, staff, relative, what, due, status,
            completed_at, None, now)  # fmt: skip


def _insert_rows(model, columns, rows) -> None:
    """Insert plain rows with COPY.

    Commitments are most of the generated rows (tens per plan), and building a
    model instance for each one made bulk_create the bottleneck; COPY takes plain
    tuples and is several times faster. The database still checks every constraint.
    """
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({names}) FROM STDIN"  # noqa: S608 - names come from the model
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


# --- everything ------------------------------------------------------------------------


def seed(
    *,
    patients: int = 0,
    seed: int = 1,
    commitments_min: int = 10,
    commitments_max: int = 100,
    batch_size: int = 1000,
    log=print,
) -> Generated:
    network = build_network()
    if seed_story(network):
        log("Created the demo network, Esther's plan, Tolvan and the varied patients.")
    else:
        log("The demo network and patients are already in place.")
    if not patients:
        return Generated()
    log(f"Generating {patients:,} patients (seed {seed}) ...")
    result = generate_patients(
        network,
        patients,
        seed=seed,
        commitments_min=commitments_min,
        commitments_max=commitments_max,
        batch_size=batch_size,
        log=log,
    )
    log(
        f"Generated {result.created:,} new patients ({result.present:,} were already there) "
        f"with {result.commitments:,} commitments in {result.seconds:.1f} s."
    )
    return result
