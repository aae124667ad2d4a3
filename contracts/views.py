"""The shared plan in the browser: "my plan" for patients and relatives, the staff plan page.

Views parse, call one service or selector, and render. Each plan section is a
partial in contracts/plan.html: an htmx request gets back only the section it
changed; a plain form post is redirected back to the page (post/redirect/get), so
every control works without JavaScript.
"""

import json
from html import escape  # the stdlib one: no lazy-string wrapper per call

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.backends.utils import csrf_input
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from coordination.queues import memberships_of
from patients.access import emergency_reason_for, get_patient_for, viewer_for
from patients.models import AccessLogEntry, Patient

from . import selectors, services
from .forms import (
    AgreeForm,
    CommitmentEditForm,
    CommitmentForm,
    ContactPathsForm,
    NextStepForm,
    OutcomeForm,
    StartPlanForm,
    TickForm,
    WarningSignsForm,
    WhatMattersForm,
    owner_arguments,
    owner_choices,
    owner_value,
    staff_choices,
)
from .history import Actor
from .ics import next_step_calendar
from .services import StaleVersion

PLAN = "contracts/plan.html"
HISTORY_PER_PAGE = 50

# Where each section sits on the page, for redirects and htmx targets.
ANCHORS = {
    "changes": "changes",
    "what_matters": "what-matters",
    "next_step": "next-step",
    "commitments": "commitments",
    "warning_signs": "warning-signs",
    "contact_paths": "contact-paths",
}


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


# --- forms, built from the page they belong to --------------------------------------


# Staff forms that carry a picker of the whole team are not on the page until asked for
# (`?edit=<name>`, or an htmx GET on the form's URL). Each name maps to its partial in
# plan.html and the element it replaces.
STAFF_FORMS = {
    "new_commitment": ("new_commitment_form", "new-commitment-form"),
    "next_step": ("next_step_form", "next-step-form"),
    "outcome": ("outcome_form", "outcome-form"),
}
# The field a form opened on demand puts the focus in: the link that opened it is gone.
FIRST_FIELD = {
    "new_commitment": "what",
    "edit_commitment": "what",
    "next_step": "scheduled_at",
    "outcome": "outcome",
}


def make_form(role, page, data=None, commitment=None):
    """The form for one control, with its choices and the version the page shows."""
    form = _make_form(role, page, data, commitment)
    if role in FIRST_FIELD:
        form.fields[FIRST_FIELD[role]].widget.attrs["autofocus"] = True
    return form


def _make_form(role, page, data, commitment):
    initial = {"version": page.version}
    if role == "what_matters":
        initial["what_matters"] = page.contract.what_matters
        initial["goals"] = "\n".join(goal.text for goal in page.goals)
        return WhatMattersForm(data, initial=initial, auto_id="what-matters-%s")
    if role == "warning_signs":
        rows = [{"sign": s.sign, "action": s.action} for s in page.warning_signs]
        return WarningSignsForm(data, rows=rows, initial=initial, auto_id="warning-signs-%s")
    if role == "contact_paths":
        rows = [
            {
                "kind": p.kind,
                "label": p.label,
                "value": p.value,
                "hours": p.hours,
                "organisation": str(p.organisation_id or ""),
            }
            for p in page.contact_paths
        ]
        return ContactPathsForm(
            data,
            rows=rows,
            initial=initial,
            auto_id="contact-paths-%s",
            row_kwargs={"organisation_choices": _team_organisations(page)},
        )
    if role == "new_commitment":
        return CommitmentForm(
            data, owner_choices=owner_choices(page), initial=initial, auto_id="new-commitment-%s"
        )
    if role == "edit_commitment":
        initial.update(
            what=commitment.what, due_date=commitment.due_date, owner=owner_value(commitment)
        )
        return CommitmentEditForm(
            data,
            owner_choices=owner_choices(page),
            initial=initial,
            auto_id=f"commitment-{commitment.pk}-%s",
        )
    if role == "next_step":
        return NextStepForm(
            data, staff_choices=staff_choices(page), initial=initial, auto_id="next-step-%s"
        )
    if role == "outcome":
        return OutcomeForm(
            data, staff_choices=staff_choices(page), initial=initial, auto_id="outcome-%s"
        )
    if role == "tick":
        return TickForm(data)
    if role == "agree":
        return AgreeForm(data)
    raise ValueError(role)


def _team_organisations(page) -> list[tuple[str, str]]:
    return [(str(m.organisation_id), m.organisation.name) for m in page.team]


def _rebind(role, page, form, commitment=None):
    """The user's input again, now naming the newer version they have just been shown."""
    data = form.data.copy()
    data["version"] = str(page.version)
    return make_form(role, page, data, commitment)


def _default_forms(page, editing="") -> dict:
    """The one form being edited (`?edit=...`), if the viewer may use it.

    The page carries links, not forms: a staff form's picker lists the whole team
    (hundreds of options in a large unit), and a commitment's edit form has one too."""
    viewer = page.viewer
    if page.contract is None or not viewer.can_write or not editing:
        return {}
    if editing in ("what_matters", "warning_signs"):
        return {editing: make_form(editing, page)}
    if viewer.kind != "staff":
        return {}
    if editing in ("contact_paths", "new_commitment", "next_step"):
        return {editing: make_form(editing, page)}
    if editing == "outcome":
        return {"outcome": make_form("outcome", page)} if page.next_step else {}
    commitment = _commitment_being_edited(page, editing)
    if commitment is not None:
        commitment.edit_form = make_form("edit_commitment", page, commitment=commitment)
    return {}


def _commitment_being_edited(page, editing):
    if not editing.startswith("commitment_"):
        return None
    try:
        commitment = page.find_commitment(int(editing.removeprefix("commitment_")))
    except ValueError:
        return None
    return commitment if commitment is not None and commitment.may_update else None


# --- rendering ------------------------------------------------------------------------


def _context(request, page, *, forms=None, **extra):
    all_forms = _default_forms(page, extra.get("editing") or "")
    all_forms.update(forms or {})
    for commitment_id, form in (extra.pop("commitment_forms", None) or {}).items():
        commitment = page.find_commitment(commitment_id)
        if commitment is not None:
            commitment.edit_form = form
    url = page_url(page.viewer, page.patient)
    _write_commitments(request, page, url)
    return {
        "page": page,
        "patient": page.patient,
        "viewer": page.viewer,
        "contract": page.contract,
        "page_url": url,
        "forms": all_forms,
        **extra,
    }


# --- commitments, written in Python -------------------------------------------------------
# A plan has dozens of commitments. In the template language each one's markup cost about
# 90 µs (every variable, translation, URL and date is a node to resolve): a third of a
# staff page. Written here it is a tenth of that. The markup is what plan.html had; the
# one commitment being edited keeps its form in the template (plan.html#commitment).


def _write_commitments(request, page, url):
    """Give each commitment row its markup: `summary_html` (the text and the tick-off
    form) and `html` (the whole <li>, with the link to its edit form for staff)."""
    if page.contract is None:
        return
    write = CommitmentMarkup(request, page, url)
    for group in page.groups:
        for commitment in group.commitments:
            write(commitment)
        # A group with no edit form open is written whole: the template's loop cost
        # about 20 µs a row just to place each row's markup.
        if not any(c.edit_form and c.may_update for c in group.commitments):
            group.html = mark_safe("".join(c.html for c in group.commitments))  # noqa: S308


class CommitmentMarkup:
    """What every commitment of one page shares, worked out once: URLs, the hidden
    inputs of the tick-off form, the fixed words, each due date in words."""

    def __init__(self, request, page, url):
        self.url = url
        self.may_edit = page.viewer.kind == "staff" and page.viewer.can_write
        self.tick = _url_for_commitments("contracts:tick_commitment", page.patient.pk)
        self.change = _url_for_commitments("contracts:change_commitment", page.patient.pk)
        # {% csrf_token %} cost 20 µs a row; the token is the same for every form.
        self.hidden = (
            f'{csrf_input(request)}<input type="hidden" name="version" value="{page.version}">'
        )
        self.done, self.overdue = escape(_("Done")), escape(_("Overdue"))
        self.not_done, self.mark_done = escape(_("Not done")), escape(_("Mark as done"))
        self.change_words = escape(_("Change or hand over"))
        self.dates = {}

    def __call__(self, c):
        badges = ""
        if c.status == "done":
            badges += f'<span class="badge ok">{self.done}</span> '
        if c.overdue:
            badges += f'<span class="badge danger">{self.overdue}</span> '
        notes = f"– {escape(c.staff_name)} " if c.staff_name else ""
        if c.due_date:
            notes += "– " + escape(_("by %(date)s") % {"date": self._date(c.due_date)})
        summary = (
            f'<div class="commitment-text">{badges}{escape(c.what)} '
            f'<span class="muted">{notes}</span></div>'
        )
        link = ""
        if c.may_update:
            c.tick_url, c.change_url = self.tick(c.pk), self.change(c.pk)
            summary += self._tick_form(c)
            if self.may_edit:
                label = escape(_("Change or hand over: %(what)s") % {"what": c.what})
                link = (
                    f'<p class="no-print"><a href="{self.url}?edit={c.anchor}#{c.anchor}" '
                    f'hx-get="{c.change_url}" hx-target="#{c.anchor}" hx-swap="outerHTML" '
                    f'aria-label="{label}">{self.change_words}</a></p>'
                )
        done = " is-done" if c.status == "done" else ""
        c.summary_html = mark_safe(summary)  # noqa: S308 (every value escaped above)
        c.html = mark_safe(  # noqa: S308 (every value escaped above)
            f'<li id="{c.anchor}" class="commitment{done}">{summary}{link}</li>'
        )

    def _tick_form(self, c):
        done = c.status == "done"
        label = _("Not done: %(what)s") if done else _("Mark as done: %(what)s")
        return (
            f'<form method="post" action="{c.tick_url}" class="tick no-print" '
            f'hx-post="{c.tick_url}" hx-target="#commitments" hx-swap="outerHTML">{self.hidden}'
            f'<input type="hidden" name="done" value="{0 if done else 1}">'
            f'<button type="submit" class="button{" secondary" if done else ""}" '
            f'aria-label="{escape(label % {"what": c.what})}">'
            f"{self.not_done if done else self.mark_done}</button></form>"
        )

    def _date(self, day):
        if day not in self.dates:
            self.dates[day] = date_format(day, "j F Y")
        return self.dates[day]


def _url_for_commitments(name, patient_id):
    """A function from a commitment id to its URL under `name`, from one reverse() per
    page: reverse() costs as much as the rest of a commitment's markup."""
    marker = "9" * 18  # a commitment id no plan has; the last one in the URL is ours
    before, after = reverse(name, args=[patient_id, marker]).rsplit(marker, 1)
    return lambda commitment_id: f"{before}{commitment_id}{after}"


def render_plan(request, page, *, section=None, status=200, **extra):
    """The whole page, or one section for htmx."""
    template = f"{PLAN}#{section}" if section and request.htmx else PLAN
    return render(request, template, _context(request, page, **extra), status=status)


def _saved(request, page, section, seen_version):
    """After a write: the page again (PRG), or for htmx the section plus what it affects."""
    if not request.htmx:
        messages.success(request, _("Saved."))
        return redirect(f"{page_url(page.viewer, page.patient)}#{ANCHORS[section]}")
    fresh = _page(request, page.patient, page.viewer)
    context = _context(
        request, fresh, section_template=f"{PLAN}#{section}", section=section, saved=section
    )
    response = render(request, "contracts/saved.html", context)
    # Forms elsewhere on the page that showed the old version now show this one:
    # only this user's change lies between the two (see static/js/plan.js).
    response["HX-Trigger"] = json.dumps(
        {"planVersion": {"from": seen_version, "to": fresh.version}}
    )
    return response


def _apply(request, page, *, section, role, write, commitment=None, form_key=None, **extra):
    """Run one service call for a posted form and answer with the section.

    Bad input: 400. Refused by the services: 403. Someone else changed the plan
    first: 409 with the newer content and the user's input kept in the form."""
    form = make_form(role, page, request.POST, commitment)
    form_key = form_key or role

    def again(status, page=page, form=form, **more):
        forms, commitment_forms = {}, {}
        if commitment is not None:
            commitment_forms[commitment.pk] = form
        else:
            forms[form_key] = form
        return render_plan(
            request,
            page,
            section=section,
            status=status,
            forms=forms,
            commitment_forms=commitment_forms,
            **extra,
            **more,
        )

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
            return render_plan(request, fresh, section=section, status=409, conflict=section)
        return again(409, page=fresh, form=_rebind(role, fresh, form, kept), conflict=section)
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
    editing = request.GET.get("edit", "").replace("-", "_")
    return render_plan(request, page, editing=editing)


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
    # viewer_for, not get_patient_for: this page is for patients and relatives, who are
    # not logged; staff are sent their own page instead, where their read is logged.
    viewer = viewer_for(request.user, patient)
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


def _staff_form(request, patient_id, name):
    """GET on a staff form's URL: for htmx just the form (`?show=1` puts the link back);
    without JavaScript the page, opened at the form."""
    patient, viewer = get_patient_for(request.user, patient_id)
    if viewer.kind != "staff" or not viewer.can_write:
        raise PermissionDenied
    partial, anchor = STAFF_FORMS[name]
    if not request.htmx:
        edit = name.replace("_", "-")
        return redirect(f"{page_url(viewer, patient)}?edit={edit}#{anchor}")
    page = _page(request, patient, viewer)
    if page.contract is None or (name == "outcome" and page.next_step is None):
        raise Http404
    editing = "" if "show" in request.GET else name
    return render(request, f"{PLAN}#{partial}", _context(request, page, editing=editing))


def _section_editor(request, patient_id, section, *, staff_only=False):
    """GET on a section's URL: for htmx its edit form (`?show=1` closes it again);
    without JavaScript the page, opened at the form."""
    patient, viewer = get_patient_for(request.user, patient_id)
    anchor = ANCHORS[section]
    if not request.htmx:
        return redirect(f"{page_url(viewer, patient)}?edit={anchor}#{anchor}")
    page = _page(request, patient, viewer)
    if page.contract is None:
        raise Http404
    editing = "" if "show" in request.GET else section
    if editing and (not viewer.can_write or (staff_only and viewer.kind != "staff")):
        raise PermissionDenied
    return render_plan(request, page, section=section, editing=editing)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def what_matters(request, patient_id):
    """What matters to me: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _section_editor(request, patient_id, "what_matters")

    page = _page_for_write(request, patient_id)

    def write(actor, form):
        services.set_what_matters(
            actor=actor,
            contract=page.contract,
            text=form.cleaned_data["what_matters"],
            goals=form.goal_list(),
            expected_version=form.cleaned_data["version"],
        )

    return _apply(
        request,
        page,
        section="what_matters",
        role="what_matters",
        write=write,
        editing="what_matters",
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def warning_signs(request, patient_id):
    """What to look out for and what to do then: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _section_editor(request, patient_id, "warning_signs")
    page = _page_for_write(request, patient_id)

    def write(actor, form):
        services.set_warning_signs(
            actor=actor,
            contract=page.contract,
            expected_version=form.cleaned_data["version"],
            signs=form.sign_list(),
        )

    return _apply(
        request,
        page,
        section="warning_signs",
        role="warning_signs",
        write=write,
        editing="warning_signs",
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def contact_paths(request, patient_id):
    """How to reach us, written by the care team: the edit form (GET) and saving it (POST)."""
    if request.method == "GET":
        return _section_editor(request, patient_id, "contact_paths", staff_only=True)
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

    return _apply(
        request,
        page,
        section="contact_paths",
        role="contact_paths",
        write=write,
        editing="contact_paths",
    )


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

    return _apply(request, page, section="commitments", role="tick", write=write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def add_commitment(request, patient_id):
    """Add a commitment; GET gives the form (for htmx just the form)."""
    if request.method == "GET":
        return _staff_form(request, patient_id, "new_commitment")
    page = _page_for_write(request, patient_id, staff_only=True)

    def write(actor, form):
        data = form.cleaned_data
        services.add_commitment(
            actor=actor,
            contract=page.contract,
            expected_version=data["version"],
            what=data["what"],
            due_date=data["due_date"],
            **owner_arguments(data["owner"], page),
        )

    return _apply(request, page, section="commitments", role="new_commitment", write=write)


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
        anchor = f"commitment-{commitment.pk}"
        if not request.htmx:
            return redirect(f"{page_url(page.viewer, page.patient)}?edit={anchor}#{anchor}")
        editing = "" if "show" in request.GET else f"commitment_{commitment.pk}"
        if editing and not commitment.may_update:
            raise PermissionDenied
        context = _context(request, page, editing=editing)
        context["c"] = commitment
        return render(request, f"{PLAN}#commitment", context)

    def write(actor, form):
        data = form.cleaned_data
        owner = {}
        if data["owner"] != owner_value(commitment):
            owner = owner_arguments(data["owner"], page)
        services.update_commitment(
            actor=actor,
            commitment=page.commitment_to_change(commitment),
            expected_version=data["version"],
            what=data["what"],
            due_date=data["due_date"],
            cancel=data["cancel"],
            **owner,
        )

    return _apply(
        request,
        page,
        section="commitments",
        role="edit_commitment",
        write=write,
        commitment=commitment,
    )


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
        return _staff_form(request, patient_id, "next_step")
    page = _page_for_write(request, patient_id, staff_only=True)

    def write(actor, form):
        services.agree_next_step(
            actor=actor,
            contract=page.contract,
            expected_version=form.cleaned_data["version"],
            **_step_arguments(form.cleaned_data, page),
        )

    return _apply(request, page, section="next_step", role="next_step", write=write)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def record_outcome(request, patient_id):
    """What came of the next step, and the following step, in one form; GET gives it."""
    if request.method == "GET":
        return _staff_form(request, patient_id, "outcome")
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

    return _apply(request, page, section="next_step", role="outcome", write=write)


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

    return _apply(request, page, section="changes", role="agree", write=write)


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
