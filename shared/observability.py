"""Structured JSON logs and Prometheus metrics.

Logs never carry request bodies or headers, so tokens and free-text answers cannot leak into
them. Metrics work under several gunicorn workers through prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the gunicorn configs): counters are counted in the
process that saw the event and added up across workers at scrape time. Figures that live in
the database (outbox backlog, scores' age, job runs) and the model a process serves are not
counted at all: the process answering ``/metrics`` computes them then (``ScrapeTimeFigures``),
so every worker reports the same database figures and nothing is added twice.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from pythonjsonlogger import json as jsonlogger
from sqlalchemy import func, select

from shared.pseudonyms import keyed_digest

REQUESTS = Counter(
    "kundresa_http_requests_total", "HTTP requests", ["app", "method", "endpoint", "status"]
)
LATENCY = Histogram(
    "kundresa_http_request_seconds",
    "HTTP request latency",
    ["app", "endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

PREDICTIONS = Counter(
    "kundresa_predictions_total", "Online predictions answered, by task and risk band",
    ["task", "band"],
)  # fmt: skip
INGESTED = Counter(
    "kundresa_ingested_total",
    "Rows sent by shops: stored, or duplicates of rows already stored",
    ["kind", "outcome"],
)
# Labels of the figures computed at scrape time (a source yields Metric families).
MetricSource = Callable[[Flask], Iterable[Metric]]
SOURCES_EXTENSION = "kundresa_metric_sources"


def count_predictions(task: str, bands: Iterable[str]) -> None:
    for band in bands:
        PREDICTIONS.labels(task, band).inc()


def count_ingested(kind: str, stored: int, duplicates: int) -> None:
    """Count one ingest call of ``kind`` (event, response): rows stored and duplicates."""
    if stored:
        INGESTED.labels(kind, "stored").inc(stored)
    if duplicates:
        INGESTED.labels(kind, "duplicate").inc(duplicates)


def add_metric_source(app: Flask, source: MetricSource) -> None:
    """Figures ``/metrics`` computes when scraped (what a service knows beyond the database)."""
    app.extensions.setdefault(SOURCES_EXTENSION, []).append(source)


# Any other method (a client may send any token) is counted as OTHER: one series per
# arbitrary token would let a caller grow /metrics and this process's memory without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line: time, level, logger, message, any ``extra`` fields, and the
    traceback as ``exc``; a value json cannot write is logged as its ``str()``."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exc"},
            timestamp="time",
        )


def configure_logging(level: str | None = None) -> None:
    """JSON logs on stderr for the kundresa loggers (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("KUNDRESA_LOG_LEVEL", "INFO"))


def _access_line(app: Flask, route: str, status: int) -> dict[str, object]:
    """What an access line holds: the route rule, never the path, query string, body or
    headers. Paths carry customer and visitor ids (``/v1/admin/customers/<customer_id>``) that
    must not outlive an erasure in the logs; a short keyed hash of the path's values still
    tells requests for the same resource apart without naming it."""
    line: dict[str, object] = {"method": request.method, "route": route, "status": status}
    if request.view_args:
        values = json.dumps(request.view_args, sort_keys=True, default=str)
        line["route_args"] = keyed_digest(app.extensions["kundresa"].settings.secret_key, values)[
            :16
        ]
    return line


def install_metrics(app: Flask) -> None:
    """Count and time every request, and serve ``/metrics``."""
    app_name = app.import_name.split(".")[0]
    access_log = logging.getLogger(f"{app_name}.access")
    # The labelled series, looked up once each: labels() validates and locks on every call.
    latency = functools.cache(lambda endpoint: LATENCY.labels(app_name, endpoint))
    requests = functools.cache(
        lambda method, endpoint, status: REQUESTS.labels(app_name, method, endpoint, str(status))
    )

    @app.before_request
    def _start_timer() -> None:
        g._started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        started = g.pop("_started", None)
        if started is not None:
            latency(endpoint).observe(time.perf_counter() - started)
        method = request.method if request.method in _METHODS else "OTHER"
        requests(method, endpoint, response.status_code).inc()
        access_log.info("request", extra=_access_line(app, endpoint, response.status_code))
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        figures = CollectorRegistry(auto_describe=False)
        figures.register(ScrapeTimeFigures(app))
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = DEFAULT_REGISTRY
        body = generate_latest(registry) + generate_latest(figures)
        return Response(body, mimetype=CONTENT_TYPE_LATEST)


# Job runs are counted over this window: a 10-second job makes thousands a day.
JOB_RUNS_WINDOW = timedelta(hours=24)


class ScrapeTimeFigures:
    """What the database says now, from a few index-backed queries, and the app's own
    sources (the model service's served versions). A database that cannot be reached makes
    ``kundresa_metrics_database_up`` 0 instead of failing the scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "kundresa_metrics_database_up", "Whether /metrics could read the database"
        )
        try:
            found = list(database_figures(self.app.extensions["kundresa"].settings.database_url))
        except Exception as exc:
            logging.getLogger(__name__).warning(
                "metrics could not read the database", extra={"error": type(exc).__name__}
            )
            up.add_metric([], 0.0)
            found = []
        else:
            up.add_metric([], 1.0)
        yield up
        yield from found
        for source in self.app.extensions.get(SOURCES_EXTENSION, []):
            yield from source(self.app)


def database_figures(database_url: str) -> Iterable[Metric]:
    """Outbox backlog and its oldest event's age, the newest score's age per task, and job
    runs by job and result (last 24 hours) with each job's last finish per result."""
    from shared.db.session import session_scope
    from shared.db.tables import JobRun, OutboxEvent, RiskScore
    from shared.tasks import TASKS

    now = datetime.now(UTC)
    backlog = GaugeMetricFamily(
        "kundresa_outbox_backlog", "Outbox events not yet dispatched to webhook deliveries"
    )
    oldest = GaugeMetricFamily(
        "kundresa_outbox_oldest_undelivered_seconds",
        "Age of the oldest outbox event not yet dispatched (0 when none)",
    )
    scores_age = GaugeMetricFamily(
        "kundresa_scores_age_seconds",
        "Age of the newest batch score per task (as-of time)",
        labels=["task"],
    )
    runs = GaugeMetricFamily(
        "kundresa_job_runs", "Job runs started in the last 24 hours", labels=["job", "result"]
    )
    last_run = GaugeMetricFamily(
        "kundresa_job_last_finished_timestamp_seconds",
        "When a job last finished with each result (last 24 hours)",
        labels=["job", "result"],
    )
    with session_scope(database_url) as session:
        count, first = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.dispatched_at.is_(None)
            )
        ).one()
        for task in TASKS:
            as_of = session.scalar(select(func.max(RiskScore.as_of)).where(RiskScore.task == task))
            if as_of is not None:
                scores_age.add_metric([task], (now - _aware(as_of)).total_seconds())
        by_result = session.execute(
            select(JobRun.job, JobRun.result, func.count(), func.max(JobRun.finished_at))
            .where(JobRun.started_at >= now - JOB_RUNS_WINDOW)
            .group_by(JobRun.job, JobRun.result)
        ).all()
    backlog.add_metric([], float(count or 0))
    oldest.add_metric([], (now - _aware(first)).total_seconds() if first is not None else 0.0)
    for job, result, runs_count, finished in by_result:
        runs.add_metric([job, result], float(runs_count))
        if finished is not None:
            last_run.add_metric([job, result], _aware(finished).timestamp())
    return [backlog, oldest, scores_age, runs, last_run]


def _aware(moment: datetime) -> datetime:
    # func.max/min bypass the column type on SQLite: a naive value there is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
