"""Forms for logging in."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .auth import CODE_DIGITS


class EmailForm(forms.Form):
    email = forms.EmailField(
        label=_("Your e-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


def code_field(label, help_text) -> forms.CharField:
    """A field for a one-time code of CODE_DIGITS digits, as phones fill one in."""
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def code_digits(value: str, missing_message) -> str:
    """The digits of a typed code: people paste codes with spaces ("123 456"), and only
    the digits count. `missing_message` (with %(digits)d) when there are not six."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) != CODE_DIGITS:
        raise forms.ValidationError(missing_message % {"digits": CODE_DIGITS})
    return digits


class CodeForm(forms.Form):
    code = code_field(_("Code from the e-mail"), _("The code has six digits."))

    def clean_code(self):
        return code_digits(
            self.cleaned_data["code"], _("Enter the %(digits)d digits from the e-mail.")
        )


class AuthenticatorCodeForm(forms.Form):
    """The six digits the authenticator app shows (TOTP, django-otp)."""

    code = code_field(
        _("Code from your authenticator app"),
        _("The app shows a new code of six digits every 30 seconds."),
    )

    def clean_code(self):
        return code_digits(
            self.cleaned_data["code"], _("Enter the %(digits)d digits from the app.")
        )


class EnrolmentForm(AuthenticatorCodeForm):
    """Setting up an authenticator app: the code e-mailed to the account's address (a
    second proof besides the password: actors.views._enrol) and the app's first code.
    Once the e-mailed code was right in this login, only the app's code is asked."""

    email_code = code_field(
        _("Code from the e-mail"), _("We sent a code of six digits to your e-mail address.")
    )
    field_order = ["email_code", "code"]

    def __init__(self, *args, email_proved=False, **kwargs):
        super().__init__(*args, **kwargs)
        if email_proved:
            del self.fields["email_code"]
        else:
            self.fields["code"].widget.attrs.pop("autofocus", None)

    def clean_email_code(self):
        return code_digits(
            self.cleaned_data["email_code"], _("Enter the %(digits)d digits from the e-mail.")
        )
