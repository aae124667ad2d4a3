"""Event kinds are one vocabulary (Event.Kind): every kind the code writes is a member,
every member is written somewhere and has its sentence, and a kind outside it is refused."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from contracts import plan_read, wording
from contracts.history import Actor, record_event
from contracts.models import Event

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
APPS = (
    "actors",
    "api",
    "bench",
    "contracts",
    "coordination",
    "fhir_r4",
    "naravard",
    "patients",
    "reminders",
)
SOURCES = sorted(
    path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts
)
MEMBERS = set(Event.Kind.__members__)


def _kind_argument(call: ast.Call):
    """The expression a call passes as an event's kind, if it writes an event."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    writes = name in ("record_event", "_bump", "Event") or (
        name == "create" and "Event.objects" in ast.unparse(func)
    )
    if not writes:
        return None
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    if name == "_bump" and len(call.args) > 2:
        return call.args[2]
    return None


def _kind_member(node) -> str | None:
    """NAME, where the node is `Event.Kind.NAME` (not `.values` or `.choices`)."""
    if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "Event.Kind":
        return node.attr if node.attr.isupper() else None
    return None


def _scan():
    """Kinds written as literals, members named, and how many writes were found."""
    literals, named, writes = [], [], 0
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (kind := _kind_argument(node)) is not None:
                writes += 1
                literals += [
                    (path.name, n.value)
                    for n in ast.walk(kind)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)
                ]
            if (member := _kind_member(node)) is not None:
                named.append((path.name, member))
    return literals, named, writes


def test_every_kind_the_code_writes_is_a_member_and_every_member_is_written():
    literals, named, writes = _scan()
    assert writes > 30, "the scan finds the writes (record_event, _bump, Event(...))"
    assert [(f, kind) for f, kind in literals if kind not in Event.Kind.values] == []
    assert [(f, name) for f, name in named if name not in MEMBERS] == []
    written = {kind for _f, kind in literals} | {Event.Kind[name].value for _f, name in named}
    assert written == set(Event.Kind.values), "a member nobody writes is not a kind"


def test_the_plan_read_leaves_out_agreements_by_their_kind():
    """plan_read's SQL names event kinds as literals; they must be members."""
    source = Path(plan_read.__file__).read_text(encoding="utf-8")
    in_sql = re.findall(r"\be\.kind\s*(?:=|<>|!=)\s*'(\w+)'", source)
    in_orm = re.findall(r"\bkind\s*=\s*\"(\w+)\"", source)
    assert Event.Kind.PLAN_AGREED.value in in_sql
    assert set(in_sql + in_orm) <= set(Event.Kind.values)


def test_record_event_refuses_a_kind_outside_the_vocabulary(tolvan):
    before = Event.objects.count()
    with pytest.raises(ValueError, match="commitment_aded"):
        record_event(patient=tolvan, actor=Actor.system("tests"), kind="commitment_aded")
    assert Event.objects.count() == before


def test_every_kind_has_its_own_sentence():
    assert set(wording.SENTENCES) == set(Event.Kind)


def _event(kind, tolvan, doctor, network):
    payload = {
        "what_matters": "Bo hemma",
        "channel": "video",
        "scheduled_at": "2026-03-05T10:00:00+01:00",
        "status": "done",
        "outcome": "Bra",
        "what": "Väga mig",
        "owner_kind": "patient",
        "staff": doctor.pk,
        "organisation": network["vardcentral"].pk,
        "name": "Tova",
        "planned_on": "2026-03-05",
        "meeting_at": "2026-03-05T10:00:00+01:00",
    }
    return Event(
        patient=tolvan,
        kind=kind,
        actor=doctor,
        actor_kind=Event.ActorKind.STAFF,
        organisation=network["vardcentral"],
        before=payload,
        after=payload,
    )


@pytest.mark.parametrize("kind", Event.Kind.values)
def test_each_kind_reads_as_a_sentence_in_english_and_swedish(kind, tolvan, doctor, network):
    event = _event(kind, tolvan, doctor, network)
    words = wording.EventWording(tolvan, viewer=None)
    words.load_names([event])
    english = words.sentence(event)
    with translation.override("sv"):
        swedish = words.sentence(event)
    assert english.startswith("Doris Doktor, Vårdcentralen Tierp, ")
    assert "%(" not in english and "%(" not in swedish
    assert swedish != english, "the sentence is translated"
