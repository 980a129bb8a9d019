"""Free loopback ports for servers that tests and benchmarks start.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the same range
every outgoing connection takes its local port from. Between picking such a port and a server
binding it, a pooled PostgreSQL or MLflow connection can take it, and gunicorn exits with
"Connection in use" (this failed a CI run). Ports below the ephemeral range are never given to
outgoing connections, and each one is handed out once per process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nobody listens on, outside the ephemeral range, not handed out before."""
    highest = max(_LOWEST + 1000, _ephemeral_start())
    for _ in range(200):
        port = random.randrange(_LOWEST, highest)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {highest}")
