"""The second factor in tests: a confirmed authenticator (TOTP) device for a user, the
code it shows now, the code e-mailed for setting an app up, and a logged-in test client
that passed the second factor.

Staff password logins and the admin ask for the code (actors.views, actors.admin_site);
tests that are not about logging in start from `verified_login`, as a person who has
just typed password and code would.
"""

import re

from django.core import mail
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from actors.assurance import LOA2, SESSION_KEY


def totp_device(user) -> TOTPDevice:
    """The user's confirmed device, made if there is none; ready to accept the current
    code (a code is accepted once, so a test that logs in twice resets `last_t`)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
    device.last_t = -1
    device.save(update_fields=["last_t"])
    return device


def code_now(device, offset_steps: int = 0) -> str:
    """The code the app shows now (or `offset_steps` steps away)."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset_steps)
    return f"{value:0{device.digits}d}"


def wrong_code(device) -> str:
    """A code that is none of those the device accepts now (tolerance: one step)."""
    accepted = {code_now(device, step) for step in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


def emailed_code(user) -> str:
    """The code in the last mail to the user (setting up an app needs it with the
    password: actors.views._enrol)."""
    sent = [m for m in mail.outbox if user.email in m.to]
    assert sent, f"no mail to {user.email}"
    return re.search(r"\b(\d{6})\b", sent[-1].body).group(1)


def verified_login(client, user) -> None:
    """Log the test client in as after password and authenticator code."""
    device = totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SESSION_KEY] = {"level": LOA2, "method": "password+totp"}
    session.save()
