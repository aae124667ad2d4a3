"""`python -m demo_idp demo_clients --redirect-base URL ...`: Naravard's two clients.

Makes (or updates) the applications "citizen" and "staff", confidential, authorization
code with PKCE, RS256 ID tokens, approved without asking (the demo signs for itself),
redirecting to Naravard's callbacks under each --redirect-base. Idempotent.
"""

from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

# Shared with scripts/run-local, which configures Naravard with the same values.
CLIENTS = {"citizen": ("naravard-citizen", "demo-citizen-secret"),
           "staff": ("naravard-staff", "demo-staff-secret")}  # fmt: skip


class Command(BaseCommand):
    help = "Register Naravard's citizen and staff clients with the demo provider."

    def add_arguments(self, parser):
        parser.add_argument("--redirect-base", action="append", required=True)

    def handle(self, *args, redirect_base, **options):
        Application = get_application_model()
        for kind, (client_id, secret) in CLIENTS.items():
            uris = " ".join(
                f"{base.rstrip('/')}/login/oidc/{kind}/callback/" for base in redirect_base
            )
            app = Application.objects.filter(client_id=client_id).first() or Application(
                client_id=client_id
            )
            app.name = kind
            app.client_type = Application.CLIENT_CONFIDENTIAL
            app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
            app.algorithm = Application.RS256_ALGORITHM
            app.skip_authorization = True
            app.redirect_uris = uris
            app.client_secret = secret  # hashed when saved
            app.save()
            self.stdout.write(f"{kind}: {client_id} -> {uris}")
