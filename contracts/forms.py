"""Forms for the plan pages. They parse input only; the services decide and write.

Every write form carries the plan `version` the user saw, so that a change made by
someone else in between is refused instead of silently overwritten.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Channel, Commitment, ContactPath, OwnerKind


class Picker(forms.Select):
    """A select whose options are written by one loop in its template.

    A team picker (who does it, with whom) lists every active staff member of the care
    team, hundreds in a large unit. Django's own select includes a template per option
    and builds a dict for each first (`optgroups`); here each option is a plain
    (value, label, selected) row and contracts/widgets/picker.html writes them all."""

    template_name = "contracts/widgets/picker.html"

    def get_context(self, name, value, attrs):
        context = forms.Widget.get_context(self, name, value, attrs)
        chosen = set(context["widget"]["value"])
        groups = []
        for group, options in self._grouped():
            rows = []
            for option_value, label in options:
                option_value = "" if option_value is None else str(option_value)
                selected = option_value in chosen
                if selected:
                    chosen = set()  # one selected option, as in Django's own select
                rows.append((option_value, label, selected))
            groups.append((group, rows))
        context["widget"]["groups"] = groups
        return context

    def _grouped(self):
        for value, label in self.choices:
            if isinstance(label, (list, tuple)):
                yield value, label
            else:
                yield None, [(value, label)]


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        """The form as the plan page offers it: the version the page shows, and in the
        subclasses the current content and the choices from the page's care team."""
        return cls(data, initial={"version": page.version}, **kwargs)


class WhatMattersForm(VersionForm):
    what_matters = forms.CharField(
        label=_("What matters to me"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    goals = forms.CharField(
        label=_("My goals, one on each line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        initial = {
            "version": page.version,
            "what_matters": page.contract.what_matters,
            "goals": "\n".join(goal.text for goal in page.goals),
        }
        return cls(data, initial=initial, **kwargs)

    def goal_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["goals"].splitlines() if line.strip()]


class RowsForm(VersionForm):
    """A list section edited as a whole: the version plus one formset row per item.

    Existing items come first, then a few blank rows; ticking "Remove" drops a row.
    The service replaces the whole list with the rows that are left."""

    row_formset = None  # set by subclasses
    rows_prefix = "rows"

    def __init__(self, data=None, *, rows=(), auto_id="id_%s", row_kwargs=None, **kwargs):
        super().__init__(data, auto_id=auto_id, **kwargs)
        self.rows = self.row_formset(
            data,
            initial=list(rows),
            prefix=self.rows_prefix,
            auto_id=auto_id,
            form_kwargs=row_kwargs or {},
        )

    def is_valid(self) -> bool:
        # Both, so that errors show in the version form and in every row at once.
        return all([super().is_valid(), self.rows.is_valid()])

    def kept_rows(self) -> list[dict]:
        """The filled-in rows the user did not remove, in page order."""
        return [
            row.cleaned_data
            for row in self.rows.forms
            if row.cleaned_data
            and not row.cleaned_data.get("DELETE")
            and any(row.cleaned_data.get(name) for name in row.fields if name != "DELETE")
        ]


class WarningSignRow(forms.Form):
    sign = forms.CharField(label=_("If I notice"), required=False, max_length=300)
    action = forms.CharField(label=_("Then I"), required=False, max_length=300)

    def clean(self):
        data = super().clean()
        if bool(data.get("sign")) != bool(data.get("action")):
            name = "action" if data.get("sign") else "sign"
            self.add_error(name, _("Fill in both what you notice and what you do then."))
        return data


class WarningSignsForm(RowsForm):
    row_formset = forms.formset_factory(WarningSignRow, extra=2, can_delete=True)
    rows_prefix = "signs"

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        rows = [{"sign": s.sign, "action": s.action} for s in page.warning_signs]
        return cls(data, rows=rows, initial={"version": page.version}, **kwargs)

    def sign_list(self) -> list[tuple[str, str]]:
        return [(row["sign"], row["action"]) for row in self.kept_rows()]


class ContactPathRow(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Choose"))] + ContactPath.Kind.choices
    )
    label = forms.CharField(label=_("Name"), required=False, max_length=200)
    value = forms.CharField(label=_("Number or address"), required=False, max_length=300)
    hours = forms.CharField(label=_("When"), required=False, max_length=200)
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)

    def __init__(self, *args, organisation_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", _("None named"))] + list(organisation_choices)

    def clean(self):
        data = super().clean()
        if any(data.get(name) for name in ("kind", "label", "value", "hours", "organisation")):
            for name in ("kind", "label", "value"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("Fill this in, or remove the row."))
        return data


class ContactPathsForm(RowsForm):
    row_formset = forms.formset_factory(ContactPathRow, extra=2, can_delete=True)
    rows_prefix = "paths"

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
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
        team = [(str(m.organisation_id), m.organisation.name) for m in page.team]
        return cls(
            data,
            rows=rows,
            initial={"version": page.version},
            row_kwargs={"organisation_choices": team},
            **kwargs,
        )


class TickForm(VersionForm):
    done = forms.TypedChoiceField(
        choices=[("1", _("Done")), ("0", _("Not done"))], coerce=lambda value: value == "1"
    )


class AgreeForm(VersionForm):
    pass


class StartPlanForm(forms.Form):
    what_matters = forms.CharField(
        label=_("What matters to the patient, in their own words"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NextStepFields(forms.Form):
    """When, how, where, with whom and why; shared by the two next-step forms."""

    scheduled_at = forms.DateTimeField(
        label=_("Date and time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    channel = forms.ChoiceField(label=_("How"), choices=Channel.choices)
    location = forms.CharField(label=_("Where"), required=False, max_length=200)
    staff = forms.ChoiceField(label=_("With whom (staff member)"), required=False, widget=Picker)
    with_whom = forms.CharField(label=_("With whom (in words)"), required=False, max_length=200)
    purpose = forms.CharField(
        label=_("Why"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, staff_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = [("", _("Not named"))] + list(staff_choices)


class NextStepForm(VersionForm, NextStepFields):
    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        initial = {"version": page.version}
        return cls(data, staff_choices=staff_choices(page), initial=initial, **kwargs)


class OutcomeForm(NextStepForm):
    """The outcome of the planned next step and, in the same form, the following one."""

    outcome = forms.CharField(
        label=_("What came of it"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    happened = forms.TypedChoiceField(
        label=_("Did it happen?"),
        choices=[("1", _("Yes")), ("0", _("No, it did not happen"))],
        coerce=lambda value: value == "1",
        initial="1",
        widget=forms.RadioSelect,
    )

    FOLLOWING = ("scheduled_at", "channel", "location", "staff", "with_whom", "purpose")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The following step is optional: some outcomes close the matter.
        for name in self.FOLLOWING:
            self.fields[name].required = False
        self.fields["channel"].choices = [("", _("Choose"))] + list(Channel.choices)

    def clean(self):
        data = super().clean()
        given = any(data.get(name) for name in ("scheduled_at", "purpose", "location", "with_whom"))
        if given:
            for name in ("scheduled_at", "channel", "purpose"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("Fill this in for the following step."))
        return data

    @property
    def has_following_step(self) -> bool:
        return bool(self.cleaned_data.get("scheduled_at"))


class CommitmentForm(VersionForm):
    what = forms.CharField(
        label=_("What"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    owner = forms.ChoiceField(label=_("Who does it"), widget=Picker)
    due_date = forms.DateField(
        label=_("By when"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, owner_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = list(owner_choices)

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        initial = {"version": page.version}
        return cls(data, owner_choices=owner_choices(page), initial=initial, **kwargs)


class CommitmentEditForm(CommitmentForm):
    """Change, hand over or cancel one commitment of the viewer's organisation."""

    cancel = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].label = _("Hand over to")

    @classmethod
    def for_page(cls, page, data=None, *, commitment=None, **kwargs):
        initial = {
            "version": page.version,
            "owner": owner_value(commitment),
            **{name: getattr(commitment, name) for name in Commitment.EDITABLE},
        }
        return cls(data, owner_choices=owner_choices(page), initial=initial, **kwargs)


# --- owner picker values ---------------------------------------------------------
# One select for the owner: "patient", "relative:<id>", "organisation:<id>",
# "staff:<organisation id>:<user id>". The view turns a value back into objects
# from the plan page it already fetched, so no id is trusted without that list.


def owner_choices(page) -> list:
    """Grouped choices for the owner picker, from what the plan page fetched."""
    choices = [(_("The patient"), [("patient", page.patient.full_name)])]
    relatives = [(f"relative:{r.pk}", r.name) for r in page.relatives]
    if relatives:
        choices.append((_("Relatives"), relatives))
    orgs = [(f"organisation:{m.organisation_id}", m.organisation.name) for m in page.team]
    if orgs:
        choices.append((_("Organisations"), orgs))
    staff = [
        (f"staff:{m.organisation_id}:{m.user_id}", f"{m.user}, {m.organisation.name}")
        for m in page.team_staff
    ]
    if staff:
        choices.append((_("Named staff"), _dedupe(staff)))
    return choices


def _dedupe(pairs):
    seen, result = set(), []
    for value, label in pairs:
        if value not in seen:
            seen.add(value)
            result.append((value, label))
    return result


def owner_value(commitment) -> str:
    kind = commitment.owner_kind
    if kind == OwnerKind.PATIENT:
        return "patient"
    if kind == OwnerKind.RELATIVE:
        return f"relative:{commitment.owner_relative_id}"
    if kind == OwnerKind.STAFF:
        return f"staff:{commitment.owner_organisation_id}:{commitment.owner_staff_id}"
    return f"organisation:{commitment.owner_organisation_id}"


def owner_arguments(value: str, page) -> dict:
    """The owner keyword arguments for the services, from a picker value."""
    parts = (value or "").split(":")
    organisations = {m.organisation_id: m.organisation for m in page.team}
    try:
        if parts == ["patient"]:
            return {"owner_kind": OwnerKind.PATIENT}
        if parts[0] == "relative":
            relatives = {r.pk: r for r in page.relatives}
            return {"owner_kind": OwnerKind.RELATIVE, "owner_relative": relatives[int(parts[1])]}
        if parts[0] == "organisation":
            return {
                "owner_kind": OwnerKind.ORGANISATION,
                "owner_organisation": organisations[int(parts[1])],
            }
        if parts[0] == "staff":
            org_id, user_id = int(parts[1]), int(parts[2])
            staff = {(m.organisation_id, m.user_id): m.user for m in page.team_staff}
            return {
                "owner_kind": OwnerKind.STAFF,
                "owner_organisation": organisations[org_id],
                "owner_staff": staff[(org_id, user_id)],
            }
    except (KeyError, IndexError, ValueError):
        pass
    raise ValidationError({"owner": _("Choose who does it.")})


def staff_choices(page) -> list:
    """Staff of the viewer's organisation, for "with whom" in a next step."""
    organisation = page.viewer.organisation if page.viewer else None
    if organisation is None:
        return []
    return _dedupe(
        [
            (str(m.user_id), str(m.user))
            for m in page.team_staff
            if m.organisation_id == organisation.pk
        ]
    )
