"""``kundresa serve survey|model``: run a service under gunicorn with its own config."""

from __future__ import annotations

import os
import sys

import click

APPS = {
    "survey": ("survey_service.app:create_app()", "python:survey_service.gunicorn_conf"),
    "model": ("model_service.app:create_app()", "python:model_service.gunicorn_conf"),
}


@click.command()
@click.argument("service", type=click.Choice(sorted(APPS)))
@click.option(
    "--bind", default=None, help="host:port (default from the service's gunicorn config)."
)
@click.option(
    "--workers", type=int, default=None, help="gunicorn workers (default from the config)."
)
def serve(service: str, bind: str | None, workers: int | None) -> None:
    """Serve the survey or the model service under gunicorn."""
    app, config = APPS[service]
    argv = [sys.executable, "-m", "gunicorn", "-c", config]
    if bind:
        argv += ["--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    argv.append(app)
    # OpenMP threads per worker oversubscribe small machines (measured): one per process.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.execv(sys.executable, argv)
