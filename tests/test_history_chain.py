"""Tamper evidence: the history and the access log in hash chains (naravard.chain).

Tampering is done as the database's superuser, the only one who can get past the
triggers (session_replication_role), which is exactly the case the chain is for."""

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from contracts.models import Event
from naravard import chain
from patients.models import AccessLogEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sealed(plan, doctor, tolvan):
    """Tolvan's plan with its history, three staff reads in the access log, all sealed."""
    client = Client(headers={"accept-language": "en"})
    client.force_login(doctor)
    for _ in range(3):
        assert client.get(reverse("contracts:staff_plan", args=[tolvan.pk])).status_code == 200
    made = chain.seal_all()
    assert made["contracts_event"] == Event.objects.count() >= 3
    assert made["patients_accesslogentry"] == AccessLogEntry.objects.count() >= 3
    return plan


def as_superuser_past_the_triggers(statement, params):
    """As the database's owner, a superuser here, with the triggers silenced."""
    with psycopg.connect(settings.MIGRATION_DATABASE_URL, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement, params)


def test_rows_take_the_next_places_and_the_chains_verify(sealed):
    places = list(Event.objects.order_by("id").values_list("seal_seq", flat=True))
    assert places == list(range(1, len(places) + 1))
    for table in chain.TABLES:
        verdict = chain.verify(table)
        assert verdict.intact, verdict
        assert verdict.unsealed == 0
    last = Event.objects.order_by("-seal_seq").first()
    assert chain.verify("contracts_event").head == last.seal
    # A row written later takes the next place after the head.
    Event.objects.create(patient=sealed.patient, contract=sealed, kind="plan_agreed")
    assert chain.seal("contracts_event") == 1
    assert Event.objects.order_by("-id").first().seal_seq == last.seal_seq + 1
    assert chain.verify("contracts_event").intact


def test_a_row_changed_after_sealing_breaks_the_chain_at_that_row(sealed):
    target = Event.objects.order_by("seal_seq")[1]
    as_superuser_past_the_triggers(
        "UPDATE contracts_event SET kind = 'plan_agreed' WHERE id = %s", [target.pk]
    )
    verdict = chain.verify("contracts_event")
    assert (verdict.broken_at, verdict.row_id) == (target.seal_seq, target.pk)
    assert "does not match its seal" in verdict.why
    assert verdict.sealed == target.seal_seq - 1


def test_a_row_removed_leaves_a_gap_the_chain_reports(sealed):
    target = AccessLogEntry.objects.order_by("seal_seq")[1]
    as_superuser_past_the_triggers("DELETE FROM patients_accesslogentry WHERE id = %s", [target.pk])
    AccessLogEntry.objects.create(patient=target.patient, action="view_plan")
    chain.seal("patients_accesslogentry")  # the chain goes on after the gap
    verdict = chain.verify("patients_accesslogentry")
    assert verdict.broken_at == target.seal_seq
    assert "missing" in verdict.why


def test_resealing_a_row_to_hide_a_change_is_refused(sealed):
    target = Event.objects.order_by("seal_seq").first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.filter(pk=target.pk).update(seal="0" * 64)
    # An unsealed row may get its seal, but nothing else may change with it: the app's
    # role may not touch another column at all, and the owner is stopped by the trigger.
    fresh = Event.objects.create(patient=sealed.patient, contract=sealed, kind="plan_agreed")
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        Event.objects.filter(pk=fresh.pk).update(seal="0" * 64, seal_seq=999, kind="x")
    with (
        psycopg.connect(settings.MIGRATION_DATABASE_URL, autocommit=True) as owner,
        pytest.raises(psycopg.Error, match="append-only"),
    ):
        owner.execute(
            "UPDATE contracts_event SET seal = %s, seal_seq = 999, kind = 'x' WHERE id = %s",
            ["0" * 64, fresh.pk],
        )


def test_verify_history_says_intact_or_where_it_broke(sealed, capsys):
    call_command("verify_history")
    assert capsys.readouterr().out.count("chain intact") == 2
    target = Event.objects.order_by("seal_seq").last()
    as_superuser_past_the_triggers(
        "UPDATE contracts_event SET at = at - interval '1 day' WHERE id = %s", [target.pk]
    )
    with pytest.raises(CommandError, match="broken in contracts_event") as raised:
        call_command("verify_history")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert f"BROKEN at place {target.seal_seq} (row id {target.pk})" in out
