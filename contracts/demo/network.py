"""The demo care network (påhittat vårdnätverk): Region Uppsala, two municipalities, four
units and their staff, and the fictional people, identity numbers and phone numbers that
the demo story and the benchmark data (bench/data.py) draw on.

Everything here is made up. Idempotent: organisations are found by HSA-id or
county/municipality code, logins by e-mail, before anything is created.
"""

import calendar
import random
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction

from actors.models import Membership, Organisation, OrganisationKind, Role, User
from contracts.history import Actor
from demo_idp import people
from patients.identity import SAMORDNING_DAY_OFFSET, luhn_check_digit

PASSWORD = "demo1234"
DOMAIN = "naravard.example"

# Region Uppsala's HSA prefix with made-up local parts ("D" for demo).
HSA_PREFIX = "SE2321000032-"
UNIT_HSA = {"vardcentral": "D001", "cardiology": "D002", "home_health": "D003", "home_care": "D004"}


def fictional_phone(index: int) -> str:
    """PTS keeps 070-174 06 05 to 070-174 06 99 for use in fiction: they reach nobody."""
    return f"+4670174{605 + index % 95:04d}"


def show_phone(number: str) -> str:
    """A fictional number as people write it: 070-174 06 05."""
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


def personnummer(year: int, month: int, day: int, serial: int) -> str:
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{year // 100}{nine}{luhn_check_digit(nine)}"


# --- the network ------------------------------------------------------------------

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


def find_or_create_login(
    email: str, given: str, family: str, *, usable: bool = True, **extra
) -> User:
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
        user = find_or_create_login(
            f"{local}@{DOMAIN}", given, family, phone=fictional_phone(10 + number)
        )
        Membership.objects.get_or_create(
            user=user,
            organisation=orgs[org_key],
            role=role,
            defaults={"title": title, "phone": fictional_phone(10 + number)},
        )
        staff[key], staff_org[key] = user, org_key
    find_or_create_login(ADMIN_EMAIL, "Admin", "Naravard", is_staff=True, is_superuser=True)
    return Network(orgs=orgs, staff=staff, staff_org=staff_org)


def link_e_identities() -> None:
    """Give the demo logins the personnummer or HSA-id that the demo identity provider
    (demo_idp.people) signs with, so that its e-legitimation finds them. Idempotent;
    a login that already has one keeps it."""
    for person in people.PEOPLE:
        field = "hsa_id" if person.kind == people.STAFF else "personal_identity_number"
        if User.objects.filter(**{field: person.number}).exists():
            continue
        User.objects.filter(email=person.email, **{f"{field}__isnull": True}).update(
            **{field: person.number}
        )
