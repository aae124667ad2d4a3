"""The shared plan in the browser: "my plan" for patients and relatives, the staff plan page.

Views parse, call one service or selector, and render. Each plan section is a
partial in contracts/plan.html: an htmx request gets back only the section it
changed; a plain form post is redirected back to the page (post/redirect/get), so
every control works without JavaScript.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from coordination.queues import memberships_of
from patients.access import emergency_reason_for, get_patient_for, viewer_for, viewer_or_denied
from patients.models import AccessLogEntry, Patient

from . import selectors, services
from .forms import (
    AgreeForm,
    StartPlanForm,
    TickForm,
    owner_arguments,
    owner_value,
)
from .history import Actor
from .ics import next_step_calendar
from .models import Commitment
from .sections import (
    BY_EDIT,
    CHANGES,
    COMMITMENT,
    COMMITMENT_EDIT,
    COMMITMENTS,
    CONTACT_PATHS,
    NEW_COMMITMENT_FORM,
    NEXT_STEP_FORM,
    OUTCOME_FORM,
    WARNING_SIGNS,
    WHAT_MATTERS,
    Section,
    make_form,
)
from .services import StaleVersion

PLAN = "contracts/plan.html"
HISTORY_PER_PAGE = 50


# --- who is looking -------------------------------------------------------------


def _actor(user, viewer) -> Actor:
    if viewer.kind == "patient":
        return Actor.patient(user)
    if viewer.kind == "relative":
        return Actor.relative(user)
    return Actor.staff(user, viewer.organisation)


def page_url(viewer, patient) -> str:
    if viewer.kind == "patient":
        return reverse("contracts:my_plan")
    if viewer.kind == "relative":
        return reverse("contracts:relative_plan", args=[patient.pk])
    return reverse("contracts:staff_plan", args=[patient.pk])


def _page(request, patient, viewer):
    return selectors.plan_page(patient, viewer, user=request.user)


def _page_for_write(request, patient_id, *, staff_only=False):
    """The plan for a write, after the access check; 403 for readers, 404 without a plan."""
    patient, viewer = get_patient_for(request.user, patient_id)
    if not viewer.can_write or (staff_only and viewer.kind != "staff"):
        raise PermissionDenied(_("You may read this plan but not change it."))
    page = _page(request, patient, viewer)
    if page.contract is None:
        raise Http404
    return page


# --- rendering ------------------------------------------------------------------------


def _forms_on_page(page, edit) -> dict:
    """The one form the page is opened at (`?edit=...`), if the viewer may use it.

    The page carries links, not forms: a staff form's picker lists the whole team
    (hundreds of options in a large unit), and a commitment's edit form has one too."""
    part = BY_EDIT.get(edit)
    if part is not None:
        return {part.name: make_form(part, page)} if part.offered(page) else {}
    if edit.startswith(COMMITMENT_EDIT) and COMMITMENT.offered(page):
        commitment = page.find_commitment(_number(edit.removeprefix(COMMITMENT_EDIT)))
        if commitment is not None and commitment.may_update:
            commitment.edit_form = make_form(COMMITMENT, page, commitment=commitment)
    return {}


def _number(text) -> int | None:
    return int(text) if text.isdigit() else None


def _context(request, page, *, edit="", forms=None, commitment_forms=None, **extra):
    all_forms = _forms_on_page(page, edit)
    all_forms.update(forms or {})
    for commitment_id, form in (commitment_forms or {}).items():
        commitment = page.find_commitment(commitment_id)
        if commitment is not None:
            commitment.edit_form = form
    url = page_url(page.viewer, page.patient)
    _prepare_commitments(page, url)
    viewer = page.viewer
    return {
        "page": page,
        "patient": page.patient,
        "viewer": viewer,
        "contract": page.contract,
        "page_url": url,
        "forms": all_forms,
        # What every commitment row asks, as plain values: the context processor's
        # lazy token and a number to localise cost a row more than the rest of its form.
        "csrf_token": get_token(request),
        "version": str(page.version or ""),
        "staff_writes": viewer.kind == "staff" and viewer.can_write,
        **extra,
    }


def _prepare_commitments(page, url):
    """Give each commitment row the plain values plan.html#commitment shows.

    A plan has dozens of commitments, and in the template language every value a row
    looks up, translates or formats is a node to render: a row's URLs (a reverse()
    costs as much as the rest of the row), its dates and labels are worked out here,
    once a page, so that the row only places them."""
    if page.contract is None:
        return
    tick = _url_for_commitments("contracts:tick_commitment", page.patient.pk)
    change = _url_for_commitments("contracts:change_commitment", page.patient.pk)
    mark_done, not_done = _("Mark as done: %(what)s"), _("Not done: %(what)s")
    change_or_hand_over = _("Change or hand over: %(what)s")
    by_day = {}
    for group in page.groups:
        for c in group.commitments:
            notes = f"– {c.staff_name} " if c.staff_name else ""
            if c.due_date:
                if c.due_date not in by_day:
                    words = date_format(c.due_date, "j F Y")
                    by_day[c.due_date] = "– " + _("by %(date)s") % {"date": words}
                notes += by_day[c.due_date]
            c.notes = notes
            if c.may_update:
                what = {"what": c.what}
                c.tick_url, c.change_url = tick(c.pk), change(c.pk)
                c.tick_label = (not_done if c.status == "done" else mark_done) % what
                c.change_label = change_or_hand_over % what
                c.edit_url = f"{url}?edit={c.anchor}#{c.anchor}"


def _url_for_commitments(name, patient_id):
    """A function from a commitment id to its URL under `name`, from one reverse() per
    page: reverse() costs as much as the rest of a commitment's row."""
    marker = "9" * 18  # a commitment id no plan has; the last one in the URL is ours
    before, after = reverse(name, args=[patient_id, marker]).rsplit(marker, 1)
    return lambda commitment_id: f"{before}{commitment_id}{after}"


def render_plan(request, page, part: Section | None = None, *, status=200, **extra):
    """The whole page, or for htmx the part's partial alone."""
    template = f"{PLAN}#{part.name}" if part and request.htmx else PLAN
    return render(request, template, _context(request, page, **extra), status=status)


def _saved(request, page, section: Section, seen_version):
    """After a write: the page again (PRG), or for htmx the section plus what it affects."""
    if not request.htmx:
        messages.success(request, _("Saved."))
        return redirect(f"{page_url(page.viewer, page.patient)}#{section.anchor}")
    fresh = _page(request, page.patient, page.viewer)
    context = _context(
        request,
        fresh,
        section_template=f"{PLAN}#{section.name}",
        section=section.name,
        saved=section.name,
    )
    response = render(request, "contracts/saved.html", context)
    # Forms elsewhere on the page that showed the old version now show this one:
    # only this user's change lies between the two (see static/js/plan.js).
    response["HX-Trigger"] = json.dumps(
        {"planVersion": {"from": seen_version, "to": fresh.version}}
    )
    return response


def _apply(request, page, part: Section, write, *, form_class=None, commitment=None):
    """Run one service call for a form posted to `part`, and answer with its section.

    Bad input: 400. Refused by the services: 403. Someone else changed the plan
    first: 409 with the newer content and the user's input kept in the form."""
    form = make_form(part, page, request.POST, commitment, form_class)
    section = part.section

    def again(status, page=page, form=form, **extra):
        if commitment is not None:
            extra["commitment_forms"] = {commitment.pk: form}
        else:
            extra["forms"] = {part.name: form}
        return render_plan(request, page, section, status=status, **extra)

    if not form.is_valid():
        return again(400)
    seen = form.cleaned_data["version"]
    try:
        write(_actor(request.user, page.viewer), form)
    except StaleVersion:
        fresh = _page(request, page.patient, page.viewer)
        kept = fresh.find_commitment(commitment.pk) if commitment is not None else None
        if commitment is not None and kept is None:
            # Cancelled by someone else: there is nothing left to edit.
            return render_plan(request, fresh, section, status=409, conflict=section.name)
        # The user's input again, now naming the newer version they are being shown.
        data = form.data.copy()
        data["version"] = str(fresh.version)
        form = make_form(part, fresh, data, kept, form_class)
        return again(409, page=fresh, form=form, conflict=section.name)
    except PermissionDenied as exc:
        return again(403, error=str(exc) or _("You may not change this part of the plan."))
    except ValidationError as exc:
        _add_service_errors(form, exc)
        return again(400)
    return _saved(request, page, section, seen)


def _add_service_errors(form, exc: ValidationError):
    """Put the service's message next to the field it names, or above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


# --- pages -----------------------------------------------------------------------------


def _plan_response(request, patient, viewer):
    page = _page(request, patient, viewer)
    return render_plan(request, page, edit=request.GET.get("edit", ""))


@login_required
@never_cache
def my_plan(request):
    """The patient's own plan."""
    try:
        # Through the user, so the menu finds it again without a query of its own.
        patient = request.user.patient
    except Patient.DoesNotExist:
        # Relatives and staff have their own start pages.
        return redirect("home")
    return _plan_response(request, patient, viewer_for(request.user, patient))


@login_required
@never_cache
def relative_plan(request, patient_id):
    """A relative's (or the patient's own) view of one plan; 404 for everyone else."""
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    # Not get_patient_for: this page is for patients and relatives, who are not logged;
    # staff get a 404 here (their page logs the read), and one refused the patient a
    # `denied` row, as on every other door.
    viewer = viewer_or_denied(request.user, patient)
    if viewer.kind == "staff":
        raise Http404
    return _plan_response(request, patient, viewer)


@login_required
@never_cache
def staff_plan(request, patient_id):
    """The shared plan as the care team sees it. The read is written to the access log."""
    reason = emergency_reason_for(request, patient_id)
    # The menu's coordination entry needs the user's memberships too (it reads them
    # from the request): one query serves both.
    memberships = request.coordination_memberships = memberships_of(request.user)
    patient, viewer = get_patient_for(
        request.user, patient_id, emergency_reason=reason, memberships=memberships
    )
    if viewer.kind != "staff":
        return redirect(page_url(viewer, patient))
    return _plan_response(request, patient, viewer)


@login_required
@never_cache
def history(request, patient_id):
    """Every change to the plan, newest first, in plain words."""
    patient, viewer = get_patient_for(
        request.user,
        patient_id,
        action=AccessLogEntry.Action.VIEW_HISTORY,
        emergency_reason=emergency_reason_for(request, patient_id),
    )
    contract = patient.contracts.open().first()
    if contract is None:
        raise Http404
    paginator = Paginator(selectors.history_page_events(contract), HISTORY_PER_PAGE)
    events = paginator.get_page(request.GET.get("page"))
    wording = selectors.EventWording(patient, viewer, request.user)
    context = {
        "patient": patient,
        "viewer": viewer,
        "events": events,
        "sentences": wording.all(list(events.object_list)),
        "page_url": page_url(viewer, patient),
    }
    return render(request, "contracts/history.html", context)


@login_required
@never_cache
def next_step_ics(request, patient_id=None):
    """The planned next step as a calendar file."""
    if patient_id is None:
        patient = Patient.objects.filter(user=request.user).first()
        if patient is None:
            raise Http404
        patient_id = patient.pk
    patient, viewer = get_patient_for(request.user, patient_id, action=AccessLogEntry.Action.EXPORT)
    contract = patient.contracts.open().first()
    step = (
        contract.next_steps.planned().select_related("organisation", "staff").first()
        if contract
        else None
    )
    if step is None:
        raise Http404
    response = HttpResponse(next_step_calendar(step, patient), content_type="text/calendar")
    response["Content-Disposition"] = 'attachment; filename="next-step.ics"'
    return response


# --- writes ------------------------------------------------------------------------------


def _open(request, patient_id, part: Section):
    """GET on a part's URL: for htmx its form (`?show=1` closes it again); without
    JavaScript the page, opened at the form."""
    patient, viewer = get_patient_for(request.user, patient_id)
    if not part.may_open(viewer):
        raise PermissionDenied
    if not request.htmx:
        return redirect(f"{page_url(viewer, patient)}?edit={part.edit}#{part.anchor}")
    page = _page(request, patient, viewer)
    if not part.offered(page):
        raise Http404
    return render_plan(request, page, part, edit="" if "show" in request.GET else part.edit)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def what_matters(request, patient_id):
    """What matters to me: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _open(request, patient_id, WHAT_MATTERS)

    page = _page_for_write(request, patient_id)

    def write(actor, form):
        services.set_what_matters(
            actor=actor,
            contract=page.contract,
            text=form.cleaned_data["what_matters"],
            goals=form.goal_list(),
            expected_version=form.cleaned_data["version"],
        )

    return _apply(request, page, WHAT_MATTERS, write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def warning_signs(request, patient_id):
    """What to look out for and what to do then: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _open(request, patient_id, WARNING_SIGNS)
    page = _page_for_write(request, patient_id)

    def write(actor, form):
        services.set_warning_signs(
            actor=actor,
            contract=page.contract,
            expected_version=form.cleaned_data["version"],
            signs=form.sign_list(),
        )

    return _apply(request, page, WARNING_SIGNS, write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def contact_paths(request, patient_id):
    """How to reach us, written by the care team: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _open(request, patient_id, CONTACT_PATHS)
    page = _page_for_write(request, patient_id, staff_only=True)
    # Only organisations offered in the form (the care team) are turned back into objects.
    organisations = {str(m.organisation_id): m.organisation for m in page.team}

    def write(actor, form):
        paths = [
            {
                "kind": row["kind"],
                "label": row["label"],
                "value": row["value"],
                "hours": row["hours"],
                "organisation": organisations.get(row["organisation"]),
            }
            for row in form.kept_rows()
        ]
        services.set_contact_paths(
            actor=actor,
            contract=page.contract,
            expected_version=form.cleaned_data["version"],
            paths=paths,
        )

    return _apply(request, page, CONTACT_PATHS, write)


@login_required
@never_cache
@require_POST
def tick_commitment(request, patient_id, commitment_id):
    """Tick off a commitment, or mark it as not done again."""
    page = _page_for_write(request, patient_id)
    commitment = page.find_commitment(commitment_id)
    if commitment is None:
        raise Http404

    def write(actor, form):
        services.complete_commitment(
            actor=actor,
            commitment=page.commitment_to_change(commitment),
            expected_version=form.cleaned_data["version"],
            done=form.cleaned_data["done"],
        )

    return _apply(request, page, COMMITMENTS, write, form_class=TickForm)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def add_commitment(request, patient_id):
    """Add a commitment; GET gives the form (for htmx just the form)."""
    if request.method == "GET":
        return _open(request, patient_id, NEW_COMMITMENT_FORM)
    page = _page_for_write(request, patient_id, staff_only=True)

    def write(actor, form):
        data = form.cleaned_data
        services.add_commitment(
            actor=actor,
            contract=page.contract,
            expected_version=data["version"],
            **owner_arguments(data["owner"], page),
            **Commitment.editable_in(data),
        )

    return _apply(request, page, NEW_COMMITMENT_FORM, write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def change_commitment(request, patient_id, commitment_id):
    """Change a commitment's text or date, hand it to another owner, or cancel it.

    GET gives the edit form (for htmx just that commitment; `?show=1` closes it)."""
    page = _page_for_write(request, patient_id, staff_only=True)
    commitment = page.find_commitment(commitment_id)
    if commitment is None:
        raise Http404
    if request.method == "GET":
        if not request.htmx:
            edit = commitment.anchor
            return redirect(f"{page_url(page.viewer, page.patient)}?edit={edit}#{edit}")
        if "show" in request.GET:
            edit = ""
        elif commitment.may_update:
            edit = commitment.anchor
        else:
            raise PermissionDenied
        context = _context(request, page, edit=edit, c=commitment)
        return render(request, f"{PLAN}#{COMMITMENT.name}", context)

    def write(actor, form):
        data = form.cleaned_data
        owner = {}
        if data["owner"] != owner_value(commitment):
            owner = owner_arguments(data["owner"], page)
        services.update_commitment(
            actor=actor,
            commitment=page.commitment_to_change(commitment),
            expected_version=data["version"],
            cancel=data["cancel"],
            **owner,
            **Commitment.editable_in(data),
        )

    return _apply(request, page, COMMITMENT, write, commitment=commitment)


def _step_arguments(data, page) -> dict:
    staff = None
    if data.get("staff"):
        staff = next(
            (m.user for m in page.team_staff if str(m.user_id) == data["staff"]),
            None,
        )
    return {
        "scheduled_at": data["scheduled_at"],
        "channel": data["channel"],
        "purpose": data["purpose"],
        "location": data["location"],
        "with_whom": data["with_whom"],
        "staff": staff,
    }


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def agree_next_step(request, patient_id):
    """Agree a new next step (it replaces a still-planned one); GET gives the form."""
    if request.method == "GET":
        return _open(request, patient_id, NEXT_STEP_FORM)
    page = _page_for_write(request, patient_id, staff_only=True)

    def write(actor, form):
        services.agree_next_step(
            actor=actor,
            contract=page.contract,
            expected_version=form.cleaned_data["version"],
            **_step_arguments(form.cleaned_data, page),
        )

    return _apply(request, page, NEXT_STEP_FORM, write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def record_outcome(request, patient_id):
    """What came of the next step, and the following step, in one form; GET gives it."""
    if request.method == "GET":
        return _open(request, patient_id, OUTCOME_FORM)
    page = _page_for_write(request, patient_id, staff_only=True)
    if page.next_step is None:
        raise Http404

    def write(actor, form):
        data = form.cleaned_data
        services.record_outcome_and_agree_next_step(
            actor=actor,
            step=page.next_step,
            expected_version=data["version"],
            outcome=data["outcome"],
            happened=data["happened"],
            following=_step_arguments(data, page) if form.has_following_step else None,
        )

    return _apply(request, page, OUTCOME_FORM, write)


@login_required
@never_cache
@require_POST
def agree(request, patient_id):
    """The patient agrees to the plan as it stands."""
    page = _page_for_write(request, patient_id)

    def write(actor, form):
        services.agree_to_version(
            actor=actor, contract=page.contract, version=form.cleaned_data["version"]
        )

    return _apply(request, page, CHANGES, write, form_class=AgreeForm)


@login_required
@never_cache
@require_POST
def start_plan(request, patient_id):
    """Staff start the patient's plan when there is none."""
    patient, viewer = get_patient_for(request.user, patient_id)
    if viewer.kind != "staff" or not viewer.can_write:
        raise PermissionDenied
    form = StartPlanForm(request.POST)
    if form.is_valid():
        try:
            services.create_contract(
                actor=_actor(request.user, viewer),
                patient=patient,
                what_matters=form.cleaned_data["what_matters"],
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(page_url(viewer, patient))
