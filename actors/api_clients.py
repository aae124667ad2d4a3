"""API clients (integrations): created with their OAuth2 application in one step.

The client secret is shown once, when it is made; the database keeps only its hash."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from .models import ApiClient, Organisation


@transaction.atomic
def create_api_client(*, name: str, organisation: Organisation) -> tuple[ApiClient, str]:
    """A new integration for `organisation`: returns the client and its one-time secret."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the integration a name.")})
    if ApiClient.objects.filter(name=name).exists():
        raise ValidationError({"name": _("An integration with this name already exists.")})
    Application = get_application_model()
    secret = generate_client_secret()
    application = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
    )
    client = ApiClient.objects.create(name=name, organisation=organisation, application=application)
    return client, secret


@transaction.atomic
def deactivate_api_client(client: ApiClient) -> ApiClient:
    """Stop an integration. Its tokens stop working at once: every use of a bearer token
    checks `active` (naravard.oauth), and the token endpoint gives an inactive client no
    new one (naravard.oauth.ApiClientValidator). Its tokens are deleted as well, so that
    reactivating it does not bring them back."""
    ApiClient.objects.filter(pk=client.pk).update(active=False)
    client.active = False
    client.application.accesstoken_set.all().delete()
    client.application.refreshtoken_set.all().delete()
    return client
