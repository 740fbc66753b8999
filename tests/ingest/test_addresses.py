"""Which addresses the fetcher may reach: checked with a fake resolver, no packet sent."""

from __future__ import annotations

import ipaddress

import pytest

from tests.ingest.conftest import FakeResolver
from tributary.ingest.addresses import AddressPolicy, refusal_reason
from tributary.ingest.errors import BlockedAddress, FetchUnreachable

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "the cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("0.0.0.0", "'this network'"),  # noqa: S104 - an address under test
    ("0.1.2.3", "'this network'"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "reserved (benchmarking)"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local (private)"),
    ("fd12:3456::1", "unique local (private)"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "carries 127.0.0.1, loopback"),
    ("::ffff:169.254.169.254", "carries 169.254.169.254, the cloud metadata"),
    ("::ffff:10.1.2.3", "carries 10.1.2.3, private"),
    ("2002:a00:1::", "carries 10.0.0.1, private"),  # 6to4 of a private address
    ("2002:7f00:1::", "carries 127.0.0.1, loopback"),
    ("64:ff9b::a9fe:a9fe", "carries 169.254.169.254, the cloud metadata"),  # NAT64
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ("2001::1", "reserved"),  # Teredo
    ("2001:db8::1", "reserved"),  # documentation
    ("100::1", "reserved"),  # discard
    ("fec0::1", "reserved"),  # site-local (deprecated)
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111"]
PUBLIC += ["::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "reason"), [pytest.param(a, r, id=a) for a, r in REFUSED])
def test_non_public_addresses_are_refused(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_every_resolved_address_is_checked():
    resolver = FakeResolver({"mixed.example": ["93.184.215.14", "10.0.0.7"]})
    with pytest.raises(BlockedAddress, match=r"mixed.example \(10.0.0.7\): private"):
        AddressPolicy(resolver=resolver).vet("mixed.example", 443)


def test_a_public_name_gives_its_addresses_resolved_once():
    resolver = FakeResolver({"cdn.example": ["93.184.215.14", "2606:4700::1111"]})
    policy = AddressPolicy(resolver=resolver)
    assert policy.vet("cdn.example", 443) == ["93.184.215.14", "2606:4700::1111"]
    assert resolver.lookups == ["cdn.example"]


def test_ip_literals_are_checked_without_a_lookup():
    resolver = FakeResolver()
    with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254: the cloud metadata address"):
        AddressPolicy(resolver=resolver).vet("169.254.169.254", 80)
    with pytest.raises(BlockedAddress, match="loopback"):
        AddressPolicy(resolver=resolver).vet("[::1]", 80)
    assert resolver.lookups == []


def test_the_message_names_the_setting():
    with pytest.raises(BlockedAddress) as caught:
        AddressPolicy().vet("10.0.0.1", 80)
    assert "TRIBUTARY_FETCH_ALLOW" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.permanent


def test_the_allow_list_opens_hosts_and_networks(monkeypatch):
    monkeypatch.setenv(
        "TRIBUTARY_FETCH_ALLOW", " minio.internal , 10.20.0.0/16,127.0.0.1,,fd00::/8"
    )
    resolver = FakeResolver({"minio.internal": ["10.9.9.9"], "other.internal": ["10.9.9.9"]})
    policy = AddressPolicy.from_env(resolver)
    assert policy.vet("minio.internal", 9000) == ["10.9.9.9"]  # the host, whatever its address
    assert policy.vet("MINIO.internal.", 9000) == ["10.9.9.9"]
    assert policy.vet("10.20.3.4", 80) == ["10.20.3.4"]
    assert policy.vet("127.0.0.1", 80) == ["127.0.0.1"]
    assert policy.vet("fd00::5", 80) == ["fd00::5"]
    (mapped,) = policy.vet("::ffff:10.20.0.1", 80)
    assert ipaddress.ip_address(mapped) == ipaddress.ip_address("::ffff:10.20.0.1")
    with pytest.raises(BlockedAddress):
        policy.vet("other.internal", 80)  # same address, a name not allowed
    with pytest.raises(BlockedAddress):
        policy.vet("10.21.0.1", 80)
    with pytest.raises(BlockedAddress):
        policy.vet("127.0.0.2", 80)


def test_an_unset_allow_list_allows_nothing_private(monkeypatch):
    monkeypatch.delenv("TRIBUTARY_FETCH_ALLOW", raising=False)
    with pytest.raises(BlockedAddress):
        AddressPolicy.from_env(FakeResolver()).vet("127.0.0.1", 80)


def test_a_name_that_does_not_resolve_is_unreachable_not_blocked():
    with pytest.raises(FetchUnreachable, match=r"cannot resolve nowhere\.example") as caught:
        AddressPolicy(resolver=FakeResolver()).vet("nowhere.example", 80)
    assert not caught.value.permanent


def test_a_resolver_answer_that_is_not_an_address_is_unreachable():
    with pytest.raises(FetchUnreachable, match=r"cannot resolve odd\.example"):
        AddressPolicy(resolver=FakeResolver({"odd.example": ["not-an-ip"]})).vet("odd.example", 80)
