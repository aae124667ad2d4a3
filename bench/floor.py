"""The raw SQL floor as Django views: one hand-written query, no ORM, no serializer.

Mounted only by `bench.urls` when NARAVARD_BENCH_VIEWS is on (the bench sets it),
never in production. They log nothing, and check no access beyond the change feed's,
whose rows are chosen by it (the product's own rule, patients.access): they show what
the same data costs through Django's request cycle with the least possible work, so
`make bench` can put our real pages beside them.
"""

import json

from django.db import connection
from django.http import HttpResponse
from django.utils.html import escape

from patients.access import care_relationships_sql

# One plan with everything the plan page shows: parts, names and the latest events.
PLAN_SQL = """
SELECT json_build_object(
  'contract', row_to_json(c),
  'patient', (SELECT row_to_json(p) FROM patients_patient p WHERE p.id = c.patient_id),
  'goals', (SELECT coalesce(json_agg(g ORDER BY g.position, g.id), '[]')
            FROM contracts_goal g WHERE g.contract_id = c.id),
  'next_step', (SELECT row_to_json(n) FROM contracts_nextstep n
                WHERE n.contract_id = c.id AND n.status = 'planned' LIMIT 1),
  'commitments', (SELECT coalesce(json_agg(x ORDER BY x.due_date, x.id), '[]') FROM (
        SELECT m.*, o.name AS organisation_name,
               u.first_name || ' ' || u.last_name AS staff_name
        FROM contracts_commitment m
        LEFT JOIN actors_organisation o ON o.id = m.owner_organisation_id
        LEFT JOIN actors_user u ON u.id = m.owner_staff_id
        WHERE m.contract_id = c.id AND m.status <> 'cancelled') x),
  'care_contact', (SELECT row_to_json(f) FROM contracts_fixedcarecontact f
                   WHERE f.contract_id = c.id AND f.ended_on IS NULL),
  'warning_signs', (SELECT coalesce(json_agg(w ORDER BY w.position, w.id), '[]')
                    FROM contracts_warningsign w WHERE w.contract_id = c.id),
  'contact_paths', (SELECT coalesce(json_agg(a ORDER BY a.position, a.id), '[]')
                    FROM contracts_contactpath a WHERE a.contract_id = c.id),
  'events', (SELECT coalesce(json_agg(e), '[]') FROM (
        SELECT * FROM contracts_event e WHERE e.contract_id = c.id
        ORDER BY e.at DESC, e.id DESC LIMIT 11) e)
)::text
FROM contracts_contract c
WHERE c.patient_id = %s AND c.status IN ('draft', 'active')
"""

# One contract as the API shows it: the same parts without the history.
CONTRACT_SQL = """
SELECT json_build_object(
  'contract', row_to_json(c),
  'goals', (SELECT coalesce(json_agg(g), '[]') FROM contracts_goal g WHERE g.contract_id = c.id),
  'next_steps', (SELECT coalesce(json_agg(n), '[]') FROM contracts_nextstep n
                 WHERE n.contract_id = c.id),
  'commitments', (SELECT coalesce(json_agg(m ORDER BY m.due_date, m.id), '[]')
                  FROM contracts_commitment m WHERE m.contract_id = c.id),
  'care_contacts', (SELECT coalesce(json_agg(f), '[]') FROM contracts_fixedcarecontact f
                    WHERE f.contract_id = c.id),
  'warning_signs', (SELECT coalesce(json_agg(w), '[]') FROM contracts_warningsign w
                    WHERE w.contract_id = c.id),
  'contact_paths', (SELECT coalesce(json_agg(a), '[]') FROM contracts_contactpath a
                    WHERE a.contract_id = c.id)
)::text
FROM contracts_contract c
WHERE c.id = %s
"""

# One page of an organisation's change feed after a (txid, id) cursor, of the patients
# the organisation may see by the product's own access rule. (Built when the module is
# imported, which the bench does once Django is set up: the rule's SQL is compiled then.)
CHANGES_SQL = f"""
SELECT coalesce(json_agg(e), '[]')::text FROM (
  SELECT e.* FROM contracts_event e
  WHERE e.patient_id IN (
      SELECT care.patient_id FROM ({care_relationships_sql()}) care
      WHERE care.organisation_id = %s)
    AND (e.txid, e.id) > (%s, %s)
  ORDER BY e.txid, e.id
  LIMIT %s) e
"""  # noqa: S608 - the access rule's compiled constants; values are parameters


def fetch_one(sql: str, params) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def plan(request, patient_id):
    """The plan as a bare HTML list: the data of the plan page, none of its care."""
    text = fetch_one(PLAN_SQL, [patient_id])
    if text is None:
        return HttpResponse(status=404)
    data = json.loads(text)
    items = "".join(
        f"<li>{escape(m['what'])} {escape(m['organisation_name'] or '')}</li>"
        for m in data["commitments"]
    )
    events = "".join(f"<li>{escape(e['kind'])}</li>" for e in data["events"])
    what = escape(data["contract"]["what_matters"])
    body = f"<!doctype html><h1>Plan</h1><p>{what}</p><ul>{items}</ul><ul>{events}</ul>"
    return HttpResponse(body)


def contract(request, contract_id):
    text = fetch_one(CONTRACT_SQL, [contract_id])
    if text is None:
        return HttpResponse(status=404)
    return HttpResponse(text, content_type="application/json")


def changes(request, organisation_id):
    params = [
        organisation_id,
        int(request.GET.get("txid", 0)),
        int(request.GET.get("id", 0)),
        int(request.GET.get("limit", 100)),
    ]
    return HttpResponse(fetch_one(CHANGES_SQL, params), content_type="application/json")
