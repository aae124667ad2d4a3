"""Where a delivery may go, and the one HTTP request that makes it.

- https only; plain http only to a loopback address, and only where
  PUSH_ALLOW_LOOPBACK is on (DEBUG and the tests), for a receiver on the same machine.
- The host name is resolved once per attempt and every address it has must be a
  public one (no private, loopback, link-local, shared, multicast or reserved ranges:
  the cloud's metadata service and the hospital's own network are not reachable by
  asking us to post there). The request then goes to that checked address, with the
  name for TLS (SNI and certificate check) and the Host header, so a second lookup
  cannot point it elsewhere (DNS rebinding).
- Bounded waits (PUSH_CONNECT_TIMEOUT, PUSH_READ_TIMEOUT), no retries inside one
  attempt (the outbox retries), and redirects are never followed: a 3xx is a failure.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext as _


class EndpointRefused(ValueError):
    """An address we will not post to; the message says why, for the integrator."""


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (no answer, or not a 2xx)."""


def _allowed(address) -> bool:
    if address.is_loopback:
        return settings.PUSH_ALLOW_LOOPBACK
    ip = getattr(address, "ipv4_mapped", None) or address
    return ip.is_global and not ip.is_multicast


def check(url: str):
    """The URL's parts, and the checked address to connect to; EndpointRefused if not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(_("This is not a valid address.")) from exc
    host = parts.hostname
    if not host or parts.username or parts.password or parts.fragment:
        raise EndpointRefused(
            _("Give an address like https://example.org/hooks, with no user name.")
        )
    if parts.scheme not in ("https", "http"):
        raise EndpointRefused(_("The address must start with https://."))
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise EndpointRefused(_("The host name of this address cannot be found.")) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses or not all(_allowed(a) for a in addresses):
        raise EndpointRefused(
            _("This address points to a private or local network; use a public https address.")
        )
    if parts.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise EndpointRefused(_("The address must start with https://."))
    return parts, host, port, str(addresses[0])


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST `body` to `url` once; the status code of a 2xx answer, else DeliveryFailed."""
    parts, host, port, address = check(url)
    timeout = urllib3.Timeout(
        connect=settings.PUSH_CONNECT_TIMEOUT, read=settings.PUSH_READ_TIMEOUT
    )
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    default_port = port == (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = {
        "Host": host if default_port else f"{host}:{port}",
        "Content-Type": headers.pop("Content-Type", "application/json"),
        "User-Agent": "Naravard-Push/1",
        **headers,
    }
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            # The answer's body is not read: a receiver cannot keep the sender busy.
            status = response.status
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: no answer") from exc
    if 300 <= status < 400:
        raise DeliveryFailed(f"HTTP {status}: redirects are not followed")
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")
    return status
