"""The API's busiest reads on PostgreSQL: one statement each for access, log and body.

A contract read (`GET /api/v1/contracts/{id}/`) and a change-feed page
(`GET /api/v1/changes/`) are what integrations call most. Built through the ORM they cost
a dozen round trips and most of their time in building model instances only to turn them
into JSON (docs/performance.md). Here each is ONE statement that

- checks that the organisation may see the patient, with the SQL of the one access rule
  (`patients.access.care_relationships_sql`),
- writes the access-log row for every patient it shows, in a data-modifying CTE, so the
  data and the log row succeed or fail together: a read that cannot be logged is not
  served (PDL), and
- builds the JSON body in PostgreSQL, shaped exactly as `serializers.ContractOut` and
  `EventOut` document it: each part's JSON is compiled from its serializer's fields
  (`json_object`), and tests/test_api_reads.py checks the JSON field by field.

The two statements are built on first use, as the access rule's SQL is compiled then.

The change feed's cut (FEED_CUT) trades a little lag for exactness: events are served in
the order of the transactions that wrote them, and only below the oldest transaction
still running in OUR database, so a client paging with its cursor never skips an event
that commits late. It does not wait for other databases on the same server (their
transactions cannot write here), so its lag is bounded by our own database's limits:
a statement's timeout and the idle-in-transaction timeout, set for the app's sessions and
on the database for every other session (contracts migration 0015). The alternative, a
maximum wait after which the cut moves on and late events are re-sequenced, would need
an updatable position on the append-only history; docs/operations.md has the numbers.
"""

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from contracts.models import (
    Commitment,
    ContactPath,
    Event,
    FixedCareContact,
    Goal,
    NextStep,
    WarningSign,
)
from naravard.dbutil import PreparedStatement, json_list
from patients.access import care_relationships_sql
from patients.models import AccessLogEntry

from . import serializers as s

# --- SQL fragments (constants only; every value goes in as a parameter) --------------------


def _local_iso(column: str) -> str:
    """`column` (timestamptz) as DRF writes a datetime: ISO 8601 in TIME_ZONE with its UTC
    offset, microseconds only when there are some, "Z" for a zero offset.

    Written for speed, as it runs twice for every commitment: one to_char, and the offset
    worked out once by a simple CASE, which names the usual offsets (Stockholm's two)
    before it formats any other."""
    local = f"({column} AT TIME ZONE %(tz)s::text)"
    offset = f"({local} - ({column} AT TIME ZONE 'UTC'))"
    return (
        f"(replace(to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"  # noqa: S608
        f" || CASE {offset} WHEN interval '1 hour' THEN '+01:00'"
        " WHEN interval '2 hours' THEN '+02:00' WHEN interval '0' THEN 'Z'"
        f" ELSE (SELECT CASE WHEN o < interval '0' THEN '-' || to_char(-o, 'HH24:MI')"
        f" ELSE '+' || to_char(o, 'HH24:MI') END FROM (SELECT {offset} AS o) other) END)"
    )


# A referenced row is looked up by its id (an index probe per row, and NULL when there
# is none), not joined: the planner hashed every relative and staff member to join them.
# Most commitments name no staff member or relative, so the lookup runs only for an id.
# (S608: the argument is always a column name of this module.)
def _by_id(id_column: str, lookup: str) -> str:
    return f"CASE WHEN {id_column} IS NOT NULL THEN ({lookup} = {id_column}) END"


def _organisation_ref(id_column: str) -> str:
    return _by_id(
        id_column,
        "SELECT json_build_object('id', o.id, 'name', o.name, 'kind', o.kind, "
        "'hsa_id', o.hsa_id) FROM actors_organisation o WHERE o.id",
    )


def _staff_ref(id_column: str) -> str:
    # As User.get_full_name() gives it.
    return _by_id(
        id_column,
        "SELECT json_build_object('id', u.id, 'name', btrim(u.first_name || ' ' || "
        "u.last_name)) FROM actors_user u WHERE u.id",
    )


def _relative_ref(id_column: str) -> str:
    return _by_id(
        id_column,
        "SELECT json_build_object('id', r.id, 'name', r.name, 'relation', r.relation) "
        "FROM patients_relative r WHERE r.id",
    )


# Each part's json_build_object is compiled from its output serializer, field by field,
# so the SQL cannot drift from what the API documents, and a plain field added to the
# serializer (and the model) shows here without a change: a plain field is its column, a
# time goes through _local_iso, a reference through its lookup. A field of another kind
# (a method field, a nested list) has no rule here and fails at the first read.
REFERENCES = {
    s.OrganisationRef: _organisation_ref,
    s.StaffRef: _staff_ref,
    s.RelativeRef: _relative_ref,
}
PLAIN = (
    serializers.IntegerField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.BooleanField,
    serializers.JSONField,
)


def json_object(serializer_class, model, alias: str) -> str:
    """SQL of `serializer_class`'s JSON for the row `alias` of `model`'s table."""
    values = []
    for name, field in serializer_class().fields.items():
        column = f"{alias}.{model._meta.get_field(field.source).column}"
        if type(field) in REFERENCES:
            value = REFERENCES[type(field)](column)
        elif isinstance(field, serializers.DateTimeField):
            value = _local_iso(column)
        elif isinstance(field, PLAIN):
            value = column
        else:
            raise ImproperlyConfigured(f"{serializer_class.__name__}.{name}: no SQL for it")
        values.append(f"'{name}', {value}")
    return f"json_build_object({', '.join(values)})"


GOALS = "FROM contracts_goal g WHERE g.contract_id = c.id"
NEXT_STEPS = "FROM contracts_nextstep s WHERE s.contract_id = c.id"
COMMITMENTS = "FROM contracts_commitment m WHERE m.contract_id = c.id"
CARE_CONTACTS = "FROM contracts_fixedcarecontact f WHERE f.contract_id = c.id"
WARNING_SIGNS = "FROM contracts_warningsign w WHERE w.contract_id = c.id"
CONTACT_PATHS = "FROM contracts_contactpath a WHERE a.contract_id = c.id"


def contract_json() -> str:
    """ContractOut of the contract row `c`, with its parts in the order their models sort
    them. The contract's own fields are written out: some are worked out (etag,
    changed_since_agreed) and the parts are lists and single rows of their own."""
    goal = json_object(s.GoalOut, Goal, "g")
    next_step = json_object(s.NextStepOut, NextStep, "s")
    commitment = json_object(s.CommitmentOut, Commitment, "m")
    care_contact = json_object(s.CareContactOut, FixedCareContact, "f")
    warning_sign = json_object(s.WarningSignOut, WarningSign, "w")
    contact_path = json_object(s.ContactPathOut, ContactPath, "a")
    return f"""json_build_object(
    'id', c.id, 'patient', c.patient_id, 'status', c.status, 'version', c.version,
    'etag', '"contract-' || c.id || '-v' || c.version || '"',
    'what_matters', c.what_matters,
    'goals', {json_list(goal, GOALS, "g.position, g.id")},
    'next_step', (SELECT {next_step} {NEXT_STEPS} AND s.status = 'planned'
                  ORDER BY s.scheduled_at, s.id LIMIT 1),
    'next_steps', {json_list(next_step, NEXT_STEPS, "s.scheduled_at, s.id")},
    'commitments', {json_list(commitment, COMMITMENTS, "m.due_date, m.id")},
    'fixed_care_contact', (SELECT {care_contact} {CARE_CONTACTS} AND f.ended_on IS NULL
                           ORDER BY f.id LIMIT 1),
    'warning_signs', {json_list(warning_sign, WARNING_SIGNS, "w.position, w.id")},
    'contact_paths', {json_list(contact_path, CONTACT_PATHS, "a.position, a.id")},
    'agreed_version', c.agreed_version,
    'agreed_at', {_local_iso("c.agreed_at")},
    'changed_since_agreed', coalesce(c.agreed_version < c.version, false),
    'review_due', c.review_due,
    'created_at', {_local_iso("c.created_at")},
    'updated_at', {_local_iso("c.updated_at")}
)"""


def visible_patients() -> str:
    """SQL of the patients the organisation %(organisation)s may see (patients.access)."""
    return (
        f"SELECT care.patient_id FROM ({care_relationships_sql()}) care"  # noqa: S608
        " WHERE care.organisation_id = %(organisation)s"
    )


def sees_patient(column: str) -> str:
    """SQL: whether the organisation %(organisation)s may see the patient in `column`
    (patients.access), as a correlated EXISTS. In a SELECT list, `IN (visible_patients())`
    would build the set of all the organisation's patients for one row (7 ms at 10,000
    patients); this looks up the one patient (0.05 ms)."""
    return (
        f"EXISTS (SELECT 1 FROM ({care_relationships_sql()}) care"  # noqa: S608
        f" WHERE care.organisation_id = %(organisation)s AND care.patient_id = {column})"
    )


# The access-log row of an integration's read, as patients.access writes a staff
# member's: an integration has no login, so no assurance level (NULL, as for
# patients.access.log_integration_reads). `{action}` is the SQL of the row's action.
LOG_READS = """
    INSERT INTO patients_accesslogentry
        (at, user_id, organisation_id, role, api_client, patient_id, action, emergency, reason,
         assurance_level)
    SELECT DISTINCT %(now)s::timestamptz, NULL::bigint, %(organisation)s::bigint, '',
           %(client)s::text, patient_id, {action}, false, '', NULL::smallint"""
READ = "%(action)s::text"


# A contract that exists but is not the organisation's is refused (None, a 404) and,
# in the same statement, logged as a `denied` row of its patient (patients.access).
@cache
def contract_read() -> PreparedStatement:
    log = LOG_READS.format(action=f"CASE WHEN allowed THEN {READ} ELSE %(denied)s::text END")
    return PreparedStatement(f"""
WITH found AS (
    SELECT c.*, {sees_patient("c.patient_id")} AS allowed
    FROM contracts_contract c WHERE c.id = %(contract)s
),
target AS (SELECT * FROM found WHERE allowed),
logged AS ({log} FROM found RETURNING patient_id)
SELECT c.version, {contract_json()}::text, (SELECT count(*) FROM logged)
FROM target c
""")  # noqa: S608 - constant fragments; values are parameters


# The change feed's cut: the id of the oldest transaction still running in THIS database,
# or the statement snapshot's xmax when none is. Every event below it has been committed
# (or rolled back) before the statement's snapshot, so it is visible now or never exists.
#
# Transaction ids are shared by every database of the PostgreSQL server, and so is the
# snapshot's xmin: a transaction left open in another database used to hold the feed
# back (6.9 s in issue 18), with nothing to end it. A transaction runs in one database
# for its whole life and can write rows only there, so one that pg_stat_activity (or
# pg_prepared_xacts, for a prepared one) shows in ANOTHER database is skipped over. One
# it shows here, or does not show at all (it ended after the snapshot was taken), still
# holds the cut: erring that way only delays, never skips. pg_stat_activity reports xids
# in 32 bits, the snapshot in 64 (with the epoch); running xids are never 2^31 apart, so
# the low 32 bits name one. The other databases' xids are read once per page (a hashed
# subplan; about 0.1 ms). A scalar subquery with no placeholder and no percent sign:
# `e.txid < ({FEED_CUT})` in any statement, with or without parameters. The
# transactions of our own database are bounded by their own limits (docs/operations.md,
# "The change feed's lag").
FEED_CUT = """
    SELECT coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) x
         WHERE x::text::bigint & 4294967295 NOT IN (
             SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
             WHERE a.backend_xid IS NOT NULL
               AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
             UNION ALL
             SELECT p.transaction::text::bigint FROM pg_prepared_xacts p
             WHERE p.database <> current_database())),
        pg_snapshot_xmax(s)::text::bigint)
    FROM pg_current_snapshot() s"""


# One page of the change feed: events of the organisation's patients after a (txid, id)
# cursor, one row more than the page to tell whether there is more. Events are ordered by
# the id of the transaction that wrote them, and only those below the cut (FEED_CUT) are
# served: a transaction that started earlier but commits later cannot land behind a
# cursor already handed out.
@cache
def changes_page() -> PreparedStatement:
    event = json_object(s.EventOut, Event, "e")
    return PreparedStatement(f"""
WITH candidates AS (
    SELECT e.* FROM contracts_event e
    WHERE e.patient_id IN ({visible_patients()})
      AND e.txid < ({FEED_CUT})
      AND (e.txid, e.id) > (%(txid)s, %(id)s)
    ORDER BY e.txid, e.id
    LIMIT %(limit)s + 1
),
shown AS (SELECT * FROM candidates ORDER BY txid, id LIMIT %(limit)s),
logged AS ({LOG_READS.format(action=READ)} FROM shown RETURNING patient_id)
SELECT
    (SELECT count(*) FROM candidates) > %(limit)s,
    (SELECT coalesce(json_agg({event} ORDER BY e.txid, e.id), '[]'::json)::text FROM shown e),
    (SELECT coalesce(array_agg(DISTINCT contract_id ORDER BY contract_id), '{{}}')
     FROM shown WHERE contract_id IS NOT NULL),
    (SELECT coalesce(array_agg(patient_id ORDER BY patient_id), '{{}}') FROM logged),
    (SELECT array[txid, id] FROM shown ORDER BY txid DESC, id DESC LIMIT 1)
""")  # noqa: S608 - constant fragments; values are parameters


# --- the reads ---------------------------------------------------------------------------


def _params(organisation, client_name: str, now) -> dict:
    return {
        "organisation": organisation.pk,
        "client": client_name[:100],
        "now": now,
        "action": AccessLogEntry.Action.API_READ,
        "denied": AccessLogEntry.Action.DENIED,
        "tz": settings.TIME_ZONE,
    }


def read_contract(organisation, client_name: str, contract_id: int, now):
    """(version, ContractOut JSON text) of a contract the organisation may see, with the
    read logged; None when it does not exist or is not theirs (a 404 either way)."""
    params = {**_params(organisation, client_name, now), "contract": contract_id}
    row = contract_read().fetchone(params)
    if row is None:
        return None
    version, body, _logged = row
    return version, body


def read_changes(organisation, client_name: str, after: tuple[int, int], limit: int, now):
    """One change-feed page: (events JSON text, contract ids, patient ids, last (txid, id)
    or None, has_more), every patient shown logged as read."""
    params = {
        **_params(organisation, client_name, now),
        "txid": after[0],
        "id": after[1],
        "limit": limit,
    }
    has_more, events, contracts, patients, last = changes_page().fetchone(params)
    return events, contracts, patients, (tuple(last) if last else None), has_more
