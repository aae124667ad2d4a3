"""Jobs for accounts (Celery, thin: the work is in actors.auth and actors.limits)."""

from celery import shared_task

from . import auth, limits


@shared_task
def forget_login_attempt_counts() -> int:
    return limits.forget_ended_windows()


@shared_task(ignore_result=True)
def send_login_code(email: str) -> None:
    """Look the address up and mail a code if it may have one (actors.auth)."""
    auth.send_login_code(email)
