"""Housekeeping jobs for accounts (Celery, thin: the work is in actors.auth)."""

from celery import shared_task

from . import auth


@shared_task
def forget_login_attempt_counts() -> int:
    return auth.forget_ended_windows()
