"""Who may see a patient's data, and the access log (PDL) written on every staff read.

One access function per protected object; every HTML view, API view and task uses
these, so the rule lives in one place. Missing and not-yours look the same: 404.

The rule:
- the patient sees their own plan and may write;
- a relative or proxy sees it when the patient allowed read, writes when allowed write;
- staff see it when one of their active memberships is in an organisation that has a
  care relationship with the patient: on the patient's active care team AND with the
  patient's consent (not withdrawn, spärr), both for that same organisation; the role
  inside that organisation does not matter for reading;
- a clinician or coordinator with no care relationship may read (never write) in an
  emergency (nödåtkomst, `emergency_refusal`): logged in with e-legitimation (assurance
  level 3), a kind of emergency and a reason of at least a sentence, and at most
  settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT patients a day. Home-care staff and
  organisation administrators (in that role alone) may not: home care has its own
  patients' plans through the care team, and an administrator's work needs no health
  data. The read is logged with emergency=True, reviewed by administrators, and the
  patient is told (reminders.notify.emergency_access_read);
- nobody else, not even a superuser: the admin is not a way to read plans.

Every access-log row carries the assurance level of the reader's login, taken from the
request by AssuranceLevelMiddleware (`login_level`); integrations' rows have none. A
staff member or integration refused a patient who exists gets a `denied` row: the
patient sees the attempt. A missing id writes nothing. Every door that reads by id goes
through one function here that writes it (get_patient_for and viewer_or_denied for
pages, for_organisation for REST and FHIR; api.reads for the contract read), in
autocommit, so that the 404 does not roll it back (tests/test_denied_reads.py).

The care relationship and the relatives' access are defined once each, as querysets
(`care_relationships`, `relatives_with_access`). Readers that go through the ORM filter
them; the hand-written statements of the hot reads (the plan page's access query here,
the API's contract read and change feed, the reminder sweeps, the bench floor) embed
the SQL compiled from those same querysets (`care_relationships_sql`,
`relatives_with_access_sql`). tests/test_architecture.py keeps any other module from
naming consent and the care team together.
"""

import functools
import re
import time
import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from psycopg import sql

from actors.assurance import LOA3, level_of
from actors.models import Membership, Organisation, Role

from .models import (
    AccessLogEntry,
    CareTeamMember,
    Consent,
    EmergencyCategory,
    Patient,
    Relative,
)

EMERGENCY_REASON_MAX = 500
EMERGENCY_SESSION_KEY = "emergency_access"
# Roles that may read a plan in an emergency (see the module docstring).
EMERGENCY_ROLES = (Role.CLINICIAN, Role.COORDINATOR)
EMERGENCY_LEVEL = LOA3
# A reason is at least a sentence: this many characters and different words of letters,
# so that "." or "x" or "akut akut akut akut" is not one.
EMERGENCY_REASON_MIN_CHARS = 20
EMERGENCY_REASON_MIN_WORDS = 3
_WORD = re.compile(r"[^\W\d_]{2,}")


# --- the assurance level of the login behind this request --------------------------------

_login_level: ContextVar = ContextVar("naravard_login_level", default=None)


class AssuranceLevelMiddleware:
    """Make the assurance level of the request's login (actors.assurance) known to
    every writer of the access log in this request, page, admin or listing alike,
    without passing the request down. Read lazily: a request that logs nothing does
    not load its session for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _login_level.set(functools.partial(level_of, request))
        try:
            return self.get_response(request)
        finally:
            _login_level.reset(token)


def login_level() -> int | None:
    """The assurance level of the login this code runs for, or None (no request: a job,
    an integration, a shell)."""
    source = _login_level.get()
    return source() if source is not None else None


@contextmanager
def logged_in_at(level: int | None):
    """Run the block as if for a login of `level` (commands and tests)."""
    token = _login_level.set(lambda: level)
    try:
        yield
    finally:
        _login_level.reset(token)


class NoAccess(Http404):
    """Raised for a patient the user may not see; deliberately a 404."""


@dataclass(frozen=True)
class Viewer:
    """How the current user relates to one patient."""

    kind: str  # "patient", "relative" or "staff"
    can_write: bool
    membership: Membership | None = None
    relative: Relative | None = None
    emergency: bool = False
    reason: str = ""
    reason_category: str | None = None

    @property
    def organisation(self):
        return self.membership.organisation if self.membership else None


def _can_log_in(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


# --- the rule, once ------------------------------------------------------------------------


def care_relationships():
    """The care relationships (vårdrelationer) that give an organisation access to a
    patient: rows of the patient's care team that are active and whose organisation has
    the patient's consent (samtycke, not withdrawn). Team row and consent must be for the
    same organisation: on A's team with consent only for B gives neither access.

    A (patient, organisation) pair comes once per team row (the organisation's own row
    and one per named staff member): ask whether one exists, do not count them."""
    consented = Consent.objects.filter(
        patient=OuterRef("patient"),
        organisation=OuterRef("organisation"),
        status=Consent.Status.GIVEN,
    )
    return CareTeamMember.objects.filter(Exists(consented), active=True)


def relatives_with_access():
    """Relatives and proxies (närstående, ombud) the patient lets read the plan, or read
    and write it."""
    return Relative.objects.exclude(access=Relative.Access.NONE)


@functools.cache
def care_relationships_sql() -> str:
    """care_relationships() as SQL, for hand-written statements: a SELECT of the rows'
    `patient_id` and `organisation_id`, to use as `(...) care` in an EXISTS or an IN."""
    return _compiled(care_relationships().values("patient_id", "organisation_id"))


@functools.cache
def relatives_with_access_sql() -> str:
    """relatives_with_access() as SQL: a SELECT of every column of patients_relative."""
    return _compiled(relatives_with_access())


def _compiled(queryset) -> str:
    """The queryset's SQL, compiled once on first use (the app registry must be ready),
    with its parameters written in as literals: they are constants of this module, never
    input. A literal % is doubled, as statements run with %(name)s parameters need."""
    text, params = queryset.query.sql_with_params()
    return (text % tuple(sql.Literal(value).as_string() for value in params)).replace("%", "%%")


# --- readers ---------------------------------------------------------------------------------


def staff_memberships_with_access(user, patient_id):
    """The user's active memberships whose organisation may see the patient."""
    if not _can_log_in(user):
        return Membership.objects.none()
    cared_for = care_relationships().filter(
        patient_id=patient_id, organisation=OuterRef("organisation")
    )
    return (
        Membership.objects.active()
        .filter(Exists(cared_for), user=user)
        .select_related("organisation")
        .order_by("id")
    )


def patients_visible_to(user):
    """Patients the user may open as staff without an emergency reason (worklists, search)."""
    if not _can_log_in(user):
        return Patient.objects.none()
    organisations = Membership.objects.active().filter(user=user).values("organisation")
    cared_for = care_relationships().filter(patient=OuterRef("pk"), organisation__in=organisations)
    return Patient.objects.filter(Exists(cared_for))


def patients_visible_to_organisation(organisation):
    """Patients one organisation may see (integrations): the same rule as for its staff."""
    cared_for = care_relationships().filter(patient=OuterRef("pk"), organisation=organisation)
    return Patient.objects.filter(Exists(cared_for))


def organisation_serves(patient_id: int, organisation) -> bool:
    """On the patient's active care team with consent: the rule every write checks too."""
    if organisation is None:
        return False
    return patients_visible_to_organisation(organisation).filter(pk=patient_id).exists()


def log_patients_listed(*, user, memberships, patient_ids, prefer_role=None):
    """One `search` row per patient a worklist or queue page showed, in one insert.

    A list with names and identity numbers is a read of patient data (PDL). Written
    before the page is rendered, so a listing that cannot be logged is not served. The
    row names the user's organisation that gives access to that patient, preferring
    a membership in `prefer_role` (the role the page is used in)."""
    patient_ids = list(dict.fromkeys(patient_ids))
    if not patient_ids:
        return []
    ranked = sorted(memberships, key=lambda m: (m.role != prefer_role, m.pk))
    rank = {membership.pk: index for index, membership in enumerate(ranked)}
    by_org = {}
    for membership in ranked:
        by_org.setdefault(membership.organisation_id, membership)
    pairs = (
        care_relationships()
        .filter(patient_id__in=patient_ids, organisation_id__in=list(by_org))
        .values_list("patient_id", "organisation_id")
    )
    level = login_level()
    access = {}
    for patient_id, organisation_id in pairs:
        candidate = by_org[organisation_id]
        best = access.get(patient_id)
        if best is None or rank[candidate.pk] < rank[best.pk]:
            access[patient_id] = candidate
    rows = [
        AccessLogEntry(
            user=user,
            organisation_id=access[patient_id].organisation_id,
            role=access[patient_id].role,
            patient_id=patient_id,
            action=AccessLogEntry.Action.SEARCH,
            assurance_level=level,
        )
        for patient_id in patient_ids
        if patient_id in access
    ]
    return AccessLogEntry.objects.bulk_create(rows)


def care_team_with_consent(patient_id) -> tuple[list[CareTeamMember], dict[int, str]]:
    """The patient's whole care team (active or not, with organisations and named staff),
    and the consent status recorded for each organisation by its id. What an integration
    reads to see who takes part and who may; not the access rule (care_relationships)."""
    members = list(
        CareTeamMember.objects.filter(patient_id=patient_id).select_related("organisation", "staff")
    )
    consents = dict(
        Consent.objects.filter(patient_id=patient_id).values_list("organisation_id", "status")
    )
    return members, consents


def log_integration_reads(organisation, client_name: str, patient_ids) -> list[AccessLogEntry]:
    """One access-log row per patient an integration read, in one insert. Called before
    the answer is built, so a read that cannot be logged is not served."""
    rows = [
        AccessLogEntry(
            organisation=organisation,
            api_client=client_name[:100],
            patient_id=patient_id,
            action=AccessLogEntry.Action.API_READ,
        )
        for patient_id in dict.fromkeys(patient_ids)
    ]
    return AccessLogEntry.objects.bulk_create(rows)


def clean_emergency_reason(reason) -> str:
    """The reason as it is kept: invisible characters (zero-width spaces and other
    format characters) dropped and each run of whitespace made one space, so that
    padding cannot make a word or two look like a sentence."""
    text = "".join(ch for ch in (reason or "") if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())[:EMERGENCY_REASON_MAX]


@dataclass(frozen=True)
class EmergencyReason:
    """Why a staff member reads a plan in an emergency: a kind of emergency
    (EmergencyCategory) and their own words."""

    category: str
    text: str

    def problems(self) -> list:
        """What is wrong with the reason, as messages for the form; [] when it will do."""
        found = []
        if self.category not in EmergencyCategory.values:
            found.append(_("Choose what kind of emergency it is."))
        text = clean_emergency_reason(self.text)
        if (
            len(text) < EMERGENCY_REASON_MIN_CHARS
            # Different words: "akut akut akut akut" says no more than "akut".
            or len({word.casefold() for word in _WORD.findall(text)}) < EMERGENCY_REASON_MIN_WORDS
        ):
            found.append(
                _(
                    "Describe the situation in at least a sentence: what is happening and "
                    "why the plan is needed now."
                )
            )
        return found

    def __bool__(self) -> bool:
        return not self.problems()


def _start_of_today() -> datetime:
    # The Stockholm day (TIME_ZONE), whatever zone a request may have activated.
    zone = timezone.get_default_timezone()
    return datetime.combine(timezone.localdate(timezone=zone), clock(0), tzinfo=zone)


def emergency_patients_today(user) -> set[int]:
    """The patients `user` read with emergency access today (Stockholm day), from the log."""
    return set(
        AccessLogEntry.objects.filter(user=user, emergency=True, at__gte=_start_of_today())
        .values_list("patient_id", flat=True)
        .distinct()
    )


def emergency_limit_reached(user, patient_id) -> bool:
    """Whether opening `patient_id` would pass the daily limit; a patient already opened
    today with emergency access does not count again."""
    opened = emergency_patients_today(user)
    opened.discard(_as_int(patient_id))
    return len(opened) >= settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class EmergencyRefusal:
    """Why the emergency form is refused, whatever the patient id (so that it tells
    nothing about which ids exist)."""

    ROLE = "role"
    LEVEL = "level"
    LIMIT = "limit"


def emergency_membership(user, memberships=None):
    """The user's first active membership in a role that may use emergency access."""
    if memberships is not None:
        return next((m for m in memberships if m.role in EMERGENCY_ROLES), None)
    return _first_active_membership(user, roles=EMERGENCY_ROLES)


def emergency_refusal(user, level, patient_id) -> str | None:
    """The rule for emergency access before any patient is looked at: the role, the
    login's assurance level and the daily limit. None when the user may state a reason."""
    if not _can_log_in(user) or emergency_membership(user) is None:
        return EmergencyRefusal.ROLE
    if (level or 0) < EMERGENCY_LEVEL:
        return EmergencyRefusal.LEVEL
    if emergency_limit_reached(user, patient_id):
        return EmergencyRefusal.LIMIT
    return None


def viewer_for(
    user, patient: Patient, *, emergency_reason: EmergencyReason | None = None
) -> Viewer:
    """How `user` may see `patient`, or NoAccess. Writes nothing; see get_patient_for."""
    if not _can_log_in(user):
        raise NoAccess
    return _viewer(
        user,
        patient,
        emergency_reason,
        relative=lambda: _relative_with_access(user, patient),
        staff_membership=lambda: staff_memberships_with_access(user, patient.pk).first(),
        any_membership=lambda: emergency_membership(user),
    )


def viewer_or_denied(user, patient: Patient) -> Viewer:
    """viewer_for for pages that log no read (a relative's view of the plan): a staff
    member refused the patient still gets the `denied` row, as through get_patient_for."""
    try:
        return viewer_for(user, patient)
    except NoAccess:
        if _can_log_in(user):
            log_denied(user, patient.pk, _first_active_membership(user))
        raise


def _viewer(user, patient, emergency_reason, *, relative, staff_membership, any_membership):
    """The rule in the module docstring, in its order. Each lookup is a function, called
    only when the rule gets that far (get_patient_for has most answers at hand)."""
    if patient.user_id == user.pk:
        return Viewer(kind="patient", can_write=True)
    found = relative()
    if found:
        return Viewer(
            kind="relative", can_write=found.access == Relative.Access.WRITE, relative=found
        )
    membership = staff_membership()
    if membership:
        return Viewer(kind="staff", can_write=True, membership=membership)
    if emergency_reason:
        # Emergency access (nödåtkomst): a clinician or coordinator may read the plan for
        # a stated reason, even past a spärr, as PDL allows when the patient cannot
        # consent; logged in with e-legitimation and within the day's limit. It is
        # read-only, flagged in the log for review, and the patient is told.
        membership = any_membership()
        if (
            membership
            and (login_level() or 0) >= EMERGENCY_LEVEL
            and not emergency_limit_reached(user, patient.pk)
        ):
            return Viewer(
                kind="staff",
                can_write=False,
                membership=membership,
                emergency=True,
                reason=clean_emergency_reason(emergency_reason.text),
                reason_category=emergency_reason.category,
            )
    raise NoAccess


def _relative_with_access(user, patient):
    return relatives_with_access().filter(patient=patient, user=user).first()


def _first_active_membership(user, roles=None):
    memberships = Membership.objects.active().filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return memberships.select_related("organisation").order_by("id").first()


def log_access(viewer: Viewer, user, patient: Patient, action: str):
    """Write the access-log row for a staff read. Patients and relatives are not logged:
    the log is about care staff reading health data (PDL). An emergency read also tells
    the patient (at most once per reader and day)."""
    if viewer.kind != "staff":
        return None
    entry = AccessLogEntry.objects.create(
        user=user,
        organisation=viewer.organisation,
        role=viewer.membership.role if viewer.membership else "",
        patient=patient,
        action=action,
        emergency=viewer.emergency,
        # A reason is kept only for emergency reads; ordinary reads need none.
        reason=viewer.reason if viewer.emergency else "",
        reason_category=viewer.reason_category if viewer.emergency else None,
        assurance_level=login_level(),
    )
    if viewer.emergency:
        from reminders.notify import emergency_access_read  # reminders imports contracts

        emergency_access_read(entry, patient)
    return entry


def log_denied(user, patient_id, membership) -> AccessLogEntry | None:
    """A staff member was refused a patient who exists: a `denied` row in the patient's
    log, naming the organisation they asked from. Nothing for someone with no active
    membership (another patient, a relative): the log is about staff."""
    if membership is None:
        return None
    return AccessLogEntry.objects.create(
        user=user,
        organisation=membership.organisation,
        role=membership.role,
        patient_id=patient_id,
        action=AccessLogEntry.Action.DENIED,
        assurance_level=login_level(),
    )


def patient_for_organisation(organisation, client_name: str, patient_id):
    """The patient, if the integration's organisation may see them, else None (a 404);
    a refused patient who exists gets a `denied` row. The caller logs the read."""
    return for_organisation(organisation, client_name, Patient.objects.all(), patient_id, "")


def for_organisation(organisation, client_name: str, queryset, pk, patient: str):
    """The row `pk` of `queryset` (a plan, a commitment, a goal ...) if the integration's
    organisation may see its patient, else None (a 404). `patient` is the path from the
    row to its patient ("contract__patient"; "" for a patient).

    The one door of every integration read by id (REST and FHIR): a row that exists but
    whose patient the organisation may not see writes one `denied` row in that patient's
    log; a missing id writes nothing. The caller logs the read itself."""
    pk = _as_int(pk)
    if pk is None:
        return None
    to_patient = f"{patient}__pk" if patient else "pk"
    visible = patients_visible_to_organisation(organisation)
    found = queryset.filter(pk=pk, **{f"{to_patient}__in": visible}).first()
    if found is None:
        owner = queryset.model._base_manager.filter(pk=pk).values_list(to_patient, flat=True)
        log_integration_denied(organisation, client_name, owner.first())
    return found


def log_integration_denied(organisation, client_name: str, patient_id) -> AccessLogEntry | None:
    """An integration was refused a patient who exists: a `denied` row the patient sees.
    Nothing when `patient_id` is None (the id it asked for does not exist).

    A single INSERT in autocommit: no door may run it inside a transaction that its 404
    rolls back (settings keep ATOMIC_REQUESTS off; tests/test_denied_reads.py)."""
    if patient_id is None:
        return None
    return AccessLogEntry.objects.create(
        organisation=organisation,
        api_client=client_name[:100],
        patient_id=patient_id,
        action=AccessLogEntry.Action.DENIED,
    )


@functools.cache
def _patient_with_access_sql() -> str:
    """The patient, and the parts of the rule that need a query, for get_patient_for:
    whether the user is a relative with access (as _relative_with_access) and the first of
    the user's active memberships whose organisation has a care relationship with the
    patient (as staff_memberships_with_access). One plain query: built through the ORM,
    compiling it cost ten times as much as running it, on every page."""
    return f"""
SELECT p.*,
    EXISTS (
        SELECT 1 FROM ({relatives_with_access_sql()}) r
        WHERE r.patient_id = p.id AND r.user_id = %(user)s
    ) AS may_be_relative,
    (SELECT m.id FROM actors_membership m
     WHERE m.user_id = %(user)s AND m.active
        AND EXISTS (
            SELECT 1 FROM ({care_relationships_sql()}) care
            WHERE care.patient_id = p.id AND care.organisation_id = m.organisation_id)
     ORDER BY m.id LIMIT 1) AS membership_id
FROM patients_patient p
WHERE p.id = %(patient)s
"""  # noqa: S608 - the rule's compiled constants; values are parameters


def get_patient_for(
    user,
    patient_id,
    *,
    action: str = AccessLogEntry.Action.VIEW_PLAN,
    emergency_reason: EmergencyReason | None = None,
    memberships=None,
) -> tuple[Patient, Viewer]:
    """The patient and how the user sees them, with the access-log row written.

    Raises 404 when the patient does not exist or the user may not see them; a staff
    member refused a patient who exists gets a `denied` row (one more query, two
    without `memberships`). If the log row cannot be written the exception propagates
    and nothing is shown.

    A caller that has the user's active memberships anyway (in id order, with their
    organisations) passes them, so the staff member's is not fetched again. No
    transaction: the reads need none, and the log row is a single INSERT, committed by
    itself before the caller builds the page. A staff read is then two round trips."""
    if not _can_log_in(user):
        raise NoAccess
    try:
        params = {"patient": int(patient_id), "user": user.pk}
    except (ValueError, TypeError) as exc:
        raise NoAccess from exc
    patient = next(iter(Patient.objects.raw(_patient_with_access_sql(), params)), None)
    if patient is None:
        raise NoAccess

    def staff_membership():
        if patient.membership_id is None:
            return None
        if memberships is None:
            return (
                Membership.objects.select_related("organisation")
                .filter(pk=patient.membership_id)
                .first()
            )
        return next((m for m in memberships if m.pk == patient.membership_id), None)

    try:
        with _one_emergency_read_at_a_time(user, emergency_reason):
            viewer = _viewer(
                user,
                patient,
                emergency_reason,
                relative=lambda: patient.may_be_relative and _relative_with_access(user, patient),
                staff_membership=staff_membership,
                any_membership=lambda: emergency_membership(user, memberships),
            )
            log_access(viewer, user, patient, action)
    except NoAccess:
        if memberships is not None:
            first = memberships[0] if memberships else None
        else:
            first = _first_active_membership(user)
        log_denied(user, patient.pk, first)
        raise
    return patient, viewer


@contextmanager
def _one_emergency_read_at_a_time(user, emergency_reason):
    """With an emergency reason, the daily limit is checked and the read logged while the
    reader's row is locked: two reads sent at once (other tabs, a script) are counted
    one after the other, so together they cannot pass the limit. Without one, nothing."""
    if not emergency_reason:
        yield
        return
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        yield


def patients_readable_by(user):
    """Patients whose own pages (access log) the user may see: their own, and those
    who gave them read or write access as a relative."""
    if not _can_log_in(user):
        return Patient.objects.none()
    as_relative = relatives_with_access().filter(patient=OuterRef("pk"), user=user)
    return Patient.objects.filter(Q(Exists(as_relative)) | Q(user=user))


# --- emergency access in the session --------------------------------------------------


def grant_emergency_access(request, patient_id, reason: EmergencyReason) -> None:
    """Remember the stated reason for this patient in the session, for a limited time.

    Only the reason is kept; every read made with it is checked and logged by
    get_patient_for."""
    grants = request.session.get(EMERGENCY_SESSION_KEY, {})
    until = time.time() + settings.NARAVARD_EMERGENCY_ACCESS_SECONDS
    grants[str(patient_id)] = {
        "category": reason.category,
        "reason": clean_emergency_reason(reason.text),
        "until": until,
    }
    request.session[EMERGENCY_SESSION_KEY] = _unexpired(grants)


def emergency_reason_for(request, patient_id) -> EmergencyReason | None:
    """The emergency reason this session stated for the patient, or None (none or
    expired). The staff plan view passes it on: get_patient_for(..., emergency_reason=...)."""
    grant = request.session.get(EMERGENCY_SESSION_KEY, {}).get(str(patient_id))
    if not grant or grant.get("until", 0) < time.time():
        return None
    return EmergencyReason(grant.get("category", ""), grant.get("reason", ""))


def _unexpired(grants: dict) -> dict:
    now = time.time()
    return {key: grant for key, grant in grants.items() if grant.get("until", 0) >= now}


EMERGENCY_REASON_REQUIRED = _("State why you need emergency access to this patient's plan.")


def emergency_reads_reviewable_by(user):
    """Emergency reads the user reviews as an organisation administrator: those by staff
    of their organisations (and of the units under a region or municipality they
    administer), and those of patients whose fixed care contact (fast vårdkontakt)
    belongs to one of them: an organisation without an administrator of its own leaves
    no emergency read unreviewed."""
    from contracts.models import FixedCareContact  # contracts imports this module

    if not _can_log_in(user):
        return AccessLogEntry.objects.none()
    administered = Organisation.objects.administered_by(user)
    contacts = FixedCareContact.objects.filter(
        contract__patient=OuterRef("patient"), ended_on__isnull=True
    )
    ours = Q(organisation__in=administered)
    own_contact = contacts.filter(ours)
    # Nobody else would review the read (no administrator of the reader's organisation
    # or its principal but the reader, and no fixed care contact, whose organisation
    # also gets the overdue task): the organisations whose care relationship with the
    # patient stands review it, so that a unit without an administrator leaves no
    # emergency read unreviewed.
    reader_admins = (
        Membership.objects.active()
        .filter(role=Role.ORG_ADMIN)
        .filter(
            Q(organisation=OuterRef("organisation"))
            | Q(organisation=OuterRef("organisation__principal"))
        )
        .exclude(user=OuterRef("user"))
    )
    own_care_team = care_relationships().filter(ours, patient=OuterRef("patient"))
    return AccessLogEntry.objects.filter(emergency=True).filter(
        ours
        | Q(Exists(own_contact))
        | (~Q(Exists(contacts)) & ~Q(Exists(reader_admins)) & Q(Exists(own_care_team)))
    )


def emergency_read_day(at) -> tuple[datetime, datetime]:
    """The Stockholm day (start, end) an emergency read at `at` belongs to: one review
    covers a reader's emergency reads of one patient on one day (opening the plan, then
    its history), as the patient's notice does."""
    zone = timezone.get_default_timezone()
    start = datetime.combine(timezone.localdate(at, timezone=zone), clock(0), tzinfo=zone)
    return start, start + timedelta(days=1)


def emergency_read_group(reads, entry):
    """The reads among `reads` one review covers with `entry`: the same reader's emergency
    reads of the same patient on the same day (emergency_read_day)."""
    start, end = emergency_read_day(entry.at)
    return reads.filter(
        emergency=True,
        user_id=entry.user_id,
        patient_id=entry.patient_id,
        at__gte=start,
        at__lt=end,
    )


ADMIN_ROLE = "admin"


def log_admin_read(user, patient: Patient, what: str) -> AccessLogEntry:
    """An operator opened a patient's record in the admin: logged like any staff read.

    The admin has no care relationship to check, so every such read is written with
    the admin role and what was opened, for the patient and for review."""
    return AccessLogEntry.objects.create(
        user=user,
        organisation=None,
        role=ADMIN_ROLE,
        patient=patient,
        action=AccessLogEntry.Action.VIEW_PLAN,
        reason=what,
        assurance_level=login_level(),
    )


def log_admin_listed(user, patient_ids, what: str) -> list[AccessLogEntry]:
    """An operator's admin list or search showed these patients (names, identity
    numbers): one `search` row each, in one insert, before the page is rendered."""
    level = login_level()
    rows = [
        AccessLogEntry(
            user=user,
            organisation=None,
            role=ADMIN_ROLE,
            patient_id=patient_id,
            action=AccessLogEntry.Action.SEARCH,
            reason=what,
            assurance_level=level,
        )
        for patient_id in dict.fromkeys(patient_ids)
    ]
    return AccessLogEntry.objects.bulk_create(rows)
