"""One webhook POST to an address checked just before (see ``addresses``).

``http.client`` connects to the checked IP address itself while the request and the TLS
certificate still name the host, so nothing resolves the name a second time between the check
and the connection. Redirects are not followed (a 3xx is a failed attempt): a redirect could
point anywhere.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from shared.webhooks.addresses import Target

EXCERPT_BYTES = 1000


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, TLS failed)
    excerpt: str | None  # the start of the body, as text
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body``; never raises for what the network or the receiver does."""
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
        return Answer(
            response.status,
            excerpt,
            None if 200 <= response.status < 300 else f"HTTP {response.status}",
        )
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, None, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        connection.close()
