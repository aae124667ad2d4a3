from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"

    def ready(self):
        # Celery knows a task once its module is imported, and wake-ups name their task
        # (reminders.wake). Registering the tasks in every process, the web's too, lets a
        # wake-up run in-process under CELERY_TASK_ALWAYS_EAGER instead of going to Redis.
        from . import tasks  # noqa: F401
