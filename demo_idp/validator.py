"""The claims the demo provider puts in its ID tokens (and userinfo)."""

from oauth2_provider.oauth2_validators import OAuth2Validator

from .people import CITIZEN

# What a BankID or SITHS signature gives, in the Swedish eID framework's terms.
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
IDENTITY_CLAIM = {CITIZEN: "personnummer"}  # anything else signs with an HSA-id


def identity_of(user) -> tuple[str, str]:
    """(kind, number) of a provider user, whose username is "<kind>:<number>"."""
    kind, _, number = user.username.partition(":")
    return kind, number


class DemoValidator(OAuth2Validator):
    # Every claim goes in the ID token whatever the scopes: the relying party reads
    # who it is from the signed token alone, as the Swedish OIDC profile allows.
    oidc_claim_scope = None

    def get_additional_claims(self, request):
        kind, number = identity_of(request.user)
        return {
            IDENTITY_CLAIM.get(kind, "hsa_id"): number,
            "given_name": request.user.first_name,
            "family_name": request.user.last_name,
            "name": request.user.get_full_name(),
            "acr": LOA3,
        }
