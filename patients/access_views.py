"""The patient's own control over access: who has read my plan, consent, relatives;
and emergency access (nödåtkomst) for staff, with its review list for org admins.

Thin views: the rule is in patients.access, every write in patients.services."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from actors.models import Membership, Role
from contracts.history import Actor

from . import services
from .access import (
    ADMIN_ROLE,
    EMERGENCY_REASON_MAX,
    EMERGENCY_REASON_REQUIRED,
    NoAccess,
    grant_emergency_access,
    patients_readable_by,
    viewer_for,
)
from .models import AccessLogEntry, CareTeamMember, Consent, Patient, Relative

LOG_PER_PAGE = 25
ROLE_LABELS = {**dict(Role.choices), ADMIN_ROLE: gettext_lazy("Administrator")}


def _own_patient(user) -> Patient:
    """The patient record of the logged-in person; only they manage consent and relatives."""
    patient = Patient.objects.filter(user=user).first()
    if patient is None:
        raise NoAccess
    return patient


def _page_number(request) -> int:
    try:
        return max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return 1


# --- who has read my plan ----------------------------------------------------------


@login_required
def access_log(request):
    """Who has read my plan: the patient's own rows, also for relatives with access."""
    readable = patients_readable_by(request.user)
    wanted = request.GET.get("patient")
    if wanted:
        if not wanted.isdigit():
            raise NoAccess
        patient = readable.filter(pk=wanted).first()
    else:
        # The patient's own log first; a relative gets the person who gave them access.
        patient = readable.filter(user=request.user).first() or readable.order_by("pk").first()
    if patient is None:
        raise NoAccess
    rows = (
        AccessLogEntry.objects.filter(patient=patient)
        .select_related("user", "organisation")
        .order_by("-at", "-pk")
    )
    page = Paginator(rows, LOG_PER_PAGE).get_page(_page_number(request))
    for row in page:
        row.role_label = ROLE_LABELS.get(row.role, row.role)
    return render(
        request,
        "patients/access/access_log.html",
        {
            "patient": patient,
            "page": page,
            "is_own": patient.user_id == request.user.pk,
            "query": f"patient={patient.pk}" if wanted else "",
        },
    )


# --- consent (samtycke) per organisation -----------------------------------------------


def _consent_rows(patient):
    """One row per organisation on the team or with a consent on record."""
    consents = {
        c.organisation_id: c
        for c in Consent.objects.filter(patient=patient).select_related("organisation")
    }
    on_team = {
        m.organisation_id: m.organisation
        for m in CareTeamMember.objects.filter(patient=patient, active=True).select_related(
            "organisation"
        )
    }
    organisations = {**{oid: c.organisation for oid, c in consents.items()}, **on_team}
    rows = [
        {
            "organisation": org,
            "consent": consents.get(oid),
            "on_team": oid in on_team,
            "given": oid in consents and consents[oid].status == Consent.Status.GIVEN,
        }
        for oid, org in organisations.items()
    ]
    return sorted(rows, key=lambda row: row["organisation"].name)


@login_required
def consent(request):
    patient = _own_patient(request.user)
    return render(
        request,
        "patients/access/consent.html",
        {"patient": patient, "rows": _consent_rows(patient)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def consent_change(request, organisation_id, change):
    """Withdraw (spärr) or give consent for one organisation, after a confirmation."""
    patient = _own_patient(request.user)
    row = next((r for r in _consent_rows(patient) if r["organisation"].pk == organisation_id), None)
    if row is None or change not in ("withdraw", "give"):
        raise NoAccess
    organisation = row["organisation"]
    if request.method == "POST":
        actor = Actor.patient(request.user)
        try:
            if change == "withdraw":
                services.withdraw_consent(actor=actor, patient=patient, organisation=organisation)
                messages.success(
                    request,
                    _("%(organisation)s can no longer see your plan.")
                    % {"organisation": organisation.name},
                )
            else:
                services.give_consent(actor=actor, patient=patient, organisation=organisation)
                messages.success(
                    request,
                    _("%(organisation)s can see your plan again.")
                    % {"organisation": organisation.name},
                )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("access:consent")
    return render(
        request,
        "patients/access/consent_confirm.html",
        {"patient": patient, "organisation": organisation, "change": change, "row": row},
    )


# --- relatives and what they may do ----------------------------------------------------


class RelativeAccessForm(forms.Form):
    access = forms.ChoiceField(
        label=gettext_lazy("What may this person do?"),
        choices=Relative.Access.choices,
        widget=forms.RadioSelect,
    )


@login_required
def relatives(request):
    patient = _own_patient(request.user)
    people = [
        (relative, RelativeAccessForm(initial={"access": relative.access}, prefix=relative.pk))
        for relative in patient.relatives.order_by("name", "pk")
    ]
    return render(request, "patients/access/relatives.html", {"patient": patient, "people": people})


@login_required
@require_POST
def relative_access(request, relative_id):
    patient = _own_patient(request.user)
    relative = get_object_or_404(Relative, pk=relative_id, patient=patient)
    form = RelativeAccessForm(request.POST, prefix=relative.pk)
    if form.is_valid():
        services.set_relative_access(
            actor=Actor.patient(request.user), relative=relative, access=form.cleaned_data["access"]
        )
        messages.success(
            request,
            _("Saved: %(name)s – %(access)s.")
            % {"name": relative.name, "access": relative.get_access_display()},
        )
    else:
        messages.error(request, _("Choose what this person may do."))
    return redirect("access:relatives")


# --- emergency access (nödåtkomst) ------------------------------------------------------


class EmergencyForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why do you need to read this plan now?"),
        help_text=gettext_lazy(
            "Emergency access is logged, shown to the patient and reviewed. "
            "You can read the plan for one hour but not change it."
        ),
        max_length=EMERGENCY_REASON_MAX,
        error_messages={"required": EMERGENCY_REASON_REQUIRED},
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def staff_plan_url(patient_id) -> str:
    try:
        return reverse("contracts:staff_plan", args=[patient_id])
    except NoReverseMatch:
        # Until the plan pages are wired in.
        return f"/patients/{patient_id}/plan/"


@login_required
@require_http_methods(["GET", "POST"])
def emergency(request, patient_id):
    """State a reason, then read the plan. The form shows no patient data: reading
    starts on the plan page, where get_patient_for writes the flagged log row."""
    if not Membership.objects.active().filter(user=request.user).exists():
        raise NoAccess
    patient = get_object_or_404(Patient.objects.only("pk"), pk=patient_id)
    form = EmergencyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        viewer = viewer_for(request.user, patient, emergency_reason=form.cleaned_data["reason"])
        if viewer.emergency:
            grant_emergency_access(request, patient.pk, form.cleaned_data["reason"])
        return redirect(staff_plan_url(patient.pk))
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "patients/access/emergency.html",
        {"form": form, "patient_id": patient.pk},
        status=status,
    )


@login_required
def emergency_reads(request):
    """Emergency reads by staff of the organisations this person administers, for review."""
    admin_orgs = Membership.objects.active().filter(user=request.user, role=Role.ORG_ADMIN)
    org_ids = admin_orgs.values("organisation")
    if not admin_orgs.exists():
        raise PermissionDenied
    rows = (
        AccessLogEntry.objects.filter(emergency=True)
        # A region's or municipality's admin also reviews the units under it.
        .filter(Q(organisation__in=org_ids) | Q(organisation__principal__in=org_ids))
        .select_related("user", "organisation", "patient")
        .order_by("-at", "-pk")
    )
    page = Paginator(rows, LOG_PER_PAGE).get_page(_page_number(request))
    for row in page:
        row.role_label = ROLE_LABELS.get(row.role, row.role)
    return render(request, "patients/access/emergency_reads.html", {"page": page})
