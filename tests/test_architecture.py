"""One rule, one home (DESIGN.md §4): who may see a patient is written in patients/access.py.

The rule is "on the care team AND with consent, for the same organisation". A module
that names the consent and the care team together is restating it, in the ORM (the
models or the relations that reach them) or in SQL (their tables), however close the
copy: it fails here. Readers import the rule from patients.access instead."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOME = {"patients/access.py", "patients/models.py"}

# Modules that name both without reading the rule, and why.
ALLOWED = {
    # Joining the care team records consent and the team row together (add_to_care_team
    # with consent, and the bulk load of generated data): it writes the rule's data.
    "patients/services.py",
    # The operator's read-only admin shows both tables on the patient's page.
    "patients/admin.py",
    # The patient's own consent page lists the organisations on the team beside their
    # consent, to give or withdraw it; what that allows is decided by patients.access.
    "patients/access_views.py",
}

# Each side of the rule: its model, its table, and the relations that lead to its rows
# (Patient.consents, Organisation.consents; Patient.care_team, *.care_team_memberships).
CONSENT = {"model": "Consent", "table": "patients_consent", "relations": {"consents"}}
CARE_TEAM = {
    "model": "CareTeamMember",
    "table": "patients_careteammember",
    "relations": {"care_team", "care_team_memberships"},
}


def names_side(tree: ast.AST, side: dict) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname or ""]
        elif isinstance(node, ast.keyword):
            words = [node.arg or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if side["table"] in node.value.lower():
                return True
            words = [node.value]
        else:
            continue
        for word in words:
            if word == side["model"] or side["relations"] & set(word.split("__")):
                return True
    return False


def restates_the_rule(source: str) -> bool:
    tree = ast.parse(source)
    return names_side(tree, CONSENT) and names_side(tree, CARE_TEAM)


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        first = relative.parts[0]
        if first.startswith(".") or first in {"tests", "staticfiles", "var", "node_modules"}:
            continue
        if "migrations" in relative.parts:
            continue
        yield relative.as_posix(), path


def test_only_patients_access_reads_consent_and_the_care_team_together():
    found = [
        name
        for name, path in modules()
        if name not in HOME | ALLOWED and restates_the_rule(path.read_text(encoding="utf-8"))
    ]
    assert found == [], (
        "These modules name consent and the care team together: import the access rule "
        "from patients.access (care_relationships, care_relationships_sql) instead."
    )


def test_the_allowed_modules_still_need_their_place():
    # An entry that no longer names both is an exception nobody needs: take it out.
    for name in ALLOWED | HOME:
        assert restates_the_rule((ROOT / name).read_text(encoding="utf-8")), name


@pytest.mark.parametrize(
    "source",
    [
        # The models, as the old copies did.
        "CareTeamMember.objects.filter(active=True).filter(Exists(Consent.objects.all()))",
        # Imported under the models' names.
        "from patients.models import CareTeamMember, Consent",
        # Through the relations, as PatientQuerySet.on_team_of did (and got wrong).
        "Patient.objects.filter(care_team__active=True, consents__status='given')",
        "patient.care_team.filter(organisation__in=orgs, organisation__consents__status=s)",
        "Q(care_team__organisation=o) & Q(consents__organisation=o)",
        # In SQL, as the hand-written statements did.
        "SQL = 'SELECT t.patient_id FROM patients_careteammember t "
        "JOIN patients_consent s ON s.patient_id = t.patient_id'",
        "SQL = 'FROM Patients_CareTeamMember t, patients_consent s'",
    ],
)
def test_a_restatement_is_found_in_any_of_its_forms(source):
    assert restates_the_rule(source)


@pytest.mark.parametrize(
    "source",
    [
        "from patients.access import care_relationships\ncare_relationships().filter(x=1)",
        "CareTeamMember.objects.filter(patient=p).select_related('organisation')",
        "Consent.objects.filter(patient=p).values_list('organisation_id', 'status')",
        "services.add_to_care_team(actor=a, patient=p, organisation=o, consent=True)",
    ],
)
def test_one_side_alone_is_not_the_rule(source):
    assert not restates_the_rule(source)


def imports_of(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_production_code_never_imports_the_bench():
    """The benchmark's data generator and floor views are bench's alone: nothing that
    runs in production depends on them."""
    found = [
        name
        for name, path in modules()
        if not name.startswith("bench/")
        and any(m == "bench" or m.startswith("bench.") for m in imports_of(path.read_text()))
    ]
    assert found == []


def test_an_import_of_the_bench_is_found():
    assert imports_of("from bench.data import seed") == {"bench.data"}
    assert imports_of("import bench.measure as m") == {"bench.measure"}
