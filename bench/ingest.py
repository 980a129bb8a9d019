"""Ingest benchmark: the survey service under gunicorn (2 workers) against a bare Flask
endpoint answering 204 under the same gunicorn config, on SQLite and on PostgreSQL.

    .venv/bin/python bench/ingest.py [--seconds 4] [--rounds 3] [--clients 8]
        [--postgres URL | --no-postgres]

Prints requests/s with p50/p99 latency for single ``POST /v1/responses`` and events/s for
``POST /v1/events`` in batches of 100, each beside the bare endpoint's rate as a ratio.
Reference and subject alternate in ``--rounds`` rounds; figures are medians over the rounds
and each round's ratio is shown.
Targets (issue 2): responses ≥ 0.5 × bare; ≥ 20,000 events/s into PostgreSQL.
The load generator runs on the same machine, so all figures share its cores. Both servers
log at WARNING, so the survey service writes no access line per request here (at INFO it does).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import measure, wait_until_healthy  # noqa: E402 - needs ROOT on the path
from tests.ports import free_port  # noqa: E402

EVENTS_PER_BATCH = 100


def bare_app():  # noqa: ANN201 - gunicorn's factory for the reference endpoint
    """The reference: a Flask app doing nothing but answering 204."""
    from flask import Flask

    app = Flask("bare")

    @app.post("/bare")
    def bare():  # noqa: ANN202
        return "", 204

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return "ok"

    return app


def _serve(app_spec: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    prom = tmp / f"prom-{port}"
    prom.mkdir()
    server_env = {
        **os.environ,
        **env,
        "KUNDRESA_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "KUNDRESA_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:survey_service.gunicorn_conf", app_spec],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_healthy(server, port, f"gunicorn for {app_spec}")
    return server, port


def _body(kind: str, site_key: str, counter: int, prefix: str) -> bytes:
    if kind == "bare":
        kind = "response"
    if kind == "response":
        return json.dumps(
            {
                "response_id": str(uuid.uuid4()),
                "survey_key": "post_purchase",
                "visitor_id": f"{prefix}-v{counter}",
                "customer_id": f"{prefix}-c{counter % 5000}",
                "stage": "purchase",
                "answers": {"csat": 4, "ces": 6, "nps": 9, "comment": "Fast delivery"},
            }
        ).encode()
    events = [
        {
            "event_id": f"{prefix}-{counter}-{i}",
            "type": "page_view" if i % 3 else "add_to_cart",
            "visitor_id": f"{prefix}-v{counter % 1000}",
            "customer_id": f"{prefix}-c{counter % 1000}",
            "occurred_at": "2026-11-01T10:00:00Z",
            "channel": "organic_search",
            "product_category": "shoes",
            "value": 12.5,
        }
        for i in range(EVENTS_PER_BATCH)
    ]
    return json.dumps({"events": events}).encode()


def measure_kind(
    port: int, path: str, kind: str, site_key: str, token: str, seconds: float, clients: int
) -> dict[str, float]:
    """One figure: ``kind`` is bare, response or events. The calls are a shop's back office
    (an ingest token): the bodies name customers, which a browser could not unsigned."""
    headers = {
        "Content-Type": "application/json",
        "X-Site-Key": site_key,
        "Authorization": f"Bearer {token}",
    }
    expected = {"bare": 204, "response": 201, "events": 202}[kind]
    result = measure(
        port, path, functools.partial(_body, kind, site_key), headers, expected, seconds, clients
    )
    result["events_per_s"] = result["rps"] * EVENTS_PER_BATCH if kind == "events" else 0.0
    return result


def _prepare_database(url: str) -> tuple[str, str]:
    """Migrate, add the built-in surveys, and return a site key and an ingest token."""
    from shared.auth import create_site, create_token
    from shared.db.migrate import upgrade
    from shared.db.session import dispose_engines
    from shared.surveys import ensure_builtin_surveys

    upgrade(url)
    ensure_builtin_surveys(url)
    key = create_site(url, "Bench shop", ["https://bench.example"])
    token = create_token(url, "bench-back-office", "ingest")
    dispose_engines()
    return key, token


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _rounds(
    measure_round: Callable[[], tuple[dict[str, float], dict[str, float]]], rounds: int
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """``rounds`` of (reference, subject) measured back to back; medians of each figure and
    the per-round ratios. Alternating cancels the drift of a shared, noisy machine that one
    long measurement of each would put into the ratio."""
    pairs = [measure_round() for _ in range(rounds)]
    ratios = [subject["rps"] / reference["rps"] for reference, subject in pairs]

    def medians(side: int) -> dict[str, float]:
        return {name: _median([pair[side][name] for pair in pairs]) for name in pairs[0][side]}

    return medians(0), medians(1), ratios


def run_backend(
    name: str, url: str, tmp: Path, seconds: float, clients: int, rounds: int
) -> list[str]:
    site_key, token = _prepare_database(url)
    env = {
        "DATABASE_URL": url,
        "KUNDRESA_VAR_DIR": str(tmp / "var"),
        "KUNDRESA_RATE_LIMIT_PUBLIC": "100000000/minute",
    }
    # Both servers run throughout; the one not being measured is idle.
    bare_server, bare_port = _serve("bench.ingest:bare_app()", env, tmp)
    server, port = _serve("survey_service.app:create_app()", env, tmp)

    def pair(path: str, kind: str) -> Callable[[], tuple[dict[str, float], dict[str, float]]]:
        return lambda: (
            measure_kind(bare_port, "/bare", "bare", site_key, token, seconds, clients),
            measure_kind(port, path, kind, site_key, token, seconds, clients),
        )

    try:
        bare, responses, response_ratios = _rounds(pair("/v1/responses", "response"), rounds)
        bare_events, events, event_ratios = _rounds(pair("/v1/events", "events"), rounds)
    finally:
        for process in (bare_server, server):
            process.terminate()
            process.wait()

    def spread(ratios: list[float]) -> str:
        return "rounds " + " ".join(f"{ratio:.2f}" for ratio in ratios)

    return [
        f"{name:10} bare 204          {bare['rps']:8.0f} req/s  p50 {bare['p50_ms']:6.1f} ms"
        f"  p99 {bare['p99_ms']:6.1f} ms  errors {bare['errors']:.0f}",
        f"{name:10} POST /v1/responses {responses['rps']:7.0f} req/s  p50 {responses['p50_ms']:6.1f} ms"
        f"  p99 {responses['p99_ms']:6.1f} ms  errors {responses['errors']:.0f}"
        f"  ratio {_median(response_ratios):.2f} of bare (target ≥ 0.50; {spread(response_ratios)})",
        f"{name:10} POST /v1/events    {events['rps']:7.0f} req/s  p50 {events['p50_ms']:6.1f} ms"
        f"  p99 {events['p99_ms']:6.1f} ms  errors {events['errors']:.0f}"
        f"  {events['events_per_s']:8.0f} events/s  ratio {_median(event_ratios):.2f} of bare"
        f" ({spread(event_ratios)}; bare {bare_events['rps']:.0f} req/s)"
        + ("  (target ≥ 20,000 events/s)" if name == "postgresql" else ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per figure and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "KUNDRESA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kundresa-bench-") as folder:
        tmp = Path(folder)
        lines += run_backend(
            "sqlite", f"sqlite:///{tmp / 'bench.db'}", tmp, args.seconds, args.clients, args.rounds
        )
        if not args.no_postgres:
            import psycopg
            from sqlalchemy.engine import make_url

            name = f"kundresa_bench_{uuid.uuid4().hex[:8]}"
            admin = psycopg.connect(args.postgres.replace("+psycopg", ""), autocommit=True)
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = (
                    make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
                )
                lines += run_backend(
                    "postgresql", url, tmp, args.seconds, args.clients, args.rounds
                )
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
    from survey_service import gunicorn_conf

    print(
        f"gunicorn (survey_service.gunicorn_conf): 2 workers × "
        f"{gunicorn_conf.threads} threads, keep-alive {gunicorn_conf.keepalive} s; {args.clients} concurrent clients in 2 "
        f"processes; {args.rounds} rounds of {args.seconds:.0f} s per figure, reference and subject "
        f"alternating; medians shown; {os.cpu_count()} cores shared by all"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
