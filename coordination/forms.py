"""Forms for the coordinators' controls and the patient's survey. Choices come from the
page that shows the form, so a posted id outside them is refused as bad input."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import SurveyAnswer


class VersionField(forms.IntegerField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)


class ContactForm(forms.Form):
    """A staff member as fixed care contact. The value is a membership id, as the same
    person may work in two organisations on the team; `kind` keeps the ids of the
    queue's form ("assign") apart from the discharge page's ("appoint")."""

    version = VersionField()
    membership = forms.TypedChoiceField(label=_("Fixed care contact"), coerce=int)

    def __init__(self, *args, memberships=(), kind="assign", row_id="", **kwargs):
        kwargs.setdefault("auto_id", f"{kind}-{row_id}-%s")
        super().__init__(*args, **kwargs)
        self.memberships = {m.pk: m for m in memberships}
        self.fields["membership"].choices = [("", _("Choose a person"))] + [
            (m.pk, f"{m.user}, {m.organisation}" if kind == "assign" else str(m.user))
            for m in memberships
        ]

    @property
    def chosen(self):
        return self.memberships[self.cleaned_data["membership"]]


class SipCallForm(forms.Form):
    version = VersionField()
    meeting_at = forms.DateTimeField(
        label=_("Meeting time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
    )
    other_participants = forms.CharField(
        label=_("Also taking part (the patient, relatives, interpreter)"),
        max_length=300,
        required=False,
    )

    def __init__(self, *args, row_id="", **kwargs):
        kwargs.setdefault("auto_id", f"sip-{row_id}-%s")
        super().__init__(*args, **kwargs)


class VersionForm(forms.Form):
    version = VersionField()


class SurveyForm(forms.Form):
    answer = forms.TypedChoiceField(
        label=SurveyAnswer.QUESTION,
        coerce=int,
        widget=forms.RadioSelect,
        choices=[
            (1, _("1 – Not at all")),
            (2, "2"),
            (3, "3"),
            (4, "4"),
            (5, _("5 – Completely")),
        ],
    )
