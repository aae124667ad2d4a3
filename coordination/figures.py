"""Follow-up figures (uppföljning) for coordinators: how well the plans work, over time and
per organisation, computed in SQL and drawn as plain SVG on the server.

Two statements whatever the amount of data: one for the monthly series (the last 12
months, each measured at the end of its month, or now for the current month) and
one for the organisations. Both start from the same plans a coordinator's queues
show (`patients_visible_to`, narrowed by the filter), so the figures never count
patients the coordinator may not see. Nothing here names a patient.

How each figure is measured:

- share of active plans with a fixed care contact: at the month's end;
- median days to assignment: calendar days from the plan's start to its first fixed
  care contact, for contacts first assigned in the month (calendar days, because the
  holiday calendar lives in Python and the median is taken in SQL);
- share with an agreed future next step: at the month's end, a step agreed before
  and due after it, not cancelled by then;
- overdue commitments: organisations' open commitments past their date at the
  month's end (a cancelled one does not count, as its cancel time is not kept);
- SIP meetings within deadline: of the stays whose SIP-call deadline falls in the
  month and is settled (called, or passed), the share called before it;
- "I know where to turn": the mean answer (1-5) given in the month.
"""

import csv
from dataclasses import dataclass
from datetime import date, datetime, time
from io import StringIO

from django.db import connection
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from contracts.days import STOCKHOLM, add_months
from contracts.models import Contract
from patients.access import care_relationships_sql

from .models import Admission
from .queues import Scope, _admission_units

MONTHS = 12

# Conditions shared by the statements (constant SQL; every value is a parameter).
ACTIVE_AT_END = "p.created_at < m.end_at AND (p.closed_at IS NULL OR p.closed_at >= m.end_at)"
CURRENT_CONTACT_AT_END = """EXISTS (
    SELECT 1 FROM contracts_fixedcarecontact f
    WHERE f.contract_id = p.id AND f.created_at < m.end_at
      AND (f.ended_on IS NULL OR f.ended_on >= m.end_day))"""
FUTURE_STEP_AT_END = """EXISTS (
    SELECT 1 FROM contracts_nextstep s
    WHERE s.contract_id = p.id AND s.created_at < m.end_at AND s.scheduled_at >= m.end_at
      AND (s.status <> 'cancelled' OR EXISTS (
          SELECT 1 FROM contracts_nextstep later
          WHERE later.follows_id = s.id AND later.created_at >= m.end_at)))"""
OVERDUE_AT_END = """k.owner_organisation_id IS NOT NULL AND k.created_at < m.end_at
    AND k.due_date < m.end_day AND k.status <> 'cancelled'
    AND (k.status = 'open' OR k.completed_at >= m.end_at)"""

# Every value goes in as a positional parameter, and all of them sit in the first CTE,
# ahead of the plans and stays subqueries that Django compiles (with their own
# positional parameters): so the parameter list is simply ours, then theirs.
MONTHLY_SQL = f"""
WITH m AS (
    SELECT m.*, %s::timestamptz AS now_at
    FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::date[],
                %s::timestamptz[]) AS m(label, start_at, end_at, end_day, next_start)
),
p AS (SELECT id, created_at, closed_at FROM contracts_contract WHERE id IN ({{plans}})),
a AS (SELECT id, sip_call_due_at FROM coordination_admission WHERE id IN ({{admissions}})),
first_contact AS (
    SELECT f.contract_id, min(f.created_at) AS at, min(p.created_at) AS plan_at
    FROM contracts_fixedcarecontact f JOIN p ON p.id = f.contract_id
    GROUP BY f.contract_id
),
answers AS (
    SELECT sa.answer, sa.answered_at FROM coordination_surveyanswer sa
    JOIN contracts_nextstep s ON s.id = sa.next_step_id
    WHERE s.contract_id IN (SELECT id FROM p)
)
SELECT m.label,
    (SELECT count(*) FROM p WHERE {ACTIVE_AT_END}),
    (SELECT count(*) FROM p WHERE {ACTIVE_AT_END} AND {CURRENT_CONTACT_AT_END}),
    (SELECT percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM fc.at - fc.plan_at) / 86400)
     FROM first_contact fc WHERE fc.at >= m.start_at AND fc.at < m.end_at),
    (SELECT count(*) FROM p WHERE {ACTIVE_AT_END} AND {FUTURE_STEP_AT_END}),
    (SELECT count(*) FROM contracts_commitment k JOIN p ON p.id = k.contract_id
     WHERE {OVERDUE_AT_END}),
    (SELECT count(*) FROM a LEFT JOIN coordination_sipmeeting sip ON sip.admission_id = a.id
     WHERE a.sip_call_due_at >= m.start_at AND a.sip_call_due_at < m.next_start
       AND (sip.id IS NOT NULL OR a.sip_call_due_at <= m.now_at)),
    (SELECT count(*) FROM a JOIN coordination_sipmeeting sip ON sip.admission_id = a.id
     WHERE a.sip_call_due_at >= m.start_at AND a.sip_call_due_at < m.next_start
       AND sip.called_at < a.sip_call_due_at),
    (SELECT avg(answer) FROM answers WHERE answered_at >= m.start_at AND answered_at < m.end_at),
    (SELECT count(*) FROM answers WHERE answered_at >= m.start_at AND answered_at < m.end_at)
FROM m ORDER BY m.start_at
"""  # noqa: S608 - constant fragments of this module; values are parameters

# The same figures now, one row per organisation; `m` is the present moment.
BY_ORGANISATION_SQL = f"""
WITH m AS (
    SELECT %s::timestamptz AS end_at, %s::date AS end_day, %s::timestamptz AS since
),
o AS (SELECT * FROM unnest(%s::bigint[]) AS o(id)),
p AS (SELECT id, patient_id, created_at, closed_at FROM contracts_contract
      WHERE id IN ({{plans}}) AND status = 'active'),
a AS (SELECT id, primary_care_id, sip_call_due_at FROM coordination_admission
      WHERE id IN ({{admissions}}))
SELECT o.id,
    (SELECT count(*) FROM p WHERE {{serves}}),
    (SELECT count(*) FROM p WHERE {{serves}} AND {CURRENT_CONTACT_AT_END}),
    (SELECT percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM fc.at - p.created_at) / 86400)
     FROM p, LATERAL (SELECT min(f.created_at) AS at FROM contracts_fixedcarecontact f
                      WHERE f.contract_id = p.id) fc
     WHERE {{serves}} AND fc.at >= m.since),
    (SELECT count(*) FROM p WHERE {{serves}} AND {FUTURE_STEP_AT_END}),
    (SELECT count(*) FROM contracts_commitment k JOIN p ON p.id = k.contract_id
     WHERE k.owner_organisation_id = o.id AND {OVERDUE_AT_END}),
    (SELECT count(*) FROM a LEFT JOIN coordination_sipmeeting sip ON sip.admission_id = a.id
     WHERE a.primary_care_id = o.id AND a.sip_call_due_at >= m.since
       AND (sip.id IS NOT NULL OR a.sip_call_due_at <= m.end_at)),
    (SELECT count(*) FROM a JOIN coordination_sipmeeting sip ON sip.admission_id = a.id
     WHERE a.primary_care_id = o.id AND a.sip_call_due_at >= m.since
       AND sip.called_at < a.sip_call_due_at),
    (SELECT avg(sa.answer) FROM coordination_surveyanswer sa
     JOIN contracts_nextstep s ON s.id = sa.next_step_id
     WHERE s.organisation_id = o.id AND sa.answered_at >= m.since
       AND s.contract_id IN (SELECT id FROM p))
FROM o CROSS JOIN m
"""  # noqa: S608 - constant fragments of this module; values are parameters


def _serves() -> str:
    """The plan's patient has a care relationship with the organisation `o` (on its team
    with its consent: patients.access, the one rule)."""
    return (
        f"EXISTS (SELECT 1 FROM ({care_relationships_sql()}) care"  # noqa: S608
        " WHERE care.patient_id = p.patient_id AND care.organisation_id = o.id)"
    )


@dataclass
class Row:
    """One month or one organisation, with every figure."""

    key: str
    label: str
    active: int
    with_contact: int
    median_days: float | None
    with_future_step: int
    overdue_commitments: int
    sip_settled: int
    sip_in_time: int
    knows_where_to_turn: float | None
    answers: int = 0

    @property
    def contact_share(self) -> float | None:
        return _share(self.with_contact, self.active)

    @property
    def future_step_share(self) -> float | None:
        return _share(self.with_future_step, self.active)

    @property
    def sip_share(self) -> float | None:
        return _share(self.sip_in_time, self.sip_settled)


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _float(value) -> float | None:
    return round(float(value), 1) if value is not None else None


@dataclass(frozen=True)
class Month:
    key: str  # "2026-05", for the CSV
    label: str  # in the reader's language, for the page
    start: datetime
    end: datetime  # the month's end, or now for the current month
    end_day: date
    next_start: datetime


def months(now: datetime, count: int = MONTHS) -> list[Month]:
    """The last `count` months, the current one last and ending now. Boundaries are
    midnights in Stockholm."""
    local = timezone.localtime(now, STOCKHOLM)
    first = date(local.year, local.month, 1)
    result = []
    for back in range(count - 1, -1, -1):
        start_day = add_months(first, -back)
        start = datetime.combine(start_day, time(0), tzinfo=STOCKHOLM)
        next_start = datetime.combine(add_months(start_day, 1), time(0), tzinfo=STOCKHOLM)
        end = min(next_start, now)
        result.append(
            Month(
                key=f"{start_day:%Y-%m}",
                label=formats.date_format(start_day, "M Y"),
                start=start,
                end=end,
                end_day=timezone.localdate(end, STOCKHOLM),
                next_start=next_start,
            )
        )
    return result


def _scope_sql(scope: Scope) -> tuple[str, list, str, list]:
    plans = Contract.objects.filter(patient__in=scope.visible()).filter(scope.team())
    stays = Admission.objects.filter(patient__in=scope.visible()).filter(_admission_units(scope))
    plans_sql, plans_params = plans.values("pk").query.sql_with_params()
    stays_sql, stays_params = stays.values("pk").query.sql_with_params()
    return plans_sql, list(plans_params), stays_sql, list(stays_params)


def _run(sql: str, values: list, scope: Scope, extra: dict | None = None) -> list[tuple]:
    """Run one statement with the scope's plans and stays spliced in as subqueries."""
    plans_sql, plans_params, stays_sql, stays_params = _scope_sql(scope)
    text = sql.format(plans=plans_sql, admissions=stays_sql, **(extra or {}))
    with connection.cursor() as cursor:
        cursor.execute(text, [*values, *plans_params, *stays_params])
        return cursor.fetchall()


def monthly(scope: Scope) -> list[Row]:
    series = months(scope.now)
    values = [
        scope.now,
        [month.key for month in series],
        [month.start for month in series],
        [month.end for month in series],
        [month.end_day for month in series],
        [month.next_start for month in series],
    ]
    labels = {month.key: month.label for month in series}
    return [_row(labels[key], *rest, key=key) for key, *rest in _run(MONTHLY_SQL, values, scope)]


def by_organisation(scope: Scope) -> list[Row]:
    """The same figures now, per organisation in a care relationship with the plans'
    patients (the last 12 months for the
    median, SIP and survey figures)."""
    organisations = [
        org
        for org in scope.choices
        if (scope.organisation is None or org.pk == scope.organisation.pk)
        and (scope.principal is None or org.principal_id == scope.principal.pk)
    ]
    if not organisations:
        return []
    since = months(scope.now)[0].start
    values = [scope.now, scope.today, since, [org.pk for org in organisations]]
    rows = {row[0]: row for row in _run(BY_ORGANISATION_SQL, values, scope, {"serves": _serves()})}
    return [_row(org.name, *rows[org.pk][1:], key=org.name) for org in organisations]


def _row(
    label,
    active,
    with_contact,
    median,
    future,
    overdue,
    settled,
    in_time,
    mean,
    answers=0,
    *,
    key="",
):
    return Row(
        key=key,
        label=label,
        active=active,
        with_contact=with_contact,
        median_days=_float(median),
        with_future_step=future,
        overdue_commitments=overdue,
        sip_settled=settled,
        sip_in_time=in_time,
        knows_where_to_turn=_float(mean),
        answers=answers,
    )


# --- charts ------------------------------------------------------------------------------------


@dataclass
class Bar:
    """One bar and where its texts go, in the chart's own coordinates."""

    label: str
    value: float | None
    text: str
    x: float
    y: float
    width: float
    height: float
    label_x: float = 0
    label_y: float = 0
    value_x: float = 0
    value_y: float = 0


@dataclass
class Chart:
    """A bar chart drawn as SVG by the template; the same numbers also go in a table.

    `across` charts put months along the bottom; the others list organisations down
    the side, as their names are long. All geometry is worked out here, so the
    template only places what it is given."""

    key: str
    title: str
    unit: str
    bars: list[Bar]
    across: bool
    maximum: float
    width: int = 640
    height: int = 260
    ticks: list[dict] | None = None

    @property
    def summary(self) -> str:
        """One sentence for the caption and screen readers; the table has every number."""
        known = [bar for bar in self.bars if bar.value is not None]
        if not known:
            return _("No data yet.")
        if self.across:
            last = known[-1]
            return _("Latest: %(label)s, %(value)s.") % {"label": last.label, "value": last.text}
        high = max(known, key=lambda bar: bar.value)
        low = min(known, key=lambda bar: bar.value)
        return _("Highest: %(high)s, %(high_value)s. Lowest: %(low)s, %(low_value)s.") % {
            "high": high.label,
            "high_value": high.text,
            "low": low.label,
            "low_value": low.text,
        }

    @property
    def has_data(self) -> bool:
        return any(bar.value is not None for bar in self.bars)


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    number = formats.number_format(value, decimal_pos=0 if float(value).is_integer() else 1)
    return f"{number} %" if unit == "%" else f"{number} {unit}".strip()


def chart(key: str, title, unit: str, points, across=True, maximum: float | None = None):
    """Lay the bars out on a fixed canvas; the template only draws them."""
    values = [value for _label, value in points if value is not None]
    if maximum is None:
        maximum = 100.0 if unit == "%" else max([*values, 1.0])
    result = Chart(key, str(title), unit, [], across, float(maximum))
    if across:
        left, top, width, height = 64, 12, result.width - 76, result.height - 72
    else:
        result.height = max(60, 28 * len(points) + 32)
        left, top, width, height = 220, 8, result.width - 290, result.height - 32
    slot = (width if across else height) / max(len(points), 1)
    for index, (label, value) in enumerate(points):
        share = (value or 0) / result.maximum
        bar = Bar(label, value, _format(value, unit), 0, 0, 0, 0)
        if across:
            bar.width, bar.height = slot * 0.7, height * share
            bar.x = left + slot * index + slot * 0.15
            bar.y = top + height - bar.height
            bar.label_x, bar.label_y = bar.x + bar.width / 2, top + height + 14
            bar.value_x, bar.value_y = bar.x + bar.width / 2, bar.y - 4
        else:
            bar.width, bar.height = width * share, slot * 0.7
            bar.x, bar.y = left, top + slot * index + slot * 0.15
            bar.label_x, bar.label_y = left - 8, bar.y + bar.height / 2 + 4
            bar.value_x, bar.value_y = left + bar.width + 6, bar.y + bar.height / 2 + 4
        result.bars.append(bar)
    result.ticks = []
    for share in (0, 0.5, 1):
        text = _format(result.maximum * share, unit)
        if across:
            y = top + height * (1 - share)
            line = {"x1": left, "x2": left + width, "y1": y, "y2": y, "tx": left - 6, "ty": y + 4}
        else:
            x = left + width * share
            bottom = top + height
            line = {"x1": x, "x2": x, "y1": top, "y2": bottom, "tx": x, "ty": bottom + 14}
        result.ticks.append({**line, "text": text})
    return result


def charts(monthly_rows: list[Row], org_rows: list[Row]) -> list[Chart]:
    def series(attribute):
        return [(row.label, getattr(row, attribute)) for row in monthly_rows]

    def per_org(attribute):
        return [(row.label, getattr(row, attribute)) for row in org_rows]

    days_unit = str(_("days"))
    return [
        chart("contact", CHART_TITLES["contact"], "%", series("contact_share")),
        chart("median", CHART_TITLES["median"], days_unit, series("median_days")),
        chart("future-step", CHART_TITLES["future_step"], "%", series("future_step_share")),
        chart("overdue", CHART_TITLES["overdue"], "", series("overdue_commitments")),
        chart(
            "overdue-org", CHART_TITLES["overdue_org"], "", per_org("overdue_commitments"), False
        ),
        chart("contact-org", CHART_TITLES["contact_org"], "%", per_org("contact_share"), False),
        chart("sip", CHART_TITLES["sip"], "%", series("sip_share")),
        chart("survey", CHART_TITLES["survey"], "", series("knows_where_to_turn"), maximum=5),
    ]


CHART_TITLES = {
    "contact": gettext_lazy("Active plans with a fixed care contact"),
    "median": gettext_lazy("Median days from plan start to fixed care contact"),
    "future_step": gettext_lazy("Active plans with an agreed next step ahead"),
    "overdue": gettext_lazy("Overdue commitments of organisations"),
    "overdue_org": gettext_lazy("Overdue commitments now, per organisation"),
    "contact_org": gettext_lazy("Plans with a fixed care contact now, per organisation"),
    "sip": gettext_lazy("SIP meetings called within the deadline"),
    "survey": gettext_lazy("“I know where to turn”, mean answer from 1 to 5"),
}


# --- CSV ------------------------------------------------------------------------------------


def as_csv(monthly_rows: list[Row], org_rows: list[Row]) -> str:
    """Both tables in one file: a column says whether a row is a month or an organisation."""
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "period_or_organisation",
            "kind",
            "active_plans",
            "with_fixed_care_contact_percent",
            "median_days_to_contact",
            "with_future_next_step_percent",
            "overdue_commitments",
            "sip_called_in_time_percent",
            "sip_settled",
            "knows_where_to_turn_mean",
        ]
    )
    for kind, rows in (("month", monthly_rows), ("organisation", org_rows)):
        for row in rows:
            writer.writerow(
                [
                    _csv_safe(row.key),
                    kind,
                    row.active,
                    _blank(row.contact_share),
                    _blank(row.median_days),
                    _blank(row.future_step_share),
                    row.overdue_commitments,
                    _blank(row.sip_share),
                    row.sip_settled,
                    _blank(row.knows_where_to_turn),
                ]
            )
    return out.getvalue()


def _blank(value) -> str:
    return "" if value is None else str(value)


def _csv_safe(text: str) -> str:
    # A name starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
