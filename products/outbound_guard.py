"""SSRF protection for calls to product backends: which hosts and addresses may be called.

A URL passes when its scheme is http(s), its host is allowed (``OUTBOUND_ALLOWED_HOSTS``, or when
that is empty the hosts of the products' configured endpoints), and every address the host
resolves to is public, unless ``OUTBOUND_ALLOW_PRIVATE_ADDRESSES`` is on. The caller then connects
to one of exactly those checked addresses (``OutboundTarget.addresses``), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot move the call elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx
from django.conf import settings

from .selectors import product_backend_hosts

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
    configured = settings.OUTBOUND_ALLOWED_HOSTS
    return frozenset(configured) if configured else product_backend_hosts()


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


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
    if host not in allowed_hosts():
        raise OutboundRefused(f"host {host} is not an allowed product backend host (OUTBOUND_ALLOWED_HOSTS)")
    addresses = _resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not addresses:
        raise OutboundUnresolvable(f"{host} resolves to no address")
    if not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        refused = [a for a in addresses if not _is_public(a)]
        if refused:
            raise OutboundRefused(
                f"{host} resolves to the non-public address {refused[0]} (OUTBOUND_ALLOW_PRIVATE_ADDRESSES is off)"
            )
    return OutboundTarget(url=parsed, addresses=addresses)
