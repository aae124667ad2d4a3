"""Who may see a patient's data, and the access log (PDL) written on every staff read.

One access function per protected object; every HTML view, API view and task uses
these, so the rule lives in one place. Missing and not-yours look the same: 404.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from actors.models import Membership

from .models import AccessLogEntry, CareTeamMember, Consent, Patient, Relative


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

    @property
    def organisation(self):
        return self.membership.organisation if self.membership else None


def staff_memberships_with_access(user, patient_id):
    """The user's active memberships whose organisation may see the patient."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return (
        Membership.objects.active()
        .filter(user=user)
        .filter(
            Exists(
                CareTeamMember.objects.filter(
                    patient_id=patient_id, organisation=OuterRef("organisation"), active=True
                )
            ),
            Exists(
                Consent.objects.filter(
                    patient_id=patient_id,
                    organisation=OuterRef("organisation"),
                    status=Consent.Status.GIVEN,
                )
            ),
        )
        .select_related("organisation")
        .order_by("id")
    )


def patients_visible_to(user):
    """Patients the user may open without an emergency reason (worklists, search)."""
    if not user.is_authenticated:
        return Patient.objects.none()
    org_ids = Membership.objects.active().filter(user=user).values("organisation")
    on_team = CareTeamMember.objects.filter(
        patient=OuterRef("pk"), organisation__in=org_ids, active=True
    ).values("organisation")
    consented = Consent.objects.filter(
        patient=OuterRef("pk"),
        organisation__in=on_team,
        status=Consent.Status.GIVEN,
    )
    return Patient.objects.filter(Exists(consented))


def viewer_for(user, patient: Patient, *, emergency_reason: str = "") -> Viewer:
    """How `user` may see `patient`, or NoAccess."""
    if not user.is_authenticated:
        raise NoAccess
    if patient.user_id == user.id:
        return Viewer(kind="patient", can_write=True)
    relative = (
        Relative.objects.filter(patient=patient, user=user)
        .exclude(access=Relative.Access.NONE)
        .first()
    )
    if relative:
        return Viewer(
            kind="relative", can_write=relative.access == Relative.Access.WRITE, relative=relative
        )
    membership = staff_memberships_with_access(user, patient.pk).first()
    if membership:
        return Viewer(kind="staff", can_write=True, membership=membership)
    reason = (emergency_reason or "").strip()
    if reason:
        # Emergency access (nödåtkomst): any active staff member may open the plan
        # for a stated reason; the read is flagged in the log for review.
        membership = (
            Membership.objects.active()
            .filter(user=user)
            .select_related("organisation")
            .order_by("id")
            .first()
        )
        if membership:
            return Viewer(kind="staff", can_write=False, membership=membership, emergency=True)
    raise NoAccess


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
        reason=reason.strip(),
    )


@transaction.atomic
def get_patient_for(
    user,
    patient_id,
    *,
    action: str = AccessLogEntry.Action.VIEW_PLAN,
    emergency_reason: str = "",
) -> tuple[Patient, Viewer]:
    """The patient and how the user sees them, with the access-log row written.

    Raises 404 when the patient does not exist or the user may not see them. If the
    log row cannot be written the exception propagates and nothing is shown."""
    try:
        patient = Patient.objects.get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError) as exc:
        raise NoAccess from exc
    viewer = viewer_for(user, patient, emergency_reason=emergency_reason)
    log_access(viewer, user, patient, action, emergency_reason)
    return patient, viewer


EMERGENCY_REASON_REQUIRED = _("State why you need emergency access to this patient's plan.")
