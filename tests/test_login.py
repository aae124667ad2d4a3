"""Logging in: a one-time code by e-mail, a password for staff, rate limits.

The abuse cases (second factor, methods per role, growing waits, failing closed, the
same work for every address) are in test_login_security.py."""

import re
import socket
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import caches
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone
from second_factor import code_now, totp_device

from actors import auth, limits
from actors.models import LoginAttemptCount, LoginCode

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

LOGIN = "/login/"
SEND = "/login/code/"
ENTER = "/login/code/enter/"
NEUTRAL = "If there is an account for"


@pytest.fixture
def client():
    # English msgids: the assertions must not depend on the Swedish catalogue.
    return Client(headers={"accept-language": "en"})


def ask_for_code(client, email, **extra):
    # The code is looked up and mailed by a task once the request commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(SEND, {"email": email, **extra})


def code_from_outbox():
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def same_page(html, email):
    """The page with the address and the per-session CSRF token taken out."""
    html = html.replace(email, "EMAIL")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def test_login_page_offers_a_code_by_email_first_and_a_password_for_staff(client):
    html = client.get(LOGIN).content.decode()
    assert html.index("Log in with a code by e-mail") < html.index("log in with a password")
    assert f'action="{SEND}"' in html
    assert 'name="password"' in html


def test_asking_for_a_code_sends_six_digits_and_stores_only_a_hash(client, tolvan):
    response = ask_for_code(client, "Tolvan@Example.org ")
    assert response.status_code == 302
    assert response["Location"] == ENTER
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["tolvan@example.org"]
    code = code_from_outbox()
    stored = LoginCode.objects.get(user=tolvan.user)
    assert code not in stored.code_hash
    assert stored.expires_at - timezone.now() <= timedelta(minutes=10)
    assert "19121212" not in mail.outbox[0].body  # a login mail carries no patient data


def test_an_unknown_email_gets_the_same_answer_and_no_mail(client, tolvan):
    known = ask_for_code(client, "tolvan@example.org")
    known_page = client.get(known["Location"]).content.decode()
    other = Client(headers={"accept-language": "en"})
    unknown = ask_for_code(other, "nobody@example.org")
    unknown_page = other.get(unknown["Location"]).content.decode()
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert NEUTRAL in known_page and NEUTRAL in unknown_page
    assert same_page(known_page, "tolvan@example.org") == same_page(
        unknown_page, "nobody@example.org"
    )
    assert len(mail.outbox) == 1


def test_an_inactive_account_gets_no_code(client, tolvan):
    tolvan.user.is_active = False
    tolvan.user.save()
    ask_for_code(client, "tolvan@example.org")
    assert mail.outbox == []


def test_patient_logs_in_with_the_code_and_gets_a_new_session(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    session_before = client.session.session_key
    response = client.post(ENTER, {"code": code_from_outbox()})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(tolvan.user.pk)
    assert client.session.session_key != session_before


def test_the_code_may_be_typed_with_spaces(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    code = code_from_outbox()
    client.post(ENTER, {"code": f"{code[:3]} {code[3:]}"})
    assert logged_in_user_id(client) == str(tolvan.user.pk)


def test_a_code_works_only_once(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    code = code_from_outbox()
    client.post(ENTER, {"code": code})
    assert logged_in_user_id(client) == str(tolvan.user.pk)
    # Someone who saw the code over the shoulder tries it too.
    other = Client(headers={"accept-language": "en"})
    session = other.session
    session["login_code_email"] = "tolvan@example.org"
    session.save()
    response = other.post(ENTER, {"code": code})
    assert response.status_code == 400
    assert logged_in_user_id(other) is None


def test_an_expired_code_is_refused(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    code = code_from_outbox()
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = client.post(ENTER, {"code": code})
    assert response.status_code == 400
    assert "wrong or no longer valid" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_five_wrong_codes_burn_the_code(client, tolvan, settings):
    # The account's wait after five failures is another guard (test_login_security.py).
    settings.NARAVARD_LOGIN_RATE_LIMITS = {
        **settings.NARAVARD_LOGIN_RATE_LIMITS,
        "account_free_failures": 10,
    }
    ask_for_code(client, "tolvan@example.org")
    code = code_from_outbox()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(auth.MAX_WRONG_TRIES):
        client.post(ENTER, {"code": wrong})
    response = client.post(ENTER, {"code": code})
    assert response.status_code == 400
    assert logged_in_user_id(client) is None
    assert LoginCode.objects.get(user=tolvan.user).used_at is not None


def test_a_code_used_retires_the_other_live_codes(client, tolvan):
    ask_for_code(client, "tolvan@example.org")
    first = code_from_outbox()
    ask_for_code(client, "tolvan@example.org")
    second = code_from_outbox()
    if first == second:
        pytest.skip("the two random codes happened to be equal")
    client.post(ENTER, {"code": second})
    assert logged_in_user_id(client) == str(tolvan.user.pk)
    assert not LoginCode.objects.filter(user=tolvan.user, used_at__isnull=True).exists()


def test_no_more_than_three_codes_are_live_at_once(client, tolvan):
    for _ in range(auth.MAX_LIVE_CODES + 2):
        assert ask_for_code(client, "tolvan@example.org").status_code == 302
    assert len(mail.outbox) == auth.MAX_LIVE_CODES
    assert LoginCode.objects.filter(user=tolvan.user).count() == auth.MAX_LIVE_CODES


def test_sending_codes_is_limited_per_email(client, tolvan, settings):
    limit = settings.NARAVARD_LOGIN_RATE_LIMITS["per_email"]
    for _ in range(limit):
        assert ask_for_code(client, "tolvan@example.org").status_code == 302
    response = ask_for_code(client, "tolvan@example.org")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert len(mail.outbox) == auth.MAX_LIVE_CODES


def test_sending_codes_is_limited_per_ip_address(client, settings):
    settings.NARAVARD_LOGIN_RATE_LIMITS = {
        **settings.NARAVARD_LOGIN_RATE_LIMITS,
        "per_ip": 3,
        "per_email": 5,
    }
    statuses = [ask_for_code(client, f"person{i}@example.org").status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    # Another address is not held back by this one.
    other = Client(headers={"accept-language": "en"}, REMOTE_ADDR="192.0.2.7")
    assert ask_for_code(other, "person9@example.org").status_code == 302


def test_checking_codes_is_limited_per_email(client, tolvan, settings):
    settings.NARAVARD_LOGIN_RATE_LIMITS = {
        **settings.NARAVARD_LOGIN_RATE_LIMITS,
        "account_free_failures": 3,
    }
    ask_for_code(client, "tolvan@example.org")
    code = code_from_outbox()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    # Three wrong tries do not burn the code (that takes five), but make the next wait.
    for _ in range(3):
        assert client.post(ENTER, {"code": wrong}).status_code == 400
    response = client.post(ENTER, {"code": code})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_staff_logs_in_with_password_and_authenticator_code(client, doctor):
    device = totp_device(doctor)
    response = client.post(LOGIN, {"username": "doktor@example.org", "password": "pw"})
    assert response["Location"] == reverse("actors:second_factor")
    assert logged_in_user_id(client) is None
    response = client.post(response["Location"], {"code": code_now(device)})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(doctor.pk)


def test_password_login_is_rate_limited(client, doctor, settings):
    limit = settings.NARAVARD_LOGIN_RATE_LIMITS["account_free_failures"]
    for _ in range(limit):
        client.post(LOGIN, {"username": "doktor@example.org", "password": "wrong"})
    response = client.post(LOGIN, {"username": "doktor@example.org", "password": "pw"})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_code_login_returns_to_the_page_asked_for_but_not_elsewhere(client, tolvan):
    ask_for_code(client, "tolvan@example.org", next="/my-plan/access-log/")
    response = client.post(ENTER, {"code": code_from_outbox()})
    assert response["Location"] == "/my-plan/access-log/"
    client.logout()
    ask_for_code(client, "tolvan@example.org", next="https://evil.example/")
    response = client.post(ENTER, {"code": code_from_outbox()})
    assert response["Location"] == reverse("home")


def test_login_methods_come_from_settings(client, settings):
    settings.NARAVARD_LOGIN_METHODS_STAFF = ["email_code"]
    settings.NARAVARD_LOGIN_METHODS_CITIZEN = ["email_code"]
    html = client.get(LOGIN).content.decode()
    assert "Log in with a code by e-mail" in html
    assert 'name="password"' not in html


def test_the_code_step_without_an_email_goes_back_to_the_login_page(client):
    response = client.get(ENTER)
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


@pytest.fixture
def redis_down(settings):
    """The cache pointed at a loopback port where nothing listens (Redis stopped)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    machine = settings.CACHES
    settings.CACHES = {"default": {**machine["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}}
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises: it is down
        caches["default"].get("anything")
    yield
    settings.CACHES = machine  # back before the fixtures that clear the cache finish


def test_with_redis_down_people_can_still_log_in(client, tolvan, redis_down):
    ask_for_code(client, "tolvan@example.org")
    client.post(ENTER, {"code": code_from_outbox()})
    assert logged_in_user_id(client) == str(tolvan.user.pk)


@pytest.fixture
def broker_down(monkeypatch):
    """Celery pointed at a port where no Redis listens, and tasks sent to it (not run
    in-process as the rest of this module has them)."""
    from naravard.celery import app

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    eager = app.conf.task_always_eager
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    app.conf.task_always_eager = False
    reset_pools()
    yield
    monkeypatch.undo()
    app.conf.task_always_eager = eager
    reset_pools()


def test_with_the_broker_down_the_code_is_sent_from_the_web_process(client, tolvan, broker_down):
    assert ask_for_code(client, "tolvan@example.org").status_code == 302
    client.post(ENTER, {"code": code_from_outbox()})
    assert logged_in_user_id(client) == str(tolvan.user.pk)


def test_with_redis_down_the_login_limit_still_holds(client, doctor, settings, redis_down):
    # The limit must not open when someone takes Redis down: the counts are not there.
    limit = settings.NARAVARD_LOGIN_RATE_LIMITS["account_free_failures"]
    for _ in range(limit):
        client.post(LOGIN, {"username": "doktor@example.org", "password": "wrong"})
    response = client.post(LOGIN, {"username": "doktor@example.org", "password": "pw"})
    assert response.status_code == 429
    assert logged_in_user_id(client) is None


def test_failures_forgotten_after_a_day_count_from_one_again(client, doctor, settings):
    free = settings.NARAVARD_LOGIN_RATE_LIMITS["account_free_failures"]
    for _ in range(free - 1):
        client.post(LOGIN, {"username": "doktor@example.org", "password": "wrong"})
    LoginAttemptCount.objects.update(window_ends=timezone.now() - timedelta(seconds=1))
    # Without the forgetting this failure would be the last free one, and the next wait.
    client.post(LOGIN, {"username": "doktor@example.org", "password": "wrong"})
    right = {"username": "doktor@example.org", "password": "pw"}
    assert client.post(LOGIN, right)["Location"] == reverse("actors:second_factor")


def test_counts_of_ended_windows_are_forgotten(client, doctor):
    client.post(LOGIN, {"username": "doktor@example.org", "password": "wrong"})
    keys = set(LoginAttemptCount.objects.values_list("key", flat=True))
    assert len(keys) >= 2  # the address and the e-mail, for each backend that counted
    ended = LoginAttemptCount.objects.order_by("key").first()
    ended.window_ends = timezone.now() - timedelta(seconds=1)
    ended.save()
    assert limits.forget_ended_windows() == 1
    assert set(LoginAttemptCount.objects.values_list("key", flat=True)) == keys - {ended.key}


def test_the_admin_has_no_password_form_of_its_own(client, doctor):
    # Its login sends people to /login/, with the same limits and second factor.
    doctor.is_staff = True
    doctor.save()
    response = client.post("/admin/login/", {"username": "doktor@example.org", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/admin/"
    assert logged_in_user_id(client) is None
    assert 'name="password"' in client.get(response["Location"]).content.decode()


def test_logging_out_goes_back_to_the_login_page(client, tolvan):
    client.force_login(tolvan.user)
    response = client.post("/logout/")
    assert response["Location"] == reverse("login")
    assert logged_in_user_id(client) is None
