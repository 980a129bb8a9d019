"""Free loopback ports for servers that tests and benchmarks start.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the same range
every outgoing connection takes its local port from. Between picking such a port and a server
binding it, a pooled PostgreSQL or MLflow connection can take it, and gunicorn exits with
"Connection in use" (this failed a CI run). Ports below the ephemeral range are never given to
outgoing connections, and each one is handed out once per process. Under pytest-xdist each
worker picks from its own slice of that range, so two workers never hand out the same port.
"""

from __future__ import annotations

import os
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


def _range() -> tuple[int, int]:
    """This process's ports: the whole range, or the xdist worker's slice of it."""
    lowest, highest = _LOWEST, max(_LOWEST + 1000, _ephemeral_start())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or workers < 2:
        return lowest, highest
    width = (highest - lowest) // workers
    lowest += int(worker[2:]) * width
    return lowest, lowest + width


def free_port() -> int:
    """A loopback port nobody listens on, outside the ephemeral range, not handed out before."""
    lowest, highest = _range()
    for _ in range(200):
        port = random.randrange(lowest, highest)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {lowest} and {highest}")
