"""The coordinators' pages (queues, discharges, follow-up figures) and the patient's survey.

Views parse, call one read helper (`queues`, `figures`) or one service, and render.
Every control is a plain form first; with htmx a row is swapped in place.

Is listing a patient in a queue a read for the access log? Yes. A queue row shows
who the patient is (name, identity number) together with a fact from their care
(a plan without a contact, a late commitment, a hospital stay). That is patient
data under PDL, read by a staff member who chose to look, so every patient shown
gets one `search` row, written in one insert before the page is rendered. The
figures page shows only counts, so it logs nothing; opening a plan is logged by
the plan page itself.
"""

import functools
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from actors.models import Role
from contracts.history import Actor
from contracts.models import Contract, NextStep
from contracts.services import StaleVersion, assign_fixed_care_contact, care_contact_deciders
from patients.access import patients_visible_to, staff_memberships_with_access, viewer_for
from reminders import outbox

from . import figures, queues, services
from .forms import ContactForm, SipCallForm, SurveyForm, VersionForm
from .models import Admission, DischargeNotice, SurveyAnswer

# The queue pages in menu order: (queue name in queues.QUEUES, URL name, menu label).
PAGES = [
    ("care_contacts", "care_contacts", gettext_lazy("Without a fixed care contact")),
    ("next_steps", "next_steps", gettext_lazy("Overdue next steps")),
    ("outcomes", "outcomes", gettext_lazy("Next steps without an outcome")),
    ("commitments", "commitments", gettext_lazy("Overdue commitments")),
    ("reviews", "reviews", gettext_lazy("Reviews due")),
    ("discharges", "discharges", gettext_lazy("Discharge notices")),
    ("failed_reminders", "failed_reminders", gettext_lazy("Reminders not delivered")),
]


def coordinator_required(view):
    """Staff with an active coordinator membership; everyone else who is logged in gets 403."""

    @functools.wraps(view)
    @login_required
    @never_cache
    def wrapper(request, *args, **kwargs):
        memberships = queues.memberships_of(request.user)
        if not any(m.role == Role.COORDINATOR for m in memberships):
            raise PermissionDenied
        request.coordination_memberships = memberships
        return view(request, *args, **kwargs)

    return wrapper


def _scope(request) -> queues.Scope:
    source = request.POST if request.method == "POST" else request.GET
    return queues.make_scope(
        request.user,
        organisation_id=source.get("organisation"),
        principal_id=source.get("principal"),
        memberships=request.coordination_memberships,
    )


def _kept(scope: queues.Scope) -> str:
    """The filter as a query string, for links and the pager."""
    kept = {}
    if scope.organisation is not None:
        kept["organisation"] = scope.organisation.pk
    if scope.principal is not None:
        kept["principal"] = scope.principal.pk
    return urlencode(kept)


def _context(request, scope: queues.Scope, current: str, **extra) -> dict:
    counts = queues.counts(scope)
    if not _kept(scope):
        # The menu in the header shows the same unfiltered counts; don't count twice.
        request.coordination_menu = counts
    menu = [
        {"url": reverse(f"coordination:{url}"), "label": label, "count": counts[name], "key": name}
        for name, url, label in PAGES
    ]
    return {"scope": scope, "menu": menu, "current": current, "kept": _kept(scope), **extra}


def _paged(request, queryset, param="page"):
    return Paginator(queryset, queues.PER_PAGE).get_page(request.GET.get(param))


def _log(request, patient_ids) -> None:
    services.log_patients_listed(
        user=request.user,
        memberships=request.coordination_memberships,
        patient_ids=patient_ids,
    )


def _acting_for(request, organisation_id: int):
    """The user's membership in the organisation they act for, or 404."""
    for membership in queues.by_preference(request.coordination_memberships):
        if membership.organisation_id == organisation_id:
            return membership
    raise Http404


def _back(request, url_name: str):
    """After a plain form post: back to the queue, with its filter."""
    kept = {
        key: request.POST[key]
        for key in ("organisation", "principal", "page")
        if request.POST.get(key, "").isdigit()
    }
    url = reverse(f"coordination:{url_name}")
    return redirect(f"{url}?{urlencode(kept)}" if kept else url)


def _error_text(exc) -> str:
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


# --- the overview and the simple queues ----------------------------------------------------


@coordinator_required
def overview(request):
    scope = _scope(request)
    return render(request, "coordination/overview.html", _context(request, scope, "overview"))


def _queue(request, name: str, queryset_for, decorate, template: str, **extra):
    scope = _scope(request)
    rows = _paged(request, queryset_for(scope))
    decorate(rows, scope)
    _log(request, [_patient_id(row) for row in rows])
    return render(request, template, _context(request, scope, name, rows=rows, **extra))


def _patient_id(row) -> int:
    if isinstance(row, Contract):
        return row.patient_id
    return row.contract.patient_id


@coordinator_required
def next_steps(request):
    return _queue(
        request,
        "next_steps",
        queues.without_next_step,
        queues.decorate_next_steps,
        "coordination/next_steps.html",
    )


@coordinator_required
def outcomes(request):
    return _queue(
        request,
        "outcomes",
        queues.without_outcome,
        queues.decorate_outcomes,
        "coordination/outcomes.html",
    )


@coordinator_required
def commitments(request):
    scope = _scope(request)
    rows = _paged(request, queues.overdue_commitments(scope))
    queues.decorate_commitments(rows, scope)
    _log(request, [row.contract.patient_id for row in rows])
    context = _context(
        request, scope, "commitments", rows=rows, per_org=queues.overdue_by_organisation(scope)
    )
    return render(request, "coordination/commitments.html", context)


@coordinator_required
def reviews(request):
    return _queue(
        request, "reviews", queues.reviews_due, queues.decorate_reviews, "coordination/reviews.html"
    )


# --- reminders that could not be delivered ----------------------------------------------------


@coordinator_required
def failed_reminders(request):
    return _queue(
        request,
        "failed_reminders",
        queues.failed_reminders,
        lambda rows, scope: None,
        "coordination/failed_reminders.html",
    )


@coordinator_required
@require_POST
def failed_reminder(request, notification_id):
    """Send a failed reminder again, or mark it handled: only one in the user's queue."""
    found = queues.failed_reminders(_scope(request)).filter(pk=notification_id)
    if not found.exists():
        raise Http404
    action = request.POST.get("action")
    if action == "retry":
        outbox.retry_failed(found)
        messages.success(request, _("It is back in the outbox and will be sent again."))
    elif action == "handled":
        outbox.mark_handled(found, request.user)
        messages.success(request, _("Marked as handled."))
    else:
        return HttpResponse(_("Choose to send it again or to mark it handled."), status=400)
    return _back(request, "failed_reminders")


# --- plans without a fixed care contact, and assigning one -------------------------------------

CARE_CONTACTS = "coordination/care_contacts.html"


def _contact_forms(request, plans) -> None:
    choices = queues.contact_choices(plans)
    # The form only where one of the user's organisations decides the contact; the
    # service refuses the others whichever door they come through.
    deciders = care_contact_deciders(plans)
    mine = {m.organisation_id for m in request.coordination_memberships}
    for plan in plans:
        plan.decided_elsewhere = not (deciders[plan.pk] & mine)
        plan.form = ContactForm(
            memberships=choices[plan.pk], initial={"version": plan.version}, row_id=plan.pk
        )


@coordinator_required
def care_contacts(request):
    scope = _scope(request)
    rows = _paged(request, queues.without_care_contact(scope))
    queues.decorate_waiting(rows, scope)
    _contact_forms(request, rows)
    _log(request, [plan.patient_id for plan in rows])
    return render(request, CARE_CONTACTS, _context(request, scope, "care_contacts", rows=rows))


@coordinator_required
@require_POST
def assign_care_contact(request, contract_id):
    """Make a staff member of the care team the plan's fixed care contact, from the queue."""
    visible = patients_visible_to(request.user)
    plan = get_object_or_404(
        Contract.objects.active().filter(patient__in=visible).select_related("patient"),
        pk=contract_id,
    )
    choices = queues.contact_choices([plan])[plan.pk]
    form = ContactForm(request.POST, memberships=choices, row_id=plan.pk)
    status, error = 400, ""
    if form.is_valid():
        chosen = form.chosen
        acting = _acting_for(request, _team_organisation(request, plan))
        try:
            assignment = assign_fixed_care_contact(
                actor=Actor.staff(request.user, acting.organisation),
                contract=plan,
                expected_version=form.cleaned_data["version"],
                staff=chosen.user,
                organisation=chosen.organisation,
            )
        except StaleVersion as exc:
            status, error = 409, _("Someone changed this plan a moment ago. Check and try again.")
            plan.version = exc.contract.version
        except PermissionDenied as exc:
            status, error = 403, _error_text(exc)
        except ValidationError as exc:
            error = _error_text(exc)
        else:
            return _assigned(request, plan, assignment)
    if not request.htmx:
        messages.error(request, error or _("Choose a person from the list."))
        return _back(request, "care_contacts")
    # The row again, with the user's choice and the message, naming the current version.
    scope = queues.make_scope(request.user, memberships=request.coordination_memberships)
    queues.decorate_waiting([plan], scope)
    data = request.POST.copy()
    data["version"] = str(plan.version)
    plan.form = ContactForm(data, memberships=choices, row_id=plan.pk)
    plan.form.is_valid()
    plan.error = error
    context = {"plan": plan, "kept": ""}
    return render(request, f"{CARE_CONTACTS}#row", context, status=status)


def _team_organisation(request, plan) -> int:
    """The user's organisation on this patient's care team (a coordinator one first), one
    that decides the plan's fixed care contact if the user has one."""
    with_access = staff_memberships_with_access(request.user, plan.patient_id)
    ids = set(with_access.values_list("organisation_id", flat=True))
    ids = (care_contact_deciders([plan])[plan.pk] & ids) or ids
    for membership in queues.by_preference(request.coordination_memberships):
        if membership.organisation_id in ids:
            return membership.organisation_id
    raise Http404


def _assigned(request, plan, assignment):
    name = str(assignment.staff)
    if not request.htmx:
        messages.success(
            request,
            _("%(name)s is now the fixed care contact for %(patient)s.")
            % {"name": name, "patient": plan.patient.full_name},
        )
        return _back(request, "care_contacts")
    plan.assignment = assignment
    return render(request, f"{CARE_CONTACTS}#row", {"plan": plan, "kept": ""})


# --- discharges ---------------------------------------------------------------------------------

DISCHARGES = "coordination/discharges.html"


def _discharge_forms(stays) -> None:
    staff = queues.primary_care_staff(stays)
    for stay in stays:
        stay.forms = {}
        if not stay.mine["primary_care"]:
            continue
        initial = {"version": stay.version}
        if stay.care_contact_id is None:
            stay.forms["appoint"] = ContactForm(
                memberships=staff.get(stay.pk, []), kind="appoint", row_id=stay.pk, initial=initial
            )
        sip = getattr(stay, "sip", None)
        if sip is None:
            stay.forms["sip"] = SipCallForm(row_id=stay.pk, initial=initial)
        elif sip.held_at is None:
            stay.forms["held"] = VersionForm(initial=initial, auto_id=f"held-{stay.pk}-%s")


@coordinator_required
def discharges(request):
    scope = _scope(request)
    notices = _paged(request, queues.unacknowledged_notices(scope))
    stays = _paged(request, queues.admissions(scope), param="stays")
    queues.decorate_admissions(stays, scope)
    _discharge_forms(stays)
    _log(request, [n.admission.patient_id for n in notices] + [s.patient_id for s in stays])
    context = _context(request, scope, "discharges", notices=notices, stays=stays)
    return render(request, DISCHARGES, context)


@coordinator_required
@require_POST
def acknowledge_notice(request, notice_id):
    notice = get_object_or_404(
        DischargeNotice.objects.select_related(
            "admission__patient", "from_organisation", "to_organisation"
        ).filter(
            to_organisation__in=[m.organisation_id for m in request.coordination_memberships],
            admission__patient__in=patients_visible_to(request.user),
        ),
        pk=notice_id,
    )
    acting = _acting_for(request, notice.to_organisation_id)
    status, error = 200, ""
    try:
        notice = services.acknowledge_notice(
            actor=Actor.staff(request.user, acting.organisation), notice=notice
        )
    except PermissionDenied as exc:
        status, error = 403, _error_text(exc)
    except ValidationError as exc:
        status, error = 400, _error_text(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("Acknowledged."))
        return _back(request, "discharges")
    notice.error = error
    return render(request, f"{DISCHARGES}#notice", {"notice": notice}, status=status)


def _stay_for_primary_care(request, admission_id) -> Admission:
    """A stay whose primary-care unit is one of the user's, for the contact and SIP steps."""
    return get_object_or_404(
        Admission.objects.filter(
            primary_care__in=[m.organisation_id for m in request.coordination_memberships],
            patient__in=patients_visible_to(request.user),
        ),
        pk=admission_id,
    )


def _discharge_step(request, stay, form, write):
    """Run one primary-care step on a stay, then back to the discharges page with a message."""
    acting = _acting_for(request, stay.primary_care_id)
    actor = Actor.staff(request.user, acting.organisation)
    error = ""
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    else:
        try:
            write(actor, stay, form.cleaned_data)
        except StaleVersion:
            error = _("Someone changed this stay a moment ago. Check and try again.")
        except (PermissionDenied, ValidationError) as exc:
            error = _error_text(exc)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Saved."))
    return _back(request, "discharges")


@coordinator_required
@require_POST
def appoint_discharge_contact(request, admission_id):
    stay = _stay_for_primary_care(request, admission_id)
    stay.mine = {"primary_care": True}
    staff = queues.primary_care_staff([stay]).get(stay.pk, [])
    form = ContactForm(request.POST, memberships=staff, kind="appoint", row_id=stay.pk)

    def write(actor, stay, data):
        services.appoint_discharge_care_contact(
            actor=actor,
            admission=stay,
            expected_version=data["version"],
            staff=form.chosen.user,
        )

    return _discharge_step(request, stay, form, write)


@coordinator_required
@require_POST
def call_sip_meeting(request, admission_id):
    stay = _stay_for_primary_care(request, admission_id)
    form = SipCallForm(request.POST, row_id=admission_id)

    def write(actor, stay, data):
        services.call_sip_meeting(
            actor=actor,
            admission=stay,
            expected_version=data["version"],
            meeting_at=data["meeting_at"],
            participants=[stay.hospital_unit, stay.municipality_unit, stay.primary_care],
            other_participants=data["other_participants"],
        )

    return _discharge_step(request, stay, form, write)


@coordinator_required
@require_POST
def sip_meeting_held(request, admission_id):
    stay = _stay_for_primary_care(request, admission_id)

    def write(actor, stay, data):
        services.record_sip_meeting_held(
            actor=actor, admission=stay, expected_version=data["version"]
        )

    return _discharge_step(request, stay, VersionForm(request.POST), write)


# --- follow-up figures ---------------------------------------------------------------------------


@coordinator_required
def figures_page(request):
    scope = _scope(request)
    monthly = figures.monthly(scope)
    per_org = figures.by_organisation(scope)
    context = _context(
        request,
        scope,
        "figures",
        monthly=monthly,
        per_org=per_org,
        charts=figures.charts(monthly, per_org),
    )
    return render(request, "coordination/figures.html", context)


@coordinator_required
def figures_csv(request):
    scope = _scope(request)
    text = figures.as_csv(figures.monthly(scope), figures.by_organisation(scope))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="naravard-figures-{stamp}.csv"'
    return response


# --- the patient's survey after a next step ----------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def survey(request, next_step_id):
    """ "I know where to turn", asked after a next step. For the patient and a proxy who
    may write; staff and everyone else get 404."""
    step = NextStep.objects.select_related("contract__patient").filter(pk=next_step_id).first()
    if step is None:
        raise Http404
    patient = step.contract.patient
    # viewer_for, not get_patient_for: patients and relatives are not access-logged.
    viewer = viewer_for(request.user, patient)
    if viewer.kind == "staff" or not viewer.can_write:
        raise Http404
    actor = (
        Actor.patient(request.user) if viewer.kind == "patient" else Actor.relative(request.user)
    )
    earlier = SurveyAnswer.objects.filter(next_step=step).first()
    form = SurveyForm(
        request.POST if request.method == "POST" else None,
        initial={"answer": earlier.answer} if earlier else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.answer_survey(actor=actor, step=step, answer=form.cleaned_data["answer"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Thank you for your answer."))
            if viewer.kind == "patient":
                return redirect("contracts:my_plan")
            return redirect("contracts:relative_plan", patient.pk)
    context = {
        "step": step,
        "patient": patient,
        "viewer": viewer,
        "form": form,
        "earlier": earlier,
        "too_early": step.scheduled_at > timezone.now(),
    }
    return render(request, "coordination/survey.html", context, status=400 if form.errors else 200)
