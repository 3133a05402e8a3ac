"""Outgoing URLs a tenant configured: refused when they lead into the farm's own networks.

Workers call feed, shop, warehouse, SP-API, image and webhook URLs from inside the farm's
network. Unchecked, a tenant could make them call the cloud metadata service
(169.254.169.254), a port on 127.0.0.1 or any host of the private network, and read the
answer in a run's records or error.

Refused: loopback, private (RFC 1918, fc00::/7, fec0::/10), link-local (169.254/16,
fe80::/10), unspecified, multicast, reserved and other non-global addresses (100.64/10, the
documentation ranges…), whether the URL names the address or its host name resolves to it
(any one of its addresses; an IPv4 address inside IPv6, ::ffff:10.0.0.1, counts as itself).
`SYNCFARM_ALLOW_PRIVATE_URLS` lifts the refusal: `1` or `true` for every address
(development, tests), or comma-separated networks (`10.20.0.0/16,192.168.1.10/32`) for those.

The check runs twice. When a connection is saved (`check_url`, `validate_public_url`: a 422
naming the field), where a name that does not resolve passes, since it may resolve later.
And right before each request and each redirect it follows (`request`, `guard_session`):
a name resolving to a refused address by then (DNS rebinding) fails with `UrlRefused`, a
`ConnectorError`, so the run fails with the same message.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from marshmallow import ValidationError
from requests.adapters import BaseAdapter

from core.config import load_settings
from core.errors import ConfigError, ConnectorError, Invalid

ENV = "SYNCFARM_ALLOW_PRIVATE_URLS"
HINT = f"set {ENV} to allow private networks"
SCHEMES = ("http", "https")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlNotAllowed(Invalid):
    """A URL the farm will not call (answered with 422): not http(s), or its host is or
    resolves to an address that `SYNCFARM_ALLOW_PRIVATE_URLS` does not allow. `text` is the
    message without the field name."""

    def __init__(
        self, url: str, reason: str, *, field: str | None = None, hint: str | None = HINT
    ) -> None:
        self.url = shown(url)
        self.reason = reason
        self.text = f"{self.url} is not allowed: {reason}" + (f"; {hint}" if hint else "")
        super().__init__(
            f"{field}: {self.text}" if field else self.text,
            errors={field: [self.text]} if field else None,
        )


class UrlRefused(ConnectorError):
    """A request (or a redirect) refused right before connecting; the run fails with it."""

    def __init__(self, refused: UrlNotAllowed) -> None:
        super().__init__(refused.text)
        self.url = refused.url
        self.reason = refused.reason


@dataclass(frozen=True)
class Allowance:
    """Which non-public addresses configuration allows: all of them, or those networks."""

    everything: bool = False
    networks: tuple[Network, ...] = ()

    def allows(self, address: Address) -> bool:
        return self.everything or any(address in network for network in self.networks)


def parse_allowance(raw: str | None) -> Allowance:
    """`SYNCFARM_ALLOW_PRIVATE_URLS`: unset, `0`, `false` or `none` allow no private address
    (the default: tenants' URLs cannot reach the farm's own networks); `1` or `true` allow
    every address (development, tests); else comma-separated networks (`10.20.0.0/16`; a bare
    address is a /32) allow those."""
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "none"):
        return Allowance()
    if value in ("1", "true"):
        return Allowance(everything=True)
    networks: list[Network] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"{ENV} must be 1, true, or comma-separated networks such as "
                f"10.20.0.0/16,192.168.1.10/32; {part!r} is not a network"
            ) from None
    return Allowance(networks=tuple(networks))


def current_allowance() -> Allowance:
    return parse_allowance(load_settings().allow_private_urls)


def address_kind(address: Address) -> str | None:
    """What kind of non-public address this is ("a link-local address"); None if public."""
    address = _unwrapped(address)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def check_url(url: str, *, resolve: bool = True, field: str | None = None) -> None:
    """Refuse (`UrlNotAllowed`) a URL that is not http(s), or whose host is, or resolves to
    (when `resolve`), a non-public address not allowed; a name that does not resolve passes.
    `field` names the setting in the message ("settings.url: …")."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlNotAllowed(url, "it is not a valid URL", field=field, hint=None) from None
    host = parts.hostname
    if parts.scheme.lower() not in SCHEMES or not host:
        raise UrlNotAllowed(url, "only http(s) URLs with a host", field=field, hint=None)
    allowance = current_allowance()
    if allowance.everything:
        return
    literal = _literal(host)
    if literal is not None:
        kind = address_kind(literal)
        if kind and not allowance.allows(_unwrapped(literal)):
            raise UrlNotAllowed(url, f"{host} is {kind}", field=field)
        return
    for address in _resolved(host, port) if resolve else ():
        kind = address_kind(address)
        if kind and not allowance.allows(_unwrapped(address)):
            raise UrlNotAllowed(url, f"{host} resolves to {address}, {kind}", field=field)


def validate_public_url(value: str) -> None:
    """A marshmallow validator of URL settings: `check_url`'s refusal as the field's error."""
    try:
        check_url(value)
    except UrlNotAllowed as exc:
        raise ValidationError(exc.text) from None


def request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """`requests.request`, with `url` and every redirect checked right before it is called."""
    with guard_session(requests.Session()) as session:
        return session.request(method, url, **kwargs)


def guard_session(session: requests.Session) -> requests.Session:
    """`session`, its adapters wrapped so that every request it sends, redirects included, is
    checked first (`UrlRefused`). Wrapping twice changes nothing."""
    for prefix, adapter in list(session.adapters.items()):
        if not isinstance(adapter, _GuardedAdapter):
            session.adapters[prefix] = _GuardedAdapter(adapter)
    return session


class _GuardedAdapter(BaseAdapter):
    """Checks a request's URL, then lets the adapter it wraps send it."""

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            check_url(request.url or "")
        except UrlNotAllowed as exc:
            raise UrlRefused(exc) from None
        return self.inner.send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )

    def close(self) -> None:
        self.inner.close()


def shown(url: str) -> str:
    """`url` as messages show it: without user info or query, which may hold credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the URL"
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")


def _unwrapped(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address, else `address`."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return address


def _literal(host: str) -> Address | None:
    """The address a host written as an address stands for, including the short and numeric
    IPv4 forms the resolver accepts (127.1, 2130706433, 0x7f000001)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _resolved(host: str, port: int | None) -> list[Address]:
    """Every address `host` resolves to; none when it does not resolve (now)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))
        if address not in addresses:
            addresses.append(address)
    return addresses
