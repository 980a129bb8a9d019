"""Structured JSON logs and Prometheus metrics.

Logs never carry request bodies or headers, so tokens and free-text answers cannot leak into
them. Metrics work under several gunicorn workers through prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the gunicorn configs).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time

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
from pythonjsonlogger import json as jsonlogger

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
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = DEFAULT_REGISTRY
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
