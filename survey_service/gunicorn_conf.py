"""gunicorn settings for the survey service (``kundresa serve survey``).

Every value can be changed from the environment: ``KUNDRESA_BIND`` (default 127.0.0.1:8000,
loopback so nothing is exposed by accident), ``WEB_CONCURRENCY`` (workers),
``GUNICORN_THREADS`` (threads per worker, which overlap database waits),
``GUNICORN_KEEPALIVE`` (seconds, default 0: see below) and
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder when unset).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

bind = os.environ.get("KUNDRESA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Two threads: one overlaps the other's database wait. On 2 cores, 1, 2 and 4 threads gave the
# same rate within noise (bench/ingest.py, 2026-12-01); more threads mean more GIL hand-offs,
# and pay only when the database is remote and slow.
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Keep-alive off by default: gunicorn's threaded worker sometimes closes a kept-alive
# connection just as the next request arrives (measured with gunicorn 26.2: 18 of 400
# back-to-back POSTs on one connection got no response), and a browser does not retry a
# failed POST, so an answer would be lost. A proxy in front keeps client connections alive.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
# Access lines come from the app as JSON (without query strings); gunicorn's own is off.
accesslog = None
errorlog = "-"

# Set before any worker imports prometheus_client, so every worker writes its metrics to files
# that /metrics in any worker can add up.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kundresa-prom-")
# One OpenMP thread per process: several workers on a small machine oversubscribe otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def on_starting(server) -> None:  # noqa: ANN001
    from shared.settings import InsecureSecretKey, Settings

    # In the master, before any worker: a known or short SECRET_KEY stops the start here.
    try:
        Settings.from_env().check_secret_key()
    except InsecureSecretKey as exc:
        server.log.error("Not starting: %s", exc)
        raise SystemExit(1) from None
    # Counters left by an earlier run in a reused folder would be added to ours.
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink(missing_ok=True)


def post_fork(server, worker) -> None:  # noqa: ANN001
    # Pooled connections must not be shared across a fork.
    from shared.db.session import dispose_engines

    dispose_engines()


def child_exit(server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
