"""The Celery app. Beat schedules live in `contracts.tasks`; due work lives in the database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naravard.settings")

app = Celery("naravard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
