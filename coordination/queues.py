"""Read helpers for the coordinators' queues: one QuerySet per queue, and their counts.

Whose work a coordinator sees: the patients `patients.access.patients_visible_to`
gives them (in a care relationship with one of their organisations: on the care team,
with consent), the same rule as the worklist. A queue shows only what is needed to act
(name, identity number, dates, the organisation); the plan itself opens on the plan
page, which logs that read.

The filters narrow a queue to one organisation or one principal (huvudman). They
apply to whoever is responsible for the item: the care team for plans, the step's
organisation for next steps, the owner for commitments, the three units for
discharges.

Every queue page costs a fixed number of queries whatever the number of rows: the
rows are one paged query with select_related, the counts for the menu are one
statement (`counts`), and the extras a page needs are fetched for the whole page at once.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from actors.models import Membership, Organisation, Role
from contracts import days
from contracts.models import Commitment, Contract, FixedCareContact, NextStep, Notification
from contracts.services import CARE_CONTACT_ROLES
from patients.access import care_relationships, patients_visible_to

from .models import Admission, DischargeNotice, SipMeeting

PER_PAGE = 25
# Plans due for review within this many days are listed ahead of time.
REVIEW_HORIZON_DAYS = 14


@dataclass
class Scope:
    """Who is looking, at what moment, through which filter."""

    user: object
    memberships: list[Membership]
    now: datetime
    organisation: Organisation | None = None
    principal: Organisation | None = None
    choices: list[Organisation] = field(default_factory=list)

    @property
    def today(self) -> date:
        return timezone.localdate(self.now)

    @property
    def is_coordinator(self) -> bool:
        return any(m.role == Role.COORDINATOR for m in self.memberships)

    @property
    def organisation_ids(self) -> list[int]:
        return [m.organisation_id for m in self.memberships]

    @property
    def principals(self) -> list[Organisation]:
        found = {org.principal_id: org.principal for org in self.choices if org.principal_id}
        return sorted(found.values(), key=lambda org: org.name)

    def visible(self):
        return patients_visible_to(self.user)

    def unit(self, path: str) -> Q:
        """The filter on an organisation field (`path`), e.g. "owner_organisation"."""
        condition = Q()
        if self.organisation is not None:
            condition &= Q(**{path: self.organisation})
        if self.principal is not None:
            condition &= Q(**{f"{path}__principal": self.principal})
        return condition

    def team(self, patient_ref: str = "patient") -> Q:
        """The filter for plans: an organisation (or one under the principal) in a care
        relationship with the patient."""
        if self.organisation is None and self.principal is None:
            return Q()
        cared_for = care_relationships().filter(
            self.unit("organisation"), patient=OuterRef(patient_ref)
        )
        return Q(Exists(cared_for))


def by_preference(memberships) -> list[Membership]:
    """Coordinator memberships first: the role a queue is used in names the reader."""
    return sorted(memberships, key=lambda m: (m.role != Role.COORDINATOR, m.pk))


def memberships_of(user) -> list[Membership]:
    return list(
        Membership.objects.active()
        .filter(user=user)
        .select_related("organisation__principal")
        .order_by("id")
    )


def filter_choices(user) -> list[Organisation]:
    """Organisations the filter offers: those in a care relationship with the user's
    patients, and the user's own."""
    visible = patients_visible_to(user)
    caring = care_relationships().filter(organisation=OuterRef("pk"), patient__in=visible)
    mine = Membership.objects.active().filter(user=user, organisation=OuterRef("pk"))
    return list(
        Organisation.objects.filter(Exists(caring) | Exists(mine))
        .select_related("principal")
        .order_by("name")
    )


def make_scope(user, *, organisation_id=None, principal_id=None, now=None, memberships=None):
    """The scope for a page, with the filter ids checked against what the user may choose."""
    scope = Scope(
        user=user,
        memberships=memberships_of(user) if memberships is None else memberships,
        now=now or timezone.now(),
    )
    scope.choices = filter_choices(user)
    by_id = {str(org.pk): org for org in scope.choices}
    scope.organisation = by_id.get(str(organisation_id or ""))
    principals = {str(org.pk): org for org in scope.principals}
    scope.principal = principals.get(str(principal_id or ""))
    return scope


# --- the queues -----------------------------------------------------------------------------


def _active_plans(scope: Scope) -> QuerySet:
    return (
        Contract.objects.active()
        .filter(patient__in=scope.visible())
        .filter(scope.team())
        .select_related("patient")
    )


def without_care_contact(scope: Scope) -> QuerySet:
    """Active plans with no fixed care contact (fast vårdkontakt), oldest first."""
    current = FixedCareContact.objects.filter(contract=OuterRef("pk"), ended_on__isnull=True)
    return _active_plans(scope).filter(~Exists(current)).order_by("created_at", "pk")


def without_next_step(scope: Scope) -> QuerySet:
    """Overdue next steps, the plan side: active plans with no next step agreed (the
    last one is over, or none was ever agreed), longest waiting first."""
    planned = NextStep.objects.planned().filter(contract=OuterRef("pk"))
    last = (
        NextStep.objects.filter(contract=OuterRef("pk"))
        .exclude(status=NextStep.Status.CANCELLED)
        .order_by()
        .values("contract")
        .annotate(at=Max("scheduled_at"))
        .values("at")
    )
    return (
        _active_plans(scope)
        .filter(~Exists(planned))
        .annotate(last_step_at=Subquery(last))
        .order_by("last_step_at", "created_at", "pk")
    )


def without_outcome(scope: Scope) -> QuerySet:
    """Next steps whose time has passed with no outcome recorded, oldest first."""
    return (
        NextStep.objects.planned()
        .filter(
            scheduled_at__lt=scope.now,
            contract__status=Contract.Status.ACTIVE,
            contract__patient__in=scope.visible(),
        )
        .filter(scope.unit("organisation"))
        .select_related("contract__patient", "organisation")
        .order_by("scheduled_at", "pk")
    )


def overdue_commitments(scope: Scope) -> QuerySet:
    """Open commitments of organisations (and their named staff) past their date.

    The patient's and relatives' own commitments are left out: coordinators follow up
    the units; the patient's self-care is the fixed care contact's conversation."""
    return (
        Commitment.objects.overdue(scope.today)
        .filter(
            owner_organisation__isnull=False,
            contract__status=Contract.Status.ACTIVE,
            contract__patient__in=scope.visible(),
        )
        .filter(scope.unit("owner_organisation"))
        .select_related("contract__patient", "owner_organisation", "owner_staff")
        .order_by("owner_organisation__name", "due_date", "pk")
    )


def overdue_by_organisation(scope: Scope) -> list[dict]:
    """How many overdue commitments each organisation has, most first (one query)."""
    return list(
        overdue_commitments(scope)
        .order_by()
        .values("owner_organisation", "owner_organisation__name")
        .annotate(count=Count("pk"), oldest=Min("due_date"))
        .order_by("-count", "owner_organisation__name")
    )


def reviews_due(scope: Scope) -> QuerySet:
    """Active plans due for review now or within REVIEW_HORIZON_DAYS, earliest first."""
    horizon = scope.today + timedelta(days=REVIEW_HORIZON_DAYS)
    return _active_plans(scope).filter(review_due__lte=horizon).order_by("review_due", "pk")


def unacknowledged_notices(scope: Scope) -> QuerySet:
    """Discharge notices sent to one of the user's organisations and not yet acknowledged."""
    return (
        DischargeNotice.objects.unacknowledged()
        .filter(
            to_organisation__in=scope.organisation_ids,
            admission__patient__in=scope.visible(),
        )
        .filter(_admission_units(scope, "admission__"))
        .select_related("admission__patient", "from_organisation", "to_organisation")
        .order_by("sent_at", "pk")
    )


def failed_reminders(scope: Scope) -> QuerySet:
    """Reminders and notices about plans the reader may see that were not delivered
    after every attempt (reminders.outbox) and that nobody has handled yet, oldest
    first: someone must reach the patient or the colleague another way."""
    return (
        Notification.objects.filter(
            status=Notification.Status.FAILED,
            handled_at__isnull=True,
            contract__patient__in=scope.visible(),
        )
        .filter(scope.team("contract__patient"))
        .annotate(failed_at=Max("delivery_log__at"))
        .select_related("contract__patient", "recipient_user")
        .order_by("created_at", "pk")
    )


def _admission_units(scope: Scope, prefix: str = "") -> Q:
    if scope.organisation is None and scope.principal is None:
        return Q()
    condition = Q()
    for unit in ("hospital_unit", "primary_care", "municipality_unit"):
        condition |= scope.unit(f"{prefix}{unit}")
    return condition


def admissions(scope: Scope) -> QuerySet:
    """Patients in hospital whose discharge one of the user's organisations takes part
    in, with the first notice of each kind, for the deadlines."""
    sent = {}
    for name, kind in (
        ("admission_notice_at", DischargeNotice.Kind.ADMISSION),
        ("ready_notice_at", DischargeNotice.Kind.READY),
    ):
        first = (
            DischargeNotice.objects.filter(admission=OuterRef("pk"), kind=kind)
            .order_by("sent_at")
            .values("sent_at")[:1]
        )
        sent[name] = Subquery(first)
    return (
        Admission.objects.in_hospital()
        .involving(scope.organisation_ids)
        .filter(patient__in=scope.visible())
        .filter(_admission_units(scope))
        .annotate(**sent)
        .select_related(
            "patient", "hospital_unit", "primary_care", "municipality_unit", "care_contact", "sip"
        )
        .order_by("admitted_at", "pk")
    )


QUEUES = {
    "care_contacts": without_care_contact,
    "next_steps": without_next_step,
    "outcomes": without_outcome,
    "commitments": overdue_commitments,
    "reviews": reviews_due,
    "discharges": unacknowledged_notices,
    "failed_reminders": failed_reminders,
}


def counts(scope: Scope) -> dict[str, int]:
    """Every queue's size in ONE statement: each count is a scalar subquery built from
    the same QuerySet as the page, so the menu and the pages always agree."""
    parts, params = [], []
    for name, queue in QUEUES.items():
        # SQL compiled by Django and this module's own queue names; values are parameters.
        sql, sub_params = queue(scope).order_by().values("pk").query.sql_with_params()
        parts.append(f"(SELECT count(*) FROM ({sql}) AS {name}_rows) AS {name}")  # noqa: S608
        params.extend(sub_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(QUEUES, row, strict=True))


# --- what each row shows -----------------------------------------------------------------------


def decorate_waiting(plans, scope: Scope) -> None:
    """Whole working days each plan has waited for a contact (today is not over yet),
    and whether the escalation rule (3 working days, our policy) says it is overdue."""
    rule = days.rule("fixed_contact_escalation")
    for plan in plans:
        plan.days_waiting = rule.elapsed(plan.created_at, scope.now)
        plan.overdue = rule.is_overdue(plan.created_at, scope.now)


def decorate_outcomes(steps, scope: Scope) -> None:
    rule = days.rule("next_step_outcome_overdue")
    for step in steps:
        step.hours_passed = rule.elapsed(step.scheduled_at, scope.now)
        step.overdue = rule.is_overdue(step.scheduled_at, scope.now)


def decorate_commitments(commitments, scope: Scope) -> None:
    for commitment in commitments:
        commitment.days_late = (scope.today - commitment.due_date).days


def decorate_reviews(plans, scope: Scope) -> None:
    for plan in plans:
        plan.overdue = plan.review_due < scope.today
        plan.days_left = (plan.review_due - scope.today).days


def decorate_next_steps(plans, scope: Scope) -> None:
    for plan in plans:
        since = plan.last_step_at or plan.created_at
        plan.days_without = (scope.today - timezone.localdate(since)).days


@dataclass
class Deadline:
    """One discharge deadline as a row shows it: what, when, met or missed."""

    label: str
    due_at: datetime
    done_at: datetime | None
    now: datetime

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.now >= self.due_at

    @property
    def missed(self) -> bool:
        return self.done_at is not None and self.done_at >= self.due_at

    @property
    def last_day(self) -> date | None:
        """For a day rule (deadline at midnight) the last day allowed, which reads better
        than "by 00:00 the day after"; None for an hour rule."""
        local = timezone.localtime(self.due_at, days.STOCKHOLM)
        if (local.hour, local.minute, local.second) == (0, 0, 0):
            return local.date() - timedelta(days=1)
        return None


def decorate_admissions(rows, scope: Scope) -> None:
    """The deadlines of each stay: admission notice (24 h), SIP call (3 days from the
    ready notice), and the day the municipality's payment liability starts."""
    for admission in rows:
        admission.deadlines = [
            Deadline(
                _("Admission notice"),
                admission.admission_notice_due_at,
                admission.admission_notice_at,
                scope.now,
            )
        ]
        sip: SipMeeting | None = getattr(admission, "sip", None)
        if admission.sip_call_due_at is not None:
            admission.deadlines.append(
                Deadline(
                    _("SIP meeting called"),
                    admission.sip_call_due_at,
                    sip.called_at if sip else None,
                    scope.now,
                )
            )
        admission.liability_started = bool(
            admission.payment_liability_from and scope.now >= admission.payment_liability_from
        )
        admission.mine = {
            "hospital": admission.hospital_unit_id in scope.organisation_ids,
            "primary_care": admission.primary_care_id in scope.organisation_ids,
        }


def contact_choices(plans) -> dict[int, list[Membership]]:
    """For each plan on the page, the staff of the organisations in a care relationship
    with its patient who can be its fixed care contact. Two queries for the whole page."""
    patient_ids = {plan.patient_id for plan in plans}
    if not patient_ids:
        return {}
    team = list(
        care_relationships()
        .filter(patient_id__in=patient_ids)
        .values_list("patient_id", "organisation_id")
        .distinct()
    )
    staff = list(
        Membership.objects.active()
        .filter(organisation_id__in={org for _p, org in team}, role__in=CARE_CONTACT_ROLES)
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__last_name", "user__first_name", "pk")
    )
    orgs_of = {}
    for patient_id, organisation_id in team:
        orgs_of.setdefault(patient_id, set()).add(organisation_id)
    return {
        plan.pk: [m for m in staff if m.organisation_id in orgs_of.get(plan.patient_id, ())]
        for plan in plans
    }


def primary_care_staff(rows) -> dict[int, list[Membership]]:
    """Staff of each admission's primary-care unit, for appointing the contact (one query)."""
    unit_ids = {row.primary_care_id for row in rows if row.mine["primary_care"]}
    if not unit_ids:
        return {}
    staff = list(
        Membership.objects.active()
        .filter(organisation_id__in=unit_ids, role__in=CARE_CONTACT_ROLES)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
    )
    return {row.pk: [m for m in staff if m.organisation_id == row.primary_care_id] for row in rows}
