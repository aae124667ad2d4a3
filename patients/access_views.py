"""The patient's own control over access: who has read my plan, consent, relatives;
and emergency access (nödåtkomst) for staff, with its review list for org admins.

Thin views: the rule is in patients.access, every write in patients.services."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, Exists, Max, OuterRef, Q, Value, When
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from actors.assurance import LOA2, LOA3, level_of
from actors.models import Membership, Role
from contracts.history import Actor

from . import services
from .access import (
    ADMIN_ROLE,
    EMERGENCY_REASON_MAX,
    EMERGENCY_REASON_REQUIRED,
    EmergencyReason,
    EmergencyRefusal,
    NoAccess,
    emergency_read_day,
    emergency_read_group,
    emergency_reads_reviewable_by,
    emergency_refusal,
    grant_emergency_access,
    patients_readable_by,
    viewer_for,
)
from .models import (
    AccessLogEntry,
    CareTeamMember,
    Consent,
    EmergencyCategory,
    EmergencyReview,
    Patient,
    Relative,
)

LOG_PER_PAGE = 25
ROLE_LABELS = {**dict(Role.choices), ADMIN_ROLE: gettext_lazy("Administrator")}


def login_label(level) -> str:
    """How the reader logged in, in plain words, from the row's assurance level."""
    if level is None:
        return ""
    if level >= LOA3:
        return gettext_lazy("Logged in with e-legitimation")
    if level == LOA2:
        return gettext_lazy("Logged in with a password and a code")
    return gettext_lazy("Logged in with a simpler login (password or e-mailed code)")


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
        row.login_label = login_label(row.assurance_level)
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
    category = forms.ChoiceField(
        label=gettext_lazy("What kind of emergency is it?"),
        choices=EmergencyCategory.choices,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose what kind of emergency it is.")},
    )
    reason = forms.CharField(
        label=gettext_lazy("Why do you need to read this plan now?"),
        help_text=gettext_lazy(
            "Write at least a sentence. Emergency access is logged, shown to the patient, "
            "who is also told by text message or e-mail, and reviewed. You can read the plan "
            "for one hour but not change it."
        ),
        max_length=EMERGENCY_REASON_MAX,
        error_messages={"required": EMERGENCY_REASON_REQUIRED},
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        cleaned = super().clean()
        if "category" in cleaned and "reason" in cleaned:
            reason = EmergencyReason(cleaned["category"], cleaned["reason"])
            for problem in reason.problems():
                self.add_error("reason", problem)
            cleaned["emergency_reason"] = reason
        return cleaned


def staff_plan_url(patient_id) -> str:
    try:
        return reverse("contracts:staff_plan", args=[patient_id])
    except NoReverseMatch:
        # Until the plan pages are wired in.
        return f"/patients/{patient_id}/plan/"


def step_up_url(request) -> str:
    """Log in again with e-legitimation (actors' OIDC login), then back to this form."""
    try:
        start = reverse("actors:oidc_start", args=["staff"])
    except NoReverseMatch:
        return ""
    return f"{start}?{urlencode({'next': request.get_full_path()})}"


@login_required
@require_http_methods(["GET", "POST"])
def emergency(request, patient_id):
    """State a kind of emergency and a reason, then read the plan. The page is the same
    for every id, existing or not, until a valid reason is given (patients.access has the
    rule); it shows no patient data: reading starts on the plan page, where
    get_patient_for checks the reason again and writes the flagged log row."""
    if not Membership.objects.active().filter(user=request.user).exists():
        raise NoAccess
    refusal = emergency_refusal(request.user, level_of(request), patient_id)
    form = EmergencyForm(request.POST or None) if refusal is None else None
    if form is not None and request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["emergency_reason"]
        patient = Patient.objects.filter(pk=patient_id).only("pk", "user_id").first()
        if patient is None:
            # The same answer as for a patient who exists: whether one does shows only
            # on the plan page, whose read of an existing patient is logged, counted
            # against the daily limit, told to the patient and reviewed.
            return redirect(staff_plan_url(patient_id))
        viewer = viewer_for(request.user, patient, emergency_reason=reason)
        if viewer.emergency:
            grant_emergency_access(request, patient.pk, reason)
        return redirect(staff_plan_url(patient.pk))
    status = 200 if request.method == "GET" else 400
    if refusal is not None:
        status = 403
    context = {
        "form": form,
        "refusal": refusal,
        "step_up_url": step_up_url(request) if refusal == EmergencyRefusal.LEVEL else "",
        "daily_limit": settings.NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT,
    }
    return render(request, "patients/access/emergency.html", context, status=status)


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(
        label=gettext_lazy("Was the emergency read justified?"),
        choices=EmergencyReview.Verdict.choices,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        help_text=gettext_lazy("Needed when the read was not justified."),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _admin_membership(user):
    membership = (
        Membership.objects.active()
        .filter(user=user, role=Role.ORG_ADMIN)
        .select_related("organisation")
        .order_by("id")
        .first()
    )
    if membership is None:
        raise PermissionDenied
    return membership


@dataclass
class EmergencyReadGroup:
    """One row of the review queue: a reader's emergency reads of one patient on one day
    (patients.access.emergency_read_group), reviewed together."""

    entries: list
    form: "ReviewForm | None" = None

    @property
    def first(self):
        return self.entries[0]

    @property
    def waiting(self) -> list:
        return [entry for entry in self.entries if not entry.reviewed]

    @property
    def reviews(self) -> list:
        """The reviews given, once each (a review of several reads is a row per read)."""
        seen, found = set(), []
        for entry in self.entries:
            review = entry.review if entry.reviewed else None
            key = review and (review.reviewer_id, review.verdict, review.comment)
            if review and key not in seen:
                seen.add(key)
                found.append(review)
        return found

    @property
    def reasons(self) -> list:
        """The reasons stated, once each, with the kind of emergency."""
        seen, found = set(), []
        for entry in self.entries:
            key = (entry.reason_category, entry.reason)
            if key not in seen:
                seen.add(key)
                found.append(entry)
        return found


@login_required
def emergency_reads(request):
    """Emergency reads to review, for administrators of the reader's organisation and of
    the organisation of the patient's fixed care contact; unreviewed first. One row per
    reader, patient and day: opening the plan and then its history is one review."""
    _admin_membership(request.user)
    reads = emergency_reads_reviewable_by(request.user).annotate(
        reviewed=Exists(EmergencyReview.objects.filter(entry=OuterRef("pk")))
    )
    zone = timezone.get_default_timezone()
    groups = (
        reads.annotate(day=TruncDate("at", tzinfo=zone))
        .values("user_id", "patient_id", "day")
        .annotate(last=Max("at"), waiting=Count("pk", filter=Q(reviewed=False)))
        .order_by(Case(When(waiting__gt=0, then=Value(0)), default=Value(1)), "-last")
    )
    page = Paginator(groups, LOG_PER_PAGE).get_page(_page_number(request))
    page.object_list = _load_groups(reads, list(page.object_list))
    return render(request, "patients/access/emergency_reads.html", {"page": page})


def _load_groups(reads, keys) -> list[EmergencyReadGroup]:
    """The reads of the page's groups, in one query, as EmergencyReadGroup rows."""
    if not keys:
        return []
    match = Q()
    for key in keys:
        start, end = emergency_read_day(key["last"])
        match |= Q(user_id=key["user_id"], patient_id=key["patient_id"], at__gte=start, at__lt=end)
    entries = {}
    rows = reads.filter(match).select_related("user", "organisation", "patient", "review__reviewer")
    for entry in rows.order_by("at", "pk"):
        entry.role_label = ROLE_LABELS.get(entry.role, entry.role)
        day = emergency_read_day(entry.at)[0]
        entries.setdefault((entry.user_id, entry.patient_id, day), []).append(entry)
    groups = []
    for key in keys:
        day = emergency_read_day(key["last"])[0]
        group = EmergencyReadGroup(entries.get((key["user_id"], key["patient_id"], day), []))
        if not group.entries:
            continue
        if group.waiting:
            group.form = ReviewForm(prefix=f"r{group.waiting[0].pk}")
        groups.append(group)
    return groups


@login_required
@require_POST
def emergency_review(request, entry_id):
    """Give a verdict on one row of the list: the emergency read and the others of its
    group (the same reader, patient and day) not reviewed yet."""
    membership = _admin_membership(request.user)
    reviewable = emergency_reads_reviewable_by(request.user)
    entry = get_object_or_404(reviewable.select_related("patient"), pk=entry_id)
    form = ReviewForm(request.POST, prefix=f"r{entry.pk}")
    if not form.is_valid():
        messages.error(request, _("Choose whether the emergency read was justified."))
        return redirect("access:emergency_reads")
    unreviewed = ~Exists(EmergencyReview.objects.filter(entry=OuterRef("pk")))
    entries = list(emergency_read_group(reviewable, entry).filter(unreviewed).order_by("at"))
    if entry not in entries:
        entries = [entry]  # already reviewed: the service says so
    try:
        services.review_emergency_reads(
            reviewer=request.user,
            organisation=membership.organisation,
            entries=entries,
            verdict=form.cleaned_data["verdict"],
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Your review is saved."))
    return redirect("access:emergency_reads")
