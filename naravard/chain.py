"""Tamper evidence for the history and the access log: a hash chain over their rows.

A beat task seals the rows written since its last run, in turn: each row gets the next
place in its table's chain (seal_seq: 1, 2, 3...) and a seal, the SHA-256 of the seal
before it, its place and the row's content. `verify_history` walks a chain and reports
the first place where it breaks:

- a row changed afterwards no longer matches its seal, nor the seals after it;
- a row removed leaves a gap in the places;
- a row put in between would need every later seal recomputed, which the published
  heads (the last seal of each chain, printed by `verify_history` and written to the
  log by each sealing run) give away.

The app's role may set a seal on a row that has none, and nothing else (naravard.roles,
and the trigger in naravard.dbutil), so the chain holds against the app itself; the
owner can disable the triggers, and the chain is what shows it.

A row's content is what PostgreSQL's jsonb gives for its non-null columns, in UTC: the
same text whoever reads it, and unchanged by a new nullable column.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from psycopg import sql

log = logging.getLogger(__name__)

# The sealed tables (patients.models.SealedModel).
TABLES = ("contracts_event", "patients_accesslogentry")
# The seal before the first row.
GENESIS = "0" * 64
BATCH = 5000
# How many rows verify_history reads at a time.
READ_SIZE = 2000

CONTENT = sql.SQL("jsonb_strip_nulls(to_jsonb(t) - 'seal' - 'seal_seq')::text")


def link(before: str, place: int, content: str) -> str:
    """The seal of the row at `place` with `content`, after the seal `before`."""
    return hashlib.sha256(f"{before}\n{place}\n{content}".encode()).hexdigest()


def _utc(cursor) -> None:
    # Timestamps in the content as UTC, whatever the session's time zone.
    cursor.execute("SET LOCAL TIME ZONE 'UTC'")


def head(cursor, table: str) -> tuple[int, str]:
    """The last place in the chain and its seal, or (0, GENESIS) for an empty chain."""
    cursor.execute(
        sql.SQL(
            "SELECT seal_seq, seal FROM {} WHERE seal_seq IS NOT NULL "
            "ORDER BY seal_seq DESC LIMIT 1"
        ).format(sql.Identifier(table))
    )
    return cursor.fetchone() or (0, GENESIS)


def seal(table: str, batch: int = BATCH) -> int:
    """Seal up to `batch` rows of `table` that have no seal yet, oldest first; returns
    how many. One sealer at a time per table (an advisory lock); a row that commits
    after later ones were sealed simply takes the next place."""
    table_sql = sql.Identifier(table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"naravard.seal.{table}"])
        _utc(cursor)
        place, before = head(cursor, table)
        cursor.execute(
            sql.SQL(
                "SELECT id, {content} FROM {table} t WHERE seal_seq IS NULL ORDER BY id LIMIT %s"
            ).format(content=CONTENT, table=table_sql),
            [batch],
        )
        rows = cursor.fetchall()
        if not rows:
            return 0
        sealed = []
        for row_id, content in rows:
            place += 1
            before = link(before, place, content)
            sealed.append((row_id, before, place))
        ids = [r[0] for r in sealed]
        cursor.execute(
            sql.SQL(
                "UPDATE {} AS t SET seal = s.seal, seal_seq = s.place "
                "FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS s(id, seal, place) "
                # Named twice so that the rows are found by their key, not by a scan of
                # the whole table for a join.
                "WHERE t.id = s.id AND t.id = ANY(%s::bigint[])"
            ).format(table_sql),
            [ids, [r[1] for r in sealed], [r[2] for r in sealed], ids],
        )
    log.info("sealed %d rows of %s; head %d %s", len(sealed), table, place, before)
    return len(sealed)


def seal_all() -> dict[str, int]:
    """Seal what waits in every sealed table, batch by batch."""
    made = {}
    for table in TABLES:
        made[table] = 0
        while count := seal(table):
            made[table] += count
    return made


@dataclass
class Verdict:
    table: str
    sealed: int = 0
    unsealed: int = 0
    head: str = GENESIS
    broken_at: int | None = None  # the first place where the chain breaks
    row_id: int | None = None
    why: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(table: str) -> Verdict:
    """Walk the chain of `table` from its start; stop at the first broken link."""
    verdict = Verdict(table)
    table_sql = sql.Identifier(table)
    before, expected = GENESIS, 1
    with transaction.atomic(), connection.cursor() as cursor:
        _utc(cursor)
        cursor.execute(sql.SQL("SELECT count(*) FROM {} WHERE seal_seq IS NULL").format(table_sql))
        verdict.unsealed = cursor.fetchone()[0]
        after = 0
        while True:
            cursor.execute(
                sql.SQL(
                    "SELECT seal_seq, id, seal, {content} FROM {table} t "
                    "WHERE seal_seq > %s ORDER BY seal_seq LIMIT %s"
                ).format(content=CONTENT, table=table_sql),
                [after, READ_SIZE],
            )
            rows = cursor.fetchall()
            for place, row_id, stored, content in rows:
                if place != expected:
                    verdict.broken_at, verdict.row_id = expected, row_id
                    verdict.why = f"place {expected} is missing (a row was removed)"
                    return verdict
                before = link(before, place, content)
                if stored != before:
                    verdict.broken_at, verdict.row_id = place, row_id
                    verdict.why = "the row does not match its seal (changed after sealing)"
                    return verdict
                verdict.sealed, verdict.head, expected = place, before, place + 1
            if len(rows) < READ_SIZE:
                return verdict
            after = rows[-1][0]
