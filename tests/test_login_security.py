"""Logging in cannot be abused: one test per abuse case of the login by password or
e-mailed code (issue 15). E-legitimation (OIDC) has its own tests in test_oidc.py.

The counters use the database's clock (now()), which time_machine does not move, so a
wait "passing" is written as the counter's row moved into the past.
"""

import re
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from psycopg import sql
from second_factor import code_now, emailed_code, totp_device, wrong_code

from actors import auth, limits
from actors.assurance import LOA1, LOA2, level_of, method_of
from actors.models import LoginAttemptCount, LoginCode, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

LOGIN = "/login/"
SEND = "/login/code/"
ENTER = "/login/code/enter/"
SECOND = "/login/second-factor/"
WRONG_LOGIN = "Please enter a correct"  # Django's message for a wrong password


def new_client(**extra):
    return Client(headers={"accept-language": "en"}, **extra)


@pytest.fixture
def client():
    return new_client()


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="drift@example.org", password="pw")


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def password(client, email, secret="pw"):
    return client.post(LOGIN, {"username": email, "password": secret})


def ask_for_code(client, email):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(SEND, {"email": email})


def code_from_outbox(index=-1):
    return re.search(r"\b(\d{6})\b", mail.outbox[index].body).group(1)


def other_code(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def account_row(email):
    return LoginAttemptCount.objects.get(key=limits.account_key(email))


def wait_is_over(email):
    """As if the account's wait had passed."""
    LoginAttemptCount.objects.filter(key=limits.account_key(email)).update(
        blocked_until=timezone.now() - timedelta(seconds=1)
    )


def set_limits(settings, **changes):
    settings.NARAVARD_LOGIN_RATE_LIMITS = {**settings.NARAVARD_LOGIN_RATE_LIMITS, **changes}


# --- the second factor ----------------------------------------------------------------


def test_staff_password_alone_opens_no_session(client, doctor):
    device = totp_device(doctor)
    response = password(client, "doktor@example.org")
    assert response.status_code == 302
    assert response["Location"] == SECOND
    assert logged_in_user_id(client) is None
    # Nothing opens until the code is typed.
    worklist = reverse("patients:worklist")
    assert client.get(worklist)["Location"].startswith(LOGIN)

    response = client.post(SECOND, {"code": code_now(device)})
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(doctor.pk)
    assert client.get(worklist).status_code == 200
    request = client.get(reverse("home")).wsgi_request
    assert (level_of(request), method_of(request)) == (LOA2, "password+totp")
    assert request.user.is_verified()


def test_superuser_password_alone_opens_no_session(client, operator):
    device = totp_device(operator)
    assert password(client, "drift@example.org")["Location"] == SECOND
    assert logged_in_user_id(client) is None
    client.post(SECOND, {"code": code_now(device)})
    assert logged_in_user_id(client) == str(operator.pk)


def test_the_admin_asks_for_the_second_factor(client, operator):
    # A session without the second factor (as an e-mailed code would give) is not enough.
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"])["Location"] == f"{LOGIN}?next=/admin/"

    client.logout()
    device = totp_device(operator)
    response = client.post(
        LOGIN, {"username": "drift@example.org", "password": "pw", "next": "/admin/"}
    )
    assert client.get("/admin/").status_code == 302  # password alone: still not in
    response = client.post(response["Location"], {"code": code_now(device)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_authenticator_code_is_refused(client, doctor):
    device = totp_device(doctor)
    password(client, "doktor@example.org")
    for _ in range(2):
        response = client.post(SECOND, {"code": wrong_code(device)})
        assert response.status_code == 400
        assert "The code is wrong" in response.content.decode()
        assert logged_in_user_id(client) is None
    # The third wrong code ends the try: back to the password.
    response = client.post(SECOND, {"code": wrong_code(device)})
    assert response["Location"] == reverse("login")
    assert client.post(SECOND, {"code": code_now(device)})["Location"] == reverse("login")
    assert logged_in_user_id(client) is None
    # And each wrong code counted against the account (with the password's try).
    assert account_row("doktor@example.org").count == 4


def test_staff_without_an_app_set_one_up_with_a_qr_code(client, doctor):
    assert password(client, "doktor@example.org")["Location"] == SECOND
    page = client.get(SECOND)
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=doctor)
    assert not device.confirmed
    assert "<svg" in html and 'role="img"' in html
    secret = re.search(r"<code>([A-Z2-7 ]+)</code>", html).group(1)
    assert secret.replace(" ", "") in device.config_url
    assert logged_in_user_id(client) is None

    assert client.post(SECOND, {"code": wrong_code(device)}).status_code == 400
    device.refresh_from_db()
    assert not device.confirmed
    # With the code e-mailed to the account (actors.auth.send_enrolment_code).
    response = client.post(SECOND, {"email_code": emailed_code(doctor), "code": code_now(device)})
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(doctor.pk)
    device.refresh_from_db()
    assert device.confirmed
    # The next login asks for the code from that app; nobody can set up another one.
    other = new_client()
    password(other, "doktor@example.org")
    assert "<svg" not in other.get(SECOND).content.decode()


def test_a_password_alone_cannot_set_up_an_authenticator_app(client, doctor):
    # Someone with the password of a staff member who has no app yet: they see the QR
    # code, scan it into their own app and type its code; without the code mailed to
    # the staff member's address, the app is not set up and no session opens.
    mail.outbox.clear()
    password(client, "doktor@example.org")
    html = client.get(SECOND).content.decode()
    assert "Code from the e-mail" in html
    device = TOTPDevice.objects.get(user=doctor)
    assert [m.to for m in mail.outbox] == [["doktor@example.org"]]
    assert "setting up an authenticator app" in mail.outbox[0].body
    mailed = emailed_code(doctor)

    # The app's code alone is not enough.
    response = client.post(SECOND, {"code": code_now(device)})
    assert response.status_code == 400
    assert logged_in_user_id(client) is None
    # Nor with a wrong e-mailed code; the third wrong one ends the login.
    for _ in range(3):
        client.post(SECOND, {"email_code": other_code(mailed), "code": code_now(device)})
        assert logged_in_user_id(client) is None
    assert client.get(SECOND)["Location"] == reverse("login")
    device.refresh_from_db()
    assert not device.confirmed
    assert not TOTPDevice.objects.filter(user=doctor, confirmed=True).exists()


def test_wrong_emailed_codes_count_against_the_account(client, doctor):
    password(client, "doktor@example.org")
    client.get(SECOND)
    device = TOTPDevice.objects.get(user=doctor)
    client.post(SECOND, {"email_code": other_code(emailed_code(doctor)), "code": code_now(device)})
    # The password's try and the wrong e-mailed code.
    assert account_row("doktor@example.org").count == 2


def test_a_right_emailed_code_is_not_asked_again_after_a_wrong_app_code(client, doctor):
    password(client, "doktor@example.org")
    client.get(SECOND)
    device = TOTPDevice.objects.get(user=doctor)
    response = client.post(SECOND, {"email_code": emailed_code(doctor), "code": wrong_code(device)})
    assert response.status_code == 400
    assert "Code from the e-mail" not in response.content.decode()
    response = client.post(SECOND, {"code": code_now(device)})
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(doctor.pk)


def test_setting_up_the_app_mails_one_code_and_another_on_request(client, doctor):
    mail.outbox.clear()
    password(client, "doktor@example.org")
    client.get(SECOND)
    client.get(SECOND)  # reloading the page sends nothing more
    assert len(mail.outbox) == 1
    response = client.post(SECOND, {"resend": "1"})
    assert response["Location"] == SECOND
    assert len(mail.outbox) == 2
    # Both codes are live: the first one still works.
    device = TOTPDevice.objects.get(user=doctor)
    first = re.search(r"\b(\d{6})\b", mail.outbox[0].body).group(1)
    response = client.post(SECOND, {"email_code": first, "code": code_now(device)})
    assert response["Location"] == reverse("home")


# --- login methods per role -------------------------------------------------------------


def test_login_methods_are_set_per_role(client, doctor, tolvan, operator, settings):
    settings.NARAVARD_LOGIN_METHODS_STAFF = ["email_code"]
    settings.NARAVARD_LOGIN_METHODS_CITIZEN = ["email_code", "password"]
    # The right password of a staff member gets the answer a wrong one gets.
    response = password(client, "doktor@example.org")
    assert response.status_code == 200
    assert WRONG_LOGIN in response.content.decode()
    assert logged_in_user_id(client) is None
    # A citizen may use the password (no second factor), at level 1.
    response = password(client, "tolvan@example.org")
    assert response["Location"] == reverse("home")
    assert level_of(client.get(reverse("home")).wsgi_request) == LOA1
    # The operator may always reach the admin with password and code.
    other = new_client()
    assert password(other, "drift@example.org")["Location"] == SECOND

    settings.NARAVARD_LOGIN_METHODS_STAFF = ["password"]
    ask_for_code(new_client(), "doktor@example.org")
    assert mail.outbox == []


def test_with_a_staff_idp_staff_use_neither_code_nor_password(
    client, doctor, tolvan, operator, settings
):
    settings.NARAVARD_OIDC_PROVIDERS = {
        "staff": {"issuer": "https://idp.example.org", "client_id": "naravard"}
    }
    # Asking for a code: the same answer as for anyone, and no mail.
    staff = ask_for_code(client, "doktor@example.org")
    citizen = ask_for_code(new_client(), "tolvan@example.org")
    assert (staff.status_code, staff["Location"]) == (citizen.status_code, citizen["Location"])
    assert [m.to for m in mail.outbox] == [["tolvan@example.org"]]
    # A code made before the provider was configured is refused at the check step.
    code = auth.issue_login_code(doctor)
    response = client.post(ENTER, {"code": code})
    assert response.status_code == 400
    assert "wrong or no longer valid" in response.content.decode()
    assert logged_in_user_id(client) is None
    # The right password gets the wrong password's answer.
    response = password(new_client(), "doktor@example.org")
    assert response.status_code == 200
    assert WRONG_LOGIN in response.content.decode()
    # The operator keeps password + authenticator code: the way into the admin when the
    # provider is down or does not know them.
    assert password(new_client(), "drift@example.org")["Location"] == SECOND


# --- limits -------------------------------------------------------------------------


def test_successful_logins_do_not_count_toward_the_limits(client, doctor, settings):
    # One address (a ward's network) where everyone logs in all day long.
    set_limits(settings, ip_failures=3, account_free_failures=3, per_ip=3, per_email=3)
    device = totp_device(doctor)
    for _ in range(6):
        device.last_t = -1  # each login in this test uses the same time step's code
        device.save(update_fields=["last_t"])
        assert password(client, "doktor@example.org")["Location"] == SECOND
        assert client.post(SECOND, {"code": code_now(device)})["Location"] == reverse("home")
        client.logout()
    # The failures allowed are all still there.
    for _ in range(2):
        assert password(client, "doktor@example.org", "wrong").status_code == 200


def test_failures_make_the_account_wait_longer_each_time_and_the_wait_ends(
    client, doctor, settings
):
    free = settings.NARAVARD_LOGIN_RATE_LIMITS["account_free_failures"]
    for _ in range(free):
        assert password(client, "doktor@example.org", "wrong").status_code == 200
    waits = []
    for _ in range(3):
        # While waiting even the right password is refused unchecked, and trying does
        # not make the wait longer.
        count = account_row("doktor@example.org").count
        refused = password(new_client(), "doktor@example.org")
        assert refused.status_code == 429
        assert "Too many attempts" in refused.content.decode()
        assert account_row("doktor@example.org").count == count
        waits.append(int(refused["Retry-After"]))
        wait_is_over("doktor@example.org")
        assert password(client, "doktor@example.org", "wrong").status_code == 200
    assert [round(w / 60) for w in waits] == [1, 2, 4]
    # Never longer than the cap: no stranger locks a named person out for good.
    LoginAttemptCount.objects.filter(key=limits.account_key("doktor@example.org")).update(
        count=60, blocked_until=timezone.now() - timedelta(seconds=1)
    )
    password(client, "doktor@example.org", "wrong")
    retry = int(password(client, "doktor@example.org")["Retry-After"])
    assert retry <= settings.NARAVARD_LOGIN_RATE_LIMITS["account_max_delay_seconds"]
    # After the wait the right password and code log in, and the count starts over.
    wait_is_over("doktor@example.org")
    device = totp_device(doctor)
    assert password(client, "doktor@example.org")["Location"] == SECOND
    client.post(SECOND, {"code": code_now(device)})
    assert logged_in_user_id(client) == str(doctor.pk)
    assert not LoginAttemptCount.objects.filter(
        key=limits.account_key("doktor@example.org")
    ).exists()


def test_many_failures_from_one_address_wait_too(client, doctor, settings):
    set_limits(settings, ip_failures=4)
    for n in range(4):
        assert password(client, f"person{n}@example.org", "wrong").status_code == 200
    assert password(client, "doktor@example.org").status_code == 429
    # Another address is not held back.
    other = new_client(REMOTE_ADDR="192.0.2.7")
    assert password(other, "doktor@example.org")["Location"] == SECOND


@contextmanager
def login_counters_refused():
    """While inside, the database refuses the app's writes to the login counters (the
    owner takes them away on another connection, and gives them back)."""
    role = sql.Identifier(connection.settings_dict["USER"])
    with psycopg.connect(django_settings.MIGRATION_DATABASE_URL, autocommit=True) as owner:
        owner.execute(
            sql.SQL("REVOKE INSERT, UPDATE ON actors_loginattemptcount FROM {}").format(role)
        )
        try:
            yield
        finally:
            owner.execute(
                sql.SQL("GRANT INSERT, UPDATE ON actors_loginattemptcount TO {}").format(role)
            )


def test_with_the_counters_out_of_reach_nobody_logs_in_uncounted(client, doctor, tolvan):
    session = client.session
    session["login_code_email"] = "tolvan@example.org"
    session.save()
    code = auth.issue_login_code(tolvan.user)
    with login_counters_refused():
        responses = [
            password(new_client(), "tolvan@example.org"),  # right password, citizen
            password(new_client(), "doktor@example.org"),
            client.post(ENTER, {"code": code}),  # the right code
            new_client().post(SEND, {"email": "tolvan@example.org"}),
        ]
    for response in responses:
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert "not possible just now" in response.content.decode()
    assert logged_in_user_id(client) is None
    assert LoginCode.objects.get(user=tolvan.user).used_at is None


# --- the e-mailed code ------------------------------------------------------------------


def shape(statement: str) -> str:
    """A statement without its values: literals, numbers and savepoint names taken out."""
    return re.sub(r"'(?:[^']|'')*'|\"s\d+_x\d+\"|\b\d+\b", "?", statement)


def test_asking_for_a_code_does_the_same_work_for_known_and_unknown_addresses(tolvan):
    work = {}
    for email in ("tolvan@example.org", "nobody@example.org"):
        with (
            CaptureQueriesContext(connection) as queries,
            TestCase.captureOnCommitCallbacks() as queued,
        ):
            response = new_client().post(SEND, {"email": email})
        assert response.status_code == 302
        work[email] = ([shape(q["sql"]) for q in queries], len(queued))
        # Whether the address has an account is not looked at in the request.
        assert not any("actors_user" in q["sql"] or "actors_logincode" in q["sql"] for q in queries)
        assert len(queued) == 1
        for callback in queued:
            callback()  # what the worker does once the request has committed
    assert work["tolvan@example.org"] == work["nobody@example.org"]
    assert [m.to for m in mail.outbox] == [["tolvan@example.org"]]


def test_asking_again_leaves_the_first_code_usable(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    first = code_from_outbox()
    # Someone else who knows the address asks for a code too.
    ask_for_code(new_client(), "tolvan@example.org")
    assert len(mail.outbox) == 2
    response = client.post(ENTER, {"code": first})
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(tolvan.user.pk)


def test_live_codes_share_one_guessing_budget(client, tolvan, settings):
    """Three live codes are three chances per guess; a wrong guess costs each of them a
    try, so each code still meets at most MAX_WRONG_TRIES guesses in all."""
    set_limits(settings, account_free_failures=100)
    for _ in range(auth.MAX_LIVE_CODES):
        ask_for_code(client, "tolvan@example.org")
    codes = {code_from_outbox(i) for i in range(auth.MAX_LIVE_CODES)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in codes)
    for _ in range(auth.MAX_WRONG_TRIES):
        assert client.post(ENTER, {"code": wrong}).status_code == 400
    rows = LoginCode.objects.filter(user=tolvan.user)
    assert [row.attempts for row in rows] == [auth.MAX_WRONG_TRIES] * auth.MAX_LIVE_CODES
    assert all(row.used_at is not None for row in rows)
    for code in codes:
        assert client.post(ENTER, {"code": code}).status_code == 400
    assert logged_in_user_id(client) is None
