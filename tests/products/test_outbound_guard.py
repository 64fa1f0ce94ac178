"""The SSRF rules (products/outbound_guard.py) by address resolution and verdict only: the resolver
the guard uses is replaced, and nothing here connects anywhere.

Link-local and cloud metadata addresses, and IPv6 forms that embed a non-public IPv4 address, are
refused in every mode (with ``OUTBOUND_ALLOW_PRIVATE_ADDRESSES`` on, as with DEBUG); the allowed
hosts are configuration only, loopback names by default with DEBUG or in tests, none in production.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from products import outbound_guard
from products.outbound_guard import OutboundRefused, address_refusal, outbound_target
from tests.test_settings_deploy import ROOT, production_env

# Refused whatever OUTBOUND_ALLOW_PRIVATE_ADDRESSES says.
ALWAYS_REFUSED = {
    "aws-gcp-azure-metadata": "169.254.169.254",
    "ecs-task-metadata": "169.254.170.2",
    "ipv6-link-local": "fe80::1",
    "aws-ipv6-metadata": "fd00:ec2::254",
    "alibaba-metadata": "100.100.100.200",
    "oracle-metadata": "192.0.0.192",
    "azure-wireserver": "168.63.129.16",
    "nat64-loopback": "64:ff9b::7f00:1",
    "nat64-private": "64:ff9b::a00:1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "nat64-local-use": "64:ff9b:1::a00:1",
    "6to4-loopback": "2002:7f00:1::1",
    "6to4-private": "2002:c0a8:101::1",
    "ipv4-mapped-loopback": "::ffff:127.0.0.1",
    "ipv4-mapped-metadata": "::ffff:169.254.169.254",
    "ipv4-translated-loopback": "::ffff:0:7f00:1",
    "teredo-private-client": "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # client 10.0.0.1
    "ipv4-compatible-loopback": "::127.0.0.1",
    "ipv4-compatible-private": "::10.0.0.1",
    "ipv6-multicast": "ff02::1",
    "ipv4-multicast": "224.0.0.1",
}
# Refused only while OUTBOUND_ALLOW_PRIVATE_ADDRESSES is off (production).
PRIVATE = {"loopback": "127.0.0.1", "ipv6-loopback": "::1", "rfc1918": "10.0.0.1", "ula": "fd12:3456::1"}
# Public: always allowed, IPv6 forms carrying a public IPv4 address included.
PUBLIC = {
    "ipv4": "93.184.215.14",
    "ipv6": "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    "nat64-public": "64:ff9b::5db8:d70e",
    "6to4-public": "2002:5db8:d70e::1",
}


@pytest.mark.parametrize("address", ALWAYS_REFUSED.values(), ids=ALWAYS_REFUSED.keys())
@pytest.mark.parametrize("allow_private", [True, False], ids=["private-allowed", "private-refused"])
def test_always_refused_addresses(address: str, allow_private: bool) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=allow_private) is not None


@pytest.mark.parametrize("address", PRIVATE.values(), ids=PRIVATE.keys())
def test_private_addresses_need_the_setting(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=True) is None
    refusal = address_refusal(ipaddress.ip_address(address), allow_private=False)
    assert refusal is not None
    assert "OUTBOUND_ALLOW_PRIVATE_ADDRESSES" in refusal


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
@pytest.mark.parametrize("allow_private", [True, False], ids=["private-allowed", "private-refused"])
def test_public_addresses_pass(address: str, allow_private: bool) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=allow_private) is None


def test_the_reason_names_the_embedded_address() -> None:
    refusal = address_refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"), allow_private=True)
    assert refusal == "an IPv6 address embedding 169.254.169.254, a link-local address"
    refusal = address_refusal(ipaddress.ip_address("::ffff:10.0.0.1"), allow_private=True)
    assert refusal == "an IPv6 address embedding 10.0.0.1, a non-public address"


@pytest.fixture
def resolving(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name → the addresses the guard's resolver answers (no real lookup, no connection).
    Other names (the test's own Redis connections on 127.0.0.1) resolve as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(outbound_guard.socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("address", ALWAYS_REFUSED.values(), ids=ALWAYS_REFUSED.keys())
def test_a_host_resolving_to_an_always_refused_address_is_refused_in_debug(
    address: str, resolving: dict[str, list[str]], settings: Any
) -> None:
    settings.DEBUG = True
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["backend.example.com"]
    resolving["backend.example.com"] = ["127.0.0.1", address]  # one bad answer among good ones

    shown = ipaddress.ip_address(address)
    with pytest.raises(OutboundRefused, match=f"backend.example.com resolves to {shown}, "):
        outbound_target("http://backend.example.com/deals/")


def test_a_host_resolving_to_loopback_passes_in_debug(resolving: dict[str, list[str]], settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_ALLOWED_HOSTS = ["backend.example.com"]
    resolving["backend.example.com"] = ["127.0.0.1", "::1"]

    target = outbound_target("http://backend.example.com/deals/")
    assert [str(a) for a in target.addresses] == ["127.0.0.1", "::1"]


def test_with_no_allowed_hosts_nothing_is_called_and_the_log_names_the_setting(
    resolving: dict[str, list[str]], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = []

    with pytest.raises(OutboundRefused, match="OUTBOUND_ALLOWED_HOSTS is empty"):
        outbound_target("http://127.0.0.1:8000/deals/")
    assert "OUTBOUND_ALLOWED_HOSTS is empty" in caplog.text


def _allowed_hosts_in(env: dict[str, str]) -> list[str]:
    code = "from django.conf import settings; import json; print(json.dumps(settings.OUTBOUND_ALLOWED_HOSTS))"
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    hosts: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return hosts


def test_the_default_allowed_hosts_are_loopback_in_debug_and_none_in_production(tmp_path: Path) -> None:
    production = production_env(tmp_path)
    production.pop("OUTBOUND_ALLOWED_HOSTS", None)
    assert _allowed_hosts_in(production) == []
    assert _allowed_hosts_in({**production, "DEBUG": "true"}) == ["localhost", "127.0.0.1", "::1"]
    given = {**production, "OUTBOUND_ALLOWED_HOSTS": "Deals.Example.com,offers.example.com"}
    assert _allowed_hosts_in(given) == ["deals.example.com", "offers.example.com"]
