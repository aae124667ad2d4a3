"""`manage.py deactivate_api_client NAME`: stop an integration at once.

Its tokens stop working now and it gets no new ones: the token endpoint answers
`invalid_client` (naravard.oauth.ApiClientValidator)."""

from django.core.management.base import BaseCommand, CommandError

from actors.api_clients import deactivate_api_client
from actors.models import ApiClient


class Command(BaseCommand):
    help = (
        "Deactivate an API client (integration): its access tokens stop working at once "
        "and the token endpoint gives it no new ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration's name.")

    def handle(self, *args, **options):
        client = ApiClient.objects.filter(name=options["name"]).first()
        if client is None:
            raise CommandError(f"No integration named {options['name']!r}.")
        deactivate_api_client(client)
        self.stdout.write(f"{client.name} is deactivated: its tokens no longer work.")
