"""Is this installation ready to serve? The database answers with every migration
applied, and the cache and the broker (Redis) answer. `/ready/` (load balancers) and
`manage.py ready` (the restore drill, operators) ask the same questions here."""

import logging

from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from naravard.celery import app as celery_app

log = logging.getLogger(__name__)


def checks() -> dict[str, str]:
    """Each check's answer: "ok", or what is wrong."""
    answers = {"database": "ok", "migrations": "ok", "cache": "ok", "broker": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            answers["migrations"] = "pending"
    except Exception:  # noqa: BLE001 - any failure means not ready, and is logged
        log.warning("readiness: database check failed", exc_info=True)
        answers["database"] = answers["migrations"] = "unavailable"
    try:
        cache.get("naravard:ready")
    except Exception:  # noqa: BLE001
        log.warning("readiness: cache check failed", exc_info=True)
        answers["cache"] = "unavailable"
    try:
        with celery_app.connection_for_write() as broker:
            broker.default_channel.client.ping()
    except Exception:  # noqa: BLE001
        log.warning("readiness: broker check failed", exc_info=True)
        answers["broker"] = "unavailable"
    return answers


def ready(answers: dict[str, str]) -> bool:
    return all(answer == "ok" for answer in answers.values())
