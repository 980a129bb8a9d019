"""The model service: ``create_app()`` builds the Flask app (gunicorn calls it).

It loads both champion models at start and, unless told not to, starts the poller that swaps
in a new version when the alias moves (see ``champions``). It is ready (``/readyz``) once every
task serves a model: a load balancer sends no predictions to a process that would refuse them.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from model_service import api, predict
from model_service.champions import ChampionRegistry
from model_service.dashboard import init_dashboard
from shared.settings import Settings
from shared.web import NotReady, create_api


def create_app(settings: Settings | None = None, *, start_polling: bool = True) -> Flask:
    """Build the model service from ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    app = Flask(__name__)
    models = ChampionRegistry(settings)
    models.refresh()
    app.extensions[predict.EXTENSION] = models
    api_ = create_api(
        app,
        "Kundresa model API",
        "1.0",
        settings,
        readiness_checks={"models": lambda: _models_ready(models)},
    )
    api_.register_blueprint(predict.blp)
    api_.register_blueprint(api.blp)
    init_dashboard(app)
    if start_polling:
        models.start_polling()
    return app


def _models_ready(models: ChampionRegistry) -> dict[str, Any]:
    """What ``/readyz`` shows of the models; not ready while a task serves none."""
    report = models.status()
    if any(state["loaded"] is None for state in report.values()):
        raise NotReady(report)
    return report
