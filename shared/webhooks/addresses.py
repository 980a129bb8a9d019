"""Where a webhook may be sent: http(s) URLs whose host resolves to public addresses only.

An admin's URL must not turn the server into a proxy into its own network (SSRF): private,
loopback, link-local, multicast and reserved addresses are refused unless the deployment
allows them (``webhooks_allow_private``: the demo and the tests, whose receivers run on this
machine). The host is resolved again at every delivery and the connection is made to the
address checked then, so a name that later resolves elsewhere (DNS rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class AddressRefused(ValueError):
    """The URL may not be used; the message says why, for the admin."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query, as sent on the request line
    address: str  # the checked IP address to connect to


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or AddressRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"Use at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused("Not a valid URL.") from exc
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("Use an http or https URL.")
    if not parts.hostname:
        raise AddressRefused("The URL has no host.")
    if parts.username or parts.password:
        raise AddressRefused(
            "Put no user name or password in the URL; the signature proves the sender."
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise AddressRefused("The URL may not contain spaces or control characters.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def resolve(url: str, allow_private: bool) -> Target:
    """Resolve the URL's host and pick the address to connect to, or AddressRefused."""
    scheme, host, port, path = parse(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused("The host name does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not addresses:
        raise AddressRefused("The host name does not resolve.")
    # Every address must pass: a name that also resolves inward would be used for the inside.
    if not allow_private and not all(is_public(a) for a in addresses):
        raise AddressRefused(
            "The host resolves to a private, loopback or link-local address, which is refused."
        )
    return Target(scheme, host, port, path, str(addresses[0]))
