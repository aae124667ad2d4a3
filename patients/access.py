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
- any other staff member may read (never write) after stating an emergency reason
  (nödåtkomst); that read is logged with emergency=True for review;
- nobody else, not even a superuser: the admin is not a way to read plans.

The care relationship and the relatives' access are defined once each, as querysets
(`care_relationships`, `relatives_with_access`). Readers that go through the ORM filter
them; the hand-written statements of the hot reads (the plan page's access query here,
the API's contract read and change feed, the reminder sweeps, the bench floor) embed
the SQL compiled from those same querysets (`care_relationships_sql`,
`relatives_with_access_sql`). tests/test_architecture.py keeps any other module from
naming consent and the care team together.
"""

import functools
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from psycopg import sql

from actors.models import Membership

from .models import AccessLogEntry, CareTeamMember, Consent, Patient, Relative

EMERGENCY_REASON_MAX = 500
EMERGENCY_SESSION_KEY = "emergency_access"


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
    return (reason or "").strip()[:EMERGENCY_REASON_MAX]


def viewer_for(user, patient: Patient, *, emergency_reason: str = "") -> Viewer:
    """How `user` may see `patient`, or NoAccess. Writes nothing; see get_patient_for."""
    if not _can_log_in(user):
        raise NoAccess
    return _viewer(
        user,
        patient,
        emergency_reason,
        relative=lambda: _relative_with_access(user, patient),
        staff_membership=lambda: staff_memberships_with_access(user, patient.pk).first(),
        any_membership=lambda: _first_active_membership(user),
    )


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
    reason = clean_emergency_reason(emergency_reason)
    if reason:
        # Emergency access (nödåtkomst): any active staff member may read the plan for a
        # stated reason, even past a spärr, as PDL allows when the patient cannot consent.
        # It is read-only and flagged in the log for review.
        membership = any_membership()
        if membership:
            return Viewer(
                kind="staff", can_write=False, membership=membership, emergency=True, reason=reason
            )
    raise NoAccess


def _relative_with_access(user, patient):
    return relatives_with_access().filter(patient=patient, user=user).first()


def _first_active_membership(user):
    return (
        Membership.objects.active()
        .filter(user=user)
        .select_related("organisation")
        .order_by("id")
        .first()
    )


def log_access(viewer: Viewer, user, patient: Patient, action: str, reason: str = ""):
    """Write the access-log row for a staff read. Patients and relatives are not logged:
    the log is about care staff reading health data (PDL)."""
    if viewer.kind != "staff":
        return None
    return AccessLogEntry.objects.create(
        user=user,
        organisation=viewer.organisation,
        role=viewer.membership.role if viewer.membership else "",
        patient=patient,
        action=action,
        emergency=viewer.emergency,
        # A reason is kept only for emergency reads; ordinary reads need none.
        reason=clean_emergency_reason(reason or viewer.reason) if viewer.emergency else "",
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
    emergency_reason: str = "",
    memberships=None,
) -> tuple[Patient, Viewer]:
    """The patient and how the user sees them, with the access-log row written.

    Raises 404 when the patient does not exist or the user may not see them. If the
    log row cannot be written the exception propagates and nothing is shown.

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

    def any_membership():
        if memberships is None:
            return _first_active_membership(user)
        return memberships[0] if memberships else None

    viewer = _viewer(
        user,
        patient,
        emergency_reason,
        relative=lambda: patient.may_be_relative and _relative_with_access(user, patient),
        staff_membership=staff_membership,
        any_membership=any_membership,
    )
    log_access(viewer, user, patient, action, emergency_reason)
    return patient, viewer


def patients_readable_by(user):
    """Patients whose own pages (access log) the user may see: their own, and those
    who gave them read or write access as a relative."""
    if not _can_log_in(user):
        return Patient.objects.none()
    as_relative = relatives_with_access().filter(patient=OuterRef("pk"), user=user)
    return Patient.objects.filter(Q(Exists(as_relative)) | Q(user=user))


# --- emergency access in the session --------------------------------------------------


def grant_emergency_access(request, patient_id, reason: str) -> None:
    """Remember the stated reason for this patient in the session, for a limited time.

    Only the reason is kept; every read made with it is logged by get_patient_for."""
    grants = request.session.get(EMERGENCY_SESSION_KEY, {})
    until = time.time() + settings.NARAVARD_EMERGENCY_ACCESS_SECONDS
    grants[str(patient_id)] = {"reason": clean_emergency_reason(reason), "until": until}
    request.session[EMERGENCY_SESSION_KEY] = _unexpired(grants)


def emergency_reason_for(request, patient_id) -> str:
    """The emergency reason this session stated for the patient, or "" (none or expired).

    The staff plan view passes it on: get_patient_for(..., emergency_reason=...)."""
    grant = request.session.get(EMERGENCY_SESSION_KEY, {}).get(str(patient_id))
    if not grant or grant.get("until", 0) < time.time():
        return ""
    return grant.get("reason", "")


def _unexpired(grants: dict) -> dict:
    now = time.time()
    return {key: grant for key, grant in grants.items() if grant.get("until", 0) >= now}


EMERGENCY_REASON_REQUIRED = _("State why you need emergency access to this patient's plan.")


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
    )
