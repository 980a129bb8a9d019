"""The served model per task as a Prometheus figure, computed when ``/metrics`` is scraped.

Each process serves what its own poller loaded, so the process answering the scrape reports
its own champions: ``kundresa_served_model_version{task, model}`` is the registered version
number (absent while a task serves none).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask.blueprints import BlueprintSetupState
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.observability import add_metric_source
from shared.tasks import TASKS

EXTENSION = "kundresa_models"  # model_service.predict.EXTENSION, not imported: predict imports us


def served_versions(app: Flask) -> Iterable[Metric]:
    gauge = GaugeMetricFamily(
        "kundresa_served_model_version",
        "Registered version of the model each task serves",
        labels=["task", "model"],
    )
    registry = app.extensions.get(EXTENSION)
    for task in TASKS if registry is not None else ():
        served = registry.get(task)
        if served is not None and served.version.isdigit():
            gauge.add_metric([task, served.name], float(served.version))
    yield gauge


def register(state: BlueprintSetupState) -> None:
    """Blueprint hook: the model service's app reports its served versions."""
    add_metric_source(state.app, served_versions)
