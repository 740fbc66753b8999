"""Which addresses the fetcher may connect to: public ones, and what the operator allows.

A URL in a link or a CSV row is the user's; the fetcher runs on our workers, next to the
cloud metadata service (169.254.169.254), the catalog database and Airflow's own API. So
every address a host name resolves to is checked, and the connection goes to the checked
address itself (``fetch``'s transport asks ``AddressPolicy.vet`` and connects to what it
returns): a DNS answer that changes between the check and the connection (DNS rebinding)
cannot reach anything the check refused.

Refused unless allowed: loopback, private (RFC 1918), shared CGNAT space (100.64/10),
link-local (with the metadata address), "this network" (0/8), benchmarking, documentation,
reserved, multicast and broadcast ranges for IPv4; for IPv6 everything outside global
unicast (2000::/3: so ``::``, ``::1``, ULA fc00::/7, link-local fe80::/10, multicast)
and the special blocks inside it (documentation, Teredo, ORCHID, …). An IPv6 address that
carries an IPv4 one (v4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
``64:ff9b::/96``) is judged by the IPv4 address it carries.

``TRIBUTARY_FETCH_ALLOW`` (comma-separated) lets through host names (exactly, any case)
and networks (CIDRs or single addresses): ``minio.internal,10.20.0.0/16,127.0.0.1``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tributary.ingest.errors import BlockedAddress, FetchUnreachable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port → the IP addresses (as strings) the host name resolves to
Resolver = Callable[[str, int], Sequence[str]]

_V4_REFUSED = [
    (ipaddress.IPv4Network(network), label)
    for network, label in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.169.254/32", "the cloud metadata"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved (6to4 relay)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # with the broadcast address
    )
]
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_REFUSED = [
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments: Teredo, ORCHID, benchmarking, …
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (v4-mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (a few words), or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = embedded_ipv4(ip)
        if carried is not None:
            reason = refusal_reason(carried)
            return f"carries {carried}, {reason}" if reason else None
        if ip.is_loopback:
            return "loopback"
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_link_local:
            return "link-local"
        if ip.is_multicast:
            return "multicast"
        if ip in ipaddress.IPv6Network("fc00::/7"):
            return "unique local (private)"
        if ip not in _V6_GLOBAL_UNICAST or any(ip in n for n in _V6_REFUSED):
            return "reserved"
        return None
    for network, label in _V4_REFUSED:
        if ip in network:
            return label
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), through the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Decides which resolved addresses the fetcher may connect to.

    ``allow_hosts`` and ``allow_networks`` open exceptions (``TRIBUTARY_FETCH_ALLOW``);
    ``resolver`` turns a host into addresses (the system's by default; tests pass a fake
    one, so no packet leaves the machine).
    """

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_env(cls, resolver: Resolver = system_resolver) -> AddressPolicy:
        """The policy ``TRIBUTARY_FETCH_ALLOW`` describes."""
        return cls.parse(os.environ.get("TRIBUTARY_FETCH_ALLOW", "").split(","), resolver)

    @classmethod
    def parse(cls, entries: Iterable[str], resolver: Resolver = system_resolver) -> AddressPolicy:
        """A policy allowing ``entries``: host names, CIDRs and single addresses."""
        hosts, networks = set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), resolver)

    def allows_host(self, host: str) -> bool:
        """True when the host name itself is allowed, whatever it resolves to."""
        return host.lower().rstrip(".") in self.allow_hosts

    def check_address(self, ip: IPAddress, host: str) -> None:
        """Raise ``BlockedAddress`` unless ``ip`` is public or allowed."""
        if any(ip in network for network in self.allow_networks if ip.version == network.version):
            return
        carried = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if carried is not None and any(carried in n for n in self.allow_networks):
            return
        reason = refusal_reason(ip)
        if reason:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise BlockedAddress(
                f"refused to connect to {shown}: {reason} address "
                "(TRIBUTARY_FETCH_ALLOW lists the allowed hosts and networks)"
            )

    def vet(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` to connect to, each checked; resolves once.

        Refuses the host when any of its addresses is refused (a name that resolves to
        public and private addresses at once is a rebinding attempt, not a mirror).
        """
        literal = _ip_literal(host)
        if literal is not None:
            if not self.allows_host(host):
                self.check_address(literal, host)
            return [str(literal)]
        try:
            resolved = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise FetchUnreachable(f"cannot resolve {host}: {exc}") from None
        if not resolved:
            raise FetchUnreachable(f"cannot resolve {host}: no address")
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        except ValueError as exc:
            raise FetchUnreachable(f"cannot resolve {host}: {exc}") from None
        if not self.allows_host(host):
            for ip in addresses:
                self.check_address(ip, host)
        return [str(ip) for ip in addresses]


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
