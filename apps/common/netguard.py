"""Outbound connections to user-given hosts: resolve, check every address, connect to the checked one.

A database source or a webhook names a host; without a guard it becomes a way into the
server's own network (the cloud metadata service, a database on loopback, the intranet).
:func:`resolve_allowed` resolves the name once, refuses it if ANY address it resolves to is
denied, and returns the checked IP for the caller to connect to (psycopg ``hostaddr``,
PyMySQL ``host=IP``), so a second resolution (DNS rebinding) cannot swap in another address.

Configuration (settings, from the environment):

* ``PYNOMALY_OUTBOUND_DENY``: CIDRs or host names always refused (checked first).
* ``PYNOMALY_OUTBOUND_ALLOW``: CIDRs or host names allowed even when the defaults refuse them
  (e.g. ``127.0.0.0/8`` for the embedded demo and the tests; ``10.0.0.0/8`` for an intranet).

Refused by default unless allowed: loopback, link-local (and so 169.254.169.254, the cloud
metadata address), unspecified (0.0.0.0, ::), multicast, reserved and broadcast addresses,
their IPv6 equivalents, and IPv4-mapped IPv6 forms of any of them. Private ranges (10/8,
172.16/12, 192.168/16) are allowed: a company database usually lives there; deny them with
``PYNOMALY_OUTBOUND_DENY`` when the server must not reach them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})


class HostRefused(ValidationError):
    """The host (or an address it resolves to) may not be reached from this server."""


def _parse_rules(entries: Iterable[str]) -> tuple[list[IPNetwork], set[str]]:
    networks: list[IPNetwork] = []
    names: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return networks, names


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def default_refusal(ip: IPAddress) -> str | None:
    """Why the defaults refuse ``ip`` (a phrase for the message), or None when they do not."""
    ip = _unmapped(ip)
    if str(ip) in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if ip.is_reserved:
        return "a reserved address"
    return None


def _in(ip: IPAddress, networks: list[IPNetwork]) -> bool:
    candidates = {ip, _unmapped(ip)}
    return any(c.version == n.version and c in n for c in candidates for n in networks)


def check_address(ip: IPAddress, *, host: str = "") -> None:
    """Raise :class:`HostRefused` unless the configuration lets this server connect to ``ip``."""
    allow_nets, allow_names = _parse_rules(settings.PYNOMALY_OUTBOUND_ALLOW)
    deny_nets, deny_names = _parse_rules(settings.PYNOMALY_OUTBOUND_DENY)
    name = host.lower().rstrip(".")
    label = f"{host} ({ip})" if host and host != str(ip) else str(ip)
    if _in(ip, deny_nets) or (name and name in deny_names):
        raise HostRefused(
            f"Connections to {label} are refused by this server's outbound deny list "
            "(PYNOMALY_OUTBOUND_DENY).",
            code="host_refused",
        )
    reason = default_refusal(ip)
    if reason and not (_in(ip, allow_nets) or (name and name in allow_names)):
        raise HostRefused(
            f"Connections to {label} are refused: it is {reason}, which this server does not "
            "connect to unless PYNOMALY_OUTBOUND_ALLOW allows it.",
            code="host_refused",
        )


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostRefused(f"The host {host} could not be resolved ({exc}).", code="dns") from None
    seen: dict[str, IPAddress] = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        seen.setdefault(text, ipaddress.ip_address(text))
    if not seen:
        raise HostRefused(f"The host {host} has no IP address.", code="dns")
    return list(seen.values())


def resolve_allowed(host: str, port: int) -> str:
    """The IP to connect to for ``host:port``, after checking every address it resolves to.

    Raises :class:`HostRefused` with a message naming the host and the rule when any address is
    refused (one bad address among good ones still refuses: a resolver may hand out either).
    """
    host = (host or "").strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise HostRefused("No host given.", code="host_refused")
    if not 0 < int(port) < 65536:
        raise HostRefused(f"The port {port} is not a valid TCP port.", code="host_refused")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else _resolve(host, port)
    for ip in addresses:
        check_address(ip, host=host)
    # Prefer IPv4 when both exist: database servers often listen on it only.
    addresses.sort(key=lambda a: a.version)
    return str(addresses[0])
