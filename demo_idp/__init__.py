"""A demo identity provider (legitimeringstjänst) for `make run` and the tests.

A separate Django project, run as its own process with its own database: an OpenID
Connect provider built on django-oauth-toolkit's OIDC mode. Its login page stands in for
BankID/Freja (citizens, personnummer) and SITHS/e-tjänstekort (staff, HSA-id): pick or
enter a fictional person and "sign"; the ID token then says who it is (`personnummer` or
`hsa_id`), their name, and `acr` loa3, signed RS256 with a key made at first start.

    python -m demo_idp migrate
    python -m demo_idp demo_clients --redirect-base http://127.0.0.1:8000
    python -m demo_idp runserver 127.0.0.1:8001

Never for production: anyone may sign as anyone here.
"""
