"""`manage.py create_api_client NAME --organisation ID-or-HSA-id`: a new integration."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from actors.api_clients import create_api_client
from actors.models import Organisation


class Command(BaseCommand):
    help = (
        "Create an API client (integration) for one organisation and print its OAuth2 "
        "client id and secret. The secret is shown only now."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name people will recognise in the access log.")
        parser.add_argument(
            "--organisation", required=True, help="The organisation's id or HSA-id."
        )

    def handle(self, *args, **options):
        key = options["organisation"]
        organisation = (
            Organisation.objects.filter(pk=int(key)).first()
            if key.isdigit()
            else Organisation.objects.filter(hsa_id=key).first()
        )
        if organisation is None:
            raise CommandError(f"No organisation with id or HSA-id {key!r}.")
        try:
            client, secret = create_api_client(name=options["name"], organisation=organisation)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Integration:   {client.name} ({organisation})")
        self.stdout.write(f"client_id:     {client.application.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write(
            "Get a token: POST /oauth/token/ with grant_type=client_credentials, "
            "the id and secret (HTTP Basic), and scope 'read' or 'read write'."
        )
