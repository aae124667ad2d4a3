"""Demo data (påhittade personer) for `manage.py seed_demo`, `make run` and the tests.

- `network`: Region Uppsala's organisations, units and staff, and the fictional
  names, identity numbers and phone numbers.
- `story`: Esther's plan, Tolvan Tolvansson and about twenty patients in varied
  states, built through the services.

Both are idempotent. The bulk patients for benchmarks are bench/data.py's, not ours.
"""

from .network import (
    DOMAIN,
    PASSWORD,
    Network,
    birth_date_of,
    build_network,
    fictional_identity_number,
    fictional_phone,
    link_e_identities,
)
from .story import (
    ESTHER_NUMBER,
    TOLVAN_NUMBER,
    demo_logins,
    seed_story,
    story_identity_numbers,
)

__all__ = [
    "DOMAIN",
    "ESTHER_NUMBER",
    "PASSWORD",
    "TOLVAN_NUMBER",
    "Network",
    "birth_date_of",
    "build_network",
    "demo_logins",
    "fictional_identity_number",
    "fictional_phone",
    "link_e_identities",
    "seed",
    "seed_story",
    "story_identity_numbers",
]


def seed(*, log=print) -> Network:
    """The network and the story, made sure of; returns the network."""
    network = build_network()
    if seed_story(network):
        log("Created the demo network, Esther's plan, Tolvan and the varied patients.")
    else:
        log("The demo network and patients are already in place.")
    link_e_identities()
    return network
