from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushConfig(AppConfig):
    name = "push"
    verbose_name = _("Push to integrations")

    def ready(self):
        # As reminders.apps: every process knows the tasks, so a wake-up can run
        # in-process under CELERY_TASK_ALWAYS_EAGER.
        from . import tasks  # noqa: F401
