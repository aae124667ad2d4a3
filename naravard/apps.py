from django.apps import AppConfig


class NaravardConfig(AppConfig):
    """The project's own app: its commands, checks and the session clocks."""

    name = "naravard"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .middleware import start_session_clock

        user_logged_in.connect(start_session_clock, dispatch_uid="naravard_session_clock")
