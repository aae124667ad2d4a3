"""`{% oidc_kinds as kinds %}`: the e-legitimation providers the login page offers."""

from django import template

from actors.assurance import idp_configured

register = template.Library()


@register.simple_tag
def oidc_kinds() -> list[str]:
    """ "citizen" and/or "staff", for each kind with a configured provider (actors.oidc)."""
    return [kind for kind in ("citizen", "staff") if idp_configured(kind)]
