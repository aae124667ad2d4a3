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
  `EventOut` document it (tests/test_api_reads.py checks the JSON field by field).

The two statements are built on first use, as the access rule's SQL is compiled then.
"""

from functools import cache

from django.conf import settings

from naravard.dbutil import PreparedStatement, json_list
from patients.access import care_relationships_sql
from patients.models import AccessLogEntry

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


GOAL = (
    "json_build_object('id', g.id, 'text', g.text, 'position', g.position, "
    f"'achieved_at', {_local_iso('g.achieved_at')})"
)
GOALS = "FROM contracts_goal g WHERE g.contract_id = c.id"

NEXT_STEP = (
    "json_build_object('id', s.id, 'contract', s.contract_id, "
    f"'scheduled_at', {_local_iso('s.scheduled_at')}, 'channel', s.channel, "
    f"'location', s.location, 'organisation', {_organisation_ref('s.organisation_id')}, "
    f"'staff', {_staff_ref('s.staff_id')}, 'with_whom', s.with_whom, 'purpose', s.purpose, "
    "'status', s.status, 'outcome', s.outcome, "
    f"'outcome_recorded_at', {_local_iso('s.outcome_recorded_at')}, 'follows', s.follows_id)"
)
NEXT_STEPS = "FROM contracts_nextstep s WHERE s.contract_id = c.id"

COMMITMENT = (
    "json_build_object('id', m.id, 'contract', m.contract_id, 'what', m.what, "
    f"'owner_kind', m.owner_kind, "
    f"'owner_organisation', {_organisation_ref('m.owner_organisation_id')}, "
    f"'owner_staff', {_staff_ref('m.owner_staff_id')}, "
    f"'owner_relative', {_relative_ref('m.owner_relative_id')}, "
    "'due_date', m.due_date, 'status', m.status, "
    f"'completed_at', {_local_iso('m.completed_at')}, 'created_at', {_local_iso('m.created_at')})"
)
COMMITMENTS = "FROM contracts_commitment m WHERE m.contract_id = c.id"

CARE_CONTACT = (
    f"json_build_object('id', f.id, 'staff', {_staff_ref('f.staff_id')}, "
    f"'organisation', {_organisation_ref('f.organisation_id')}, 'started_on', f.started_on, "
    "'ended_on', f.ended_on, 'how_to_reach', f.how_to_reach)"
)
CARE_CONTACTS = "FROM contracts_fixedcarecontact f WHERE f.contract_id = c.id"

WARNING_SIGN = "json_build_object('id', w.id, 'sign', w.sign, 'action', w.action)"
WARNING_SIGNS = "FROM contracts_warningsign w WHERE w.contract_id = c.id"

CONTACT_PATH = (
    "json_build_object('id', a.id, 'kind', a.kind, 'label', a.label, 'value', a.value, "
    "'hours', a.hours, 'organisation', a.organisation_id)"
)
CONTACT_PATHS = "FROM contracts_contactpath a WHERE a.contract_id = c.id"

# ContractOut of the contract row `c`, with its parts in the order their models sort them.
CONTRACT = f"""json_build_object(
    'id', c.id, 'patient', c.patient_id, 'status', c.status, 'version', c.version,
    'etag', '"contract-' || c.id || '-v' || c.version || '"',
    'what_matters', c.what_matters,
    'goals', {json_list(GOAL, GOALS, "g.position, g.id")},
    'next_step', (SELECT {NEXT_STEP} {NEXT_STEPS} AND s.status = 'planned'
                  ORDER BY s.scheduled_at, s.id LIMIT 1),
    'next_steps', {json_list(NEXT_STEP, NEXT_STEPS, "s.scheduled_at, s.id")},
    'commitments', {json_list(COMMITMENT, COMMITMENTS, "m.due_date, m.id")},
    'fixed_care_contact', (SELECT {CARE_CONTACT} {CARE_CONTACTS} AND f.ended_on IS NULL
                           ORDER BY f.id LIMIT 1),
    'warning_signs', {json_list(WARNING_SIGN, WARNING_SIGNS, "w.position, w.id")},
    'contact_paths', {json_list(CONTACT_PATH, CONTACT_PATHS, "a.position, a.id")},
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


LOG_READS = """
    INSERT INTO patients_accesslogentry
        (at, user_id, organisation_id, role, api_client, patient_id, action, emergency, reason)
    SELECT DISTINCT %(now)s::timestamptz, NULL::bigint, %(organisation)s::bigint, '',
           %(client)s::text, patient_id, %(action)s::text, false, ''"""


@cache
def contract_read() -> PreparedStatement:
    return PreparedStatement(f"""
WITH target AS (
    SELECT c.* FROM contracts_contract c
    WHERE c.id = %(contract)s AND c.patient_id IN ({visible_patients()})
),
logged AS ({LOG_READS} FROM target RETURNING patient_id)
SELECT c.version, {CONTRACT}::text, (SELECT count(*) FROM logged)
FROM target c
""")  # noqa: S608 - constant fragments; values are parameters


EVENT = (
    "json_build_object('id', e.id, 'patient', e.patient_id, 'contract', e.contract_id, "
    f"'version', e.version, 'at', {_local_iso('e.at')}, 'kind', e.kind, "
    "'actor_kind', e.actor_kind, 'organisation', e.organisation_id, "
    "'before', e.before, 'after', e.after)"
)


# One page of the change feed: events of the organisation's patients after a (txid, id)
# cursor, one row more than the page to tell whether there is more. Events are ordered by
# the id of the transaction that wrote them, and only those of transactions below the
# oldest one still running are served: a transaction that started earlier but commits
# later cannot land behind a cursor already handed out.
@cache
def changes_page() -> PreparedStatement:
    return PreparedStatement(f"""
WITH candidates AS (
    SELECT e.* FROM contracts_event e
    WHERE e.patient_id IN ({visible_patients()})
      AND e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      AND (e.txid, e.id) > (%(txid)s, %(id)s)
    ORDER BY e.txid, e.id
    LIMIT %(limit)s + 1
),
shown AS (SELECT * FROM candidates ORDER BY txid, id LIMIT %(limit)s),
logged AS ({LOG_READS} FROM shown RETURNING patient_id)
SELECT
    (SELECT count(*) FROM candidates) > %(limit)s,
    (SELECT coalesce(json_agg({EVENT} ORDER BY e.txid, e.id), '[]'::json)::text FROM shown e),
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
