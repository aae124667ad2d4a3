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


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the e-mail"),
        help_text=_("The code has six digits."),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self):
        # People paste codes with spaces ("123 456"); only the digits count.
        digits = "".join(ch for ch in self.cleaned_data["code"] if ch.isdigit())
        if len(digits) != CODE_DIGITS:
            raise forms.ValidationError(
                _("Enter the %(digits)d digits from the e-mail.") % {"digits": CODE_DIGITS}
            )
        return digits


class AuthenticatorCodeForm(CodeForm):
    """The six digits the authenticator app shows (TOTP, django-otp)."""

    code = forms.CharField(
        label=_("Code from your authenticator app"),
        help_text=_("The app shows a new code of six digits every 30 seconds."),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self):
        digits = "".join(ch for ch in self.cleaned_data["code"] if ch.isdigit())
        if len(digits) != CODE_DIGITS:
            raise forms.ValidationError(
                _("Enter the %(digits)d digits from the app.") % {"digits": CODE_DIGITS}
            )
        return digits


class EnrolmentForm(AuthenticatorCodeForm):
    """Setting up an authenticator app: the code e-mailed to the account's address (a
    second proof besides the password: actors.views._enrol) and the app's first code.
    Once the e-mailed code was right in this login, only the app's code is asked."""

    email_code = forms.CharField(
        label=_("Code from the e-mail"),
        help_text=_("We sent a code of six digits to your e-mail address."),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
    field_order = ["email_code", "code"]

    def __init__(self, *args, email_proved=False, **kwargs):
        super().__init__(*args, **kwargs)
        if email_proved:
            del self.fields["email_code"]
        else:
            self.fields["code"].widget.attrs.pop("autofocus", None)

    def clean_email_code(self):
        digits = "".join(ch for ch in self.cleaned_data["email_code"] if ch.isdigit())
        if len(digits) != CODE_DIGITS:
            raise forms.ValidationError(
                _("Enter the %(digits)d digits from the e-mail.") % {"digits": CODE_DIGITS}
            )
        return digits
