"""The service under a real gunicorn (our config, two workers) on a free loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.auth import create_site
from tests.ports import free_port
from tests.survey_service.conftest import ORIGIN, post_purchase_body, sqlite_only


def _request(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "KUNDRESA_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:survey_service.gunicorn_conf",
            "survey_service.app:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Wait for the port by polling readiness, not by sleeping a fixed time.
        while _probe(f"{base}/readyz") != 200:
            assert server.poll() is None, "gunicorn exited"
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait()


def _probe(url: str) -> int | None:
    try:
        return _request(url)[0]
    except OSError:
        return None


@sqlite_only
def test_the_service_answers_under_gunicorn(served: str, database_url: str) -> None:
    site = {
        "X-Site-Key": create_site(database_url, "Shop", [ORIGIN]),
        "Origin": ORIGIN,
        "Content-Type": "application/json",
    }
    status, survey = _request(f"{served}/v1/surveys/post_purchase?locale=nb", headers=site)
    assert status == 200 and survey["locale"] == "nb"
    # From a browser (Origin, no token): an anonymous visitor's answer.
    body = post_purchase_body(response_id=str(uuid.uuid4()), customer_id=None)
    assert _request(f"{served}/v1/responses", body, site)[0] == 201
    assert _request(f"{served}/v1/responses", body, site)[0] == 200
    events = {
        "events": [
            {
                "event_id": f"g-{i}",
                "type": "page_view",
                "visitor_id": "v",
                "occurred_at": "2026-11-01T10:00:00Z",
            }
            for i in range(50)
        ]
    }
    assert _request(f"{served}/v1/events", events, site) == (202, {"accepted": 50, "duplicates": 0})
    with urllib.request.urlopen(f"{served}/metrics", timeout=10) as answer:
        metrics = answer.read()
    assert b"kundresa_http_requests_total" in metrics
    # Counted in whichever worker stored them, added up across workers (multiprocess mode);
    # the database figures computed once, by the worker that answered.
    assert b'kundresa_ingested_total{kind="event",outcome="stored"} 50.0' in metrics
    assert b'kundresa_ingested_total{kind="response",outcome="duplicate"} 1.0' in metrics
    assert b"kundresa_metrics_database_up 1.0" in metrics
    assert _request(f"{served}/v1/identify", {"visitor_id": "v"}, site)[0] == 422
