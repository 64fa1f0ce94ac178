"""SSRF protection for calls to product backends: which hosts and addresses may be called.

A URL passes when its scheme is http(s), its host is one of ``OUTBOUND_ALLOWED_HOSTS`` (explicit
configuration only: never derived from the endpoints an admin gives a product; empty means no
host), and every address the host resolves to passes ``address_refusal``:

- always refused, whatever ``OUTBOUND_ALLOW_PRIVATE_ADDRESSES`` says: link-local addresses
  (169.254.0.0/16, fe80::/10) and the cloud metadata services (``METADATA_NETWORKS``), multicast,
  and IPv6 forms that embed an IPv4 address which is not public (NAT64, 6to4, Teredo,
  IPv4-mapped, IPv4-translated, IPv4-compatible; the local-use NAT64 prefix whole): such a form
  is judged by the IPv4 address it embeds, which must be public;
- refused unless ``OUTBOUND_ALLOW_PRIVATE_ADDRESSES`` is on: every other address that is not
  public (private, loopback, shared, reserved).

The caller then connects to one of exactly those checked addresses (``OutboundTarget.addresses``),
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot move the
call elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata and host services of cloud providers, refused in every mode (the link-local
# ones are refused as link-local already: AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle's
# 169.254.169.254, ECS' 169.254.170.2).
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "fd00:ec2::/64",  # AWS: instance metadata over IPv6 (fd00:ec2::254), DNS, time
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud (legacy) metadata
        "168.63.129.16/32",  # Azure host services (WireServer)
    )
)
# NAT64: the well-known prefix carries an IPv4 address in its last 32 bits; the local-use prefix
# (a network's own translator, any embedding) is refused whole.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class OutboundRefused(Exception):
    """The URL may not be called: its scheme, host or addresses are not allowed."""


class OutboundUnresolvable(Exception):
    """The URL's host name could not be resolved (may be temporary)."""


@dataclass(frozen=True)
class OutboundTarget:
    url: httpx.URL
    addresses: tuple[IPAddress, ...]  # checked, in the resolver's order

    def url_for(self, address: IPAddress) -> httpx.URL:
        """The URL with its host replaced by ``address`` (the ``Host`` header and TLS name stay the host's)."""
        return self.url.copy_with(host=str(address))


def allowed_hosts() -> frozenset[str]:
    """``OUTBOUND_ALLOWED_HOSTS``, lower case (defaults: docs/product-backends.md)."""
    return frozenset(host.lower() for host in settings.OUTBOUND_ALLOWED_HOSTS)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (NAT64, 6to4, Teredo server and client,
    IPv4-mapped, IPv4-translated, IPv4-compatible); empty for any other address."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    last32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in NAT64_WELL_KNOWN or address in _IPV4_TRANSLATED:
        return [last32]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return [last32]
    return []


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be called (see the module's docstring), or None when it may."""
    refusal = _refusal(address, allow_private=allow_private)
    return f"{refusal} (OUTBOUND_ALLOW_PRIVATE_ADDRESSES is off)" if refusal == _NON_PUBLIC else refusal


_NON_PUBLIC = "a non-public address"


def _refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    if any(address in network for network in METADATA_NETWORKS):
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64_LOCAL_USE:
            return "a local-use NAT64 address"
        embedded = embedded_ipv4(address)
        for inner in embedded:
            refusal = _refusal(inner, allow_private=False)
            if refusal is not None:
                return f"an IPv6 address embedding {inner}, {refusal}"
        if embedded:
            return None  # judged by the public IPv4 addresses it carries
    if not address.is_global and not allow_private:
        return _NON_PUBLIC
    return None


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundUnresolvable(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def outbound_target(url: str) -> OutboundTarget:
    """Check ``url`` against the rules above; raises ``OutboundRefused`` or ``OutboundUnresolvable``."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutboundRefused(f"invalid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise OutboundRefused(f"only http(s) URLs with a host may be called, not {url!r}")
    host = parsed.host.lower()
    allowed = allowed_hosts()
    if host not in allowed:
        if not allowed:
            logger.error("outbound call to %s refused: OUTBOUND_ALLOWED_HOSTS is empty, so no host may be called", host)
            raise OutboundRefused(
                f"host {host} is not an allowed product backend host (OUTBOUND_ALLOWED_HOSTS is empty: set it to "
                "the product backends' host names)"
            )
        raise OutboundRefused(f"host {host} is not an allowed product backend host (OUTBOUND_ALLOWED_HOSTS)")
    addresses = _resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not addresses:
        raise OutboundUnresolvable(f"{host} resolves to no address")
    for address in addresses:
        refusal = address_refusal(address, allow_private=settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES)
        if refusal is not None:
            raise OutboundRefused(f"{host} resolves to {address}, {refusal}")
    return OutboundTarget(url=parsed, addresses=addresses)
