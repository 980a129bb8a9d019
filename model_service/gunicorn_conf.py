"""gunicorn settings for the model service (``kundresa serve model``).

Every value can be changed from the environment: ``KUNDRESA_MODEL_BIND`` (default
127.0.0.1:8001, loopback so nothing is exposed by accident), ``WEB_CONCURRENCY`` (workers),
``GUNICORN_THREADS`` (threads per worker) and ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary
folder when unset). Each worker loads the models itself and runs its own poller.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# One OpenMP thread per process, set before numpy/scikit-learn load: HistGradientBoosting's
# threads oversubscribe a small machine under several workers (measured: 4–45 req/s instead of ~780).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Set before any worker imports prometheus_client, so every worker writes its metrics to files
# that /metrics in any worker can add up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="kundresa-prom-"))

bind = os.environ.get("KUNDRESA_MODEL_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# The app is built in each worker (not preloaded): MLflow's and SQLAlchemy's connections and
# the poller thread must belong to the worker, never cross a fork.
preload_app = False
accesslog = None
errorlog = "-"


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


def post_worker_init(worker) -> None:  # noqa: ANN001
    # The poller is a thread of this worker; start_polling is idempotent and fork-aware.
    from model_service.predict import EXTENSION

    models = getattr(worker.wsgi, "extensions", {}).get(EXTENSION)
    if models is not None:
        models.start_polling()


def child_exit(server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
