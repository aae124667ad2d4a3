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


# IPv6 ranges that carry an IPv4 address inside them, which a gateway on the way may
# unwrap: NAT64 (RFC 6052, RFC 8215), 6to4 (RFC 3056), SIIT's IPv4-translated and the
# deprecated IPv4-compatible form. Python's `is_global` calls them global whatever IPv4
# address they carry, so `64:ff9b::a9fe:a9fe` would reach the cloud's metadata service
# on a NAT64 network.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): a network's own translator, never a public receiver.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765)


def _embedded_ipv4(address):
    """The IPv4 address an IPv6 address carries, if any; None otherwise."""
    if address.version != 6:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if any(address in net for net in (_NAT64, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed(address) -> bool:
    if address.is_loopback:
        return settings.PUSH_ALLOW_LOOPBACK
    if address.version == 6 and (address.is_site_local or address in _LOCAL_NAT64):
        # Deprecated site-local (fec0::/10) is still routed inside some networks.
        return False
    inner = _embedded_ipv4(address)
    if inner is not None and not _allowed(inner):
        return False
    ip = inner or address
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
    named = f"[{host}]" if ":" in host else host  # an IPv6 literal goes in brackets
    request_headers = {
        "Host": named if default_port else f"{named}:{port}",
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
