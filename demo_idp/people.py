"""The fictional people the demo provider offers to sign in as, and whom `seed_demo`
links to their Naravard logins (contracts/demo) by e-mail. All made up: Tolvan
Tolvansson is Skatteverket's classic test person, the others use the birth numbers
980-999 kept for test persons, and the HSA-ids a made-up local part ("DP").

Plain data, no Django models: the provider's process imports it too.
"""

from dataclasses import dataclass

CITIZEN = "citizen"
STAFF = "staff"

DEMO_DOMAIN = "naravard.example"
HSA_PREFIX = "SE2321000032-"


@dataclass(frozen=True)
class Person:
    kind: str  # CITIZEN (personnummer) or STAFF (HSA-id)
    number: str  # 12-digit personnummer, or an HSA-id
    given_name: str
    family_name: str
    email: str  # the Naravard login seed_demo links the number to
    description: str  # who this is in the demo story (shown on the provider's page)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


PEOPLE = [
    Person(CITIZEN, "191212121212", "Tolvan", "Tolvansson", f"tolvan@{DEMO_DOMAIN}",
           "Patient"),
    Person(CITIZEN, "193804159824", "Esther", "Lindqvist", f"esther@{DEMO_DOMAIN}",
           "Patient"),
    Person(CITIZEN, "196503089846", "Karin", "Lindqvist", f"karin@{DEMO_DOMAIN}",
           "Relative of Esther"),
    Person(STAFF, HSA_PREFIX + "DP01", "Anna", "Berglund", f"anna.lakare@{DEMO_DOMAIN}",
           "Physician, Vårdcentralen Tierp"),
    Person(STAFF, HSA_PREFIX + "DP03", "Sara", "Holm", f"sara.samordnare@{DEMO_DOMAIN}",
           "Care coordinator, Vårdcentralen Tierp"),
    Person(STAFF, HSA_PREFIX + "DP06", "Lena", "Forsberg", f"lena.hemsjukvard@{DEMO_DOMAIN}",
           "Nurse, Hemsjukvården Tierp"),
]  # fmt: skip


def find(kind: str, number: str) -> Person | None:
    return next((p for p in PEOPLE if p.kind == kind and p.number == number), None)
