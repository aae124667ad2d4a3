"""The project's own jobs (Celery, thin: the work is in the modules they name)."""

from celery import shared_task

from naravard import chain


@shared_task
def seal_history() -> dict:
    return chain.seal_all()
