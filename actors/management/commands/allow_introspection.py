"""`manage.py allow_introspection NAME [--revoke]`: let one integration check tokens.

An operator's decision, never the integration's: a client may ask the token endpoint for
the `introspection` scope only once this is set (naravard.oauth.ClientScopes), and even
then it learns only about its own organisation's tokens."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from actors.models import ApiClient


class Command(BaseCommand):
    help = (
        "Allow an API client (integration) to check its own organisation's access tokens "
        "(token introspection, RFC 7662), or take that back with --revoke."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The integration's name.")
        parser.add_argument(
            "--revoke", action="store_true", help="Take the permission back (and its tokens)."
        )

    @transaction.atomic
    def handle(self, *args, **options):
        client = ApiClient.objects.select_for_update().filter(name=options["name"]).first()
        if client is None:
            raise CommandError(f"No integration named {options['name']!r}.")
        client.may_introspect = not options["revoke"]
        client.save(update_fields=["may_introspect"])
        if options["revoke"]:
            # Tokens already issued with the scope stop working for it at once; the
            # introspection endpoint checks the permission on every call as well.
            client.application.accesstoken_set.filter(scope__contains="introspection").delete()
            self.stdout.write(f"{client.name} may no longer check tokens.")
        else:
            self.stdout.write(
                f"{client.name} may now ask for the scope 'introspection' and check the "
                f"tokens of {client.organisation}."
            )
