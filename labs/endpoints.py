"""Checks on the upstream endpoint a lab registers for auditors to test through
the gateway. The gateway calls it from inside our network, so an endpoint on a
private or loopback address would let a lab (or anyone posing as one) point the
gateway at our own infrastructure (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from core.errors import InvalidInput

FIELD = "endpoint_base_url"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("The endpoint base URL is not acceptable.", errors={FIELD: [message]})


def _addresses_to_check(address: IPAddress) -> list[IPAddress]:
    """The address, or the IPv4 addresses it stands for."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket.
            return [address.ipv4_mapped]
        embedded: list[IPAddress] = [address]
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        return embedded
    return [address]


def is_public_address(address: IPAddress) -> bool:
    for a in _addresses_to_check(address):
        if (
            a.is_private
            or a.is_loopback
            or a.is_link_local
            or a.is_multicast
            or a.is_reserved
            or a.is_unspecified
            or not a.is_global  # shared address space (100.64/10) and other special ranges
        ):
            return False
    return True


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None


def validate_upstream_base_url(
    url: str,
    *,
    allow_private: bool,
    resolve: Callable[..., Any] = socket.getaddrinfo,
) -> str:
    """The URL, if the gateway may call it; otherwise InvalidInput on
    ``endpoint_base_url``. Names that do not resolve are refused (fail closed)."""
    if not isinstance(url, str) or not url.strip():
        raise _refuse("A base URL is required.")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _refuse("The URL must not contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("The URL could not be parsed (check the host and port).") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _refuse("Only http and https URLs are allowed.")
    if "@" in parts.netloc:
        raise _refuse("The URL must not contain user information (user:password@); use the credential field.")
    if "#" in url:
        raise _refuse("The URL must not contain a fragment.")
    host = parts.hostname
    if not host:
        raise _refuse("The URL must name a host.")
    if allow_private:
        return url

    literal = _parse_ip(host)
    if literal is not None:
        if not is_public_address(literal):
            raise _refuse("The host is a private, loopback, link-local, multicast or reserved address.")
        return url

    default_port = 443 if parts.scheme.lower() == "https" else 80
    try:
        infos = resolve(host, port or default_port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise _refuse("The host name does not resolve.") from None
    addresses = [_parse_ip(str(info[4][0])) for info in infos or ()]
    if not addresses:
        raise _refuse("The host name does not resolve.")
    # Every address must be public: a name with one private address among public
    # ones could be steered to the private one.
    if any(a is None or not is_public_address(a) for a in addresses):
        raise _refuse("The host name resolves to a private, loopback, link-local, multicast or reserved address.")
    return url
