"""Backups: a dump of the database restores into a database of its own that passes the
checks the platform makes before serving (the restore drill, make restore-check)."""

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from contracts.models import Event
from naravard import chain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backups(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    return tmp_path


def test_a_fresh_dump_restores_and_passes_the_drill(plan, backups, capsys):
    chain.seal_all()
    events = Event.objects.count()
    call_command("backup")
    assert len(list(backups.glob("*.dump"))) == 1
    call_command("restore_check")  # the newest dump
    out = capsys.readouterr().out
    assert out.count("chain intact") == 2
    assert f"{events} rows sealed" in out
    assert "The restore drill passed" in out
    assert f"contracts_event {events:>10} rows".replace(" ", "") in out.replace(" ", "")
    with connection.cursor() as cursor:  # the drill's database is gone again
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE '%%restore_check%%'")
        assert cursor.fetchone() == (0,)


def test_a_dump_of_a_tampered_history_fails_the_drill(plan, backups, capsys):
    chain.seal_all()
    # As the database's owner (a superuser here), with the triggers silenced.
    with psycopg.connect(settings.MIGRATION_DATABASE_URL, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE contracts_event SET kind = 'plan_agreed' WHERE seal_seq = 1")
    with pytest.raises(CommandError, match="restore drill failed"):
        call_command("restore_check", "--fresh")
    assert "BROKEN at place 1" in capsys.readouterr().out
