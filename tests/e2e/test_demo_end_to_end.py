"""What `make demo` does, end to end, in a temporary folder with a small data size: the same
functions as `kundresa demo` (kundresa.demo.prepare and start_services), both services under a
real gunicorn on free loopback ports, checked over HTTP, then stopped cleanly.

The second variant is shaped like production: the local PostgreSQL and an `mlflow server`
started on loopback with a PostgreSQL backend store and served artifacts (the fixture
``mlflow_server_on_postgres`` in tests/e2e/mlflow_server.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from kundresa.demo import Ports, prepare, start_services
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import Customer
from shared.identity_signature import identity_secret, sign_customer_id
from tests.conftest import make_settings
from tests.ports import free_port

pytestmark = pytest.mark.slow

CUSTOMERS = 1200
DAYS = 300


def call(method: str, url: str, body: object | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def exercise_suite(settings, credentials, ports: Ports) -> None:
    survey = f"http://127.0.0.1:{ports.survey}"
    model = f"http://127.0.0.1:{ports.model}"
    with session_scope(settings.database_url) as session:
        customer_id = session.scalars(select(Customer.id).limit(1)).one()

    response = {
        "response_id": str(uuid.uuid4()),
        "survey_key": "post_purchase",
        "customer_id": customer_id,
        "locale": "sv",
        "answers": {"csat": 2, "ces": 6, "nps": 3, "comment": "Leveransen tog tre veckor."},
    }
    secret = identity_secret(settings.database_url, credentials.site_key)
    site = {
        "X-Site-Key": credentials.site_key,
        "Origin": survey,
        "X-Identity-Signature": sign_customer_id(secret, customer_id),
    }
    status, _ = call("POST", f"{survey}/v1/responses", response, site)
    assert status == 201
    status, _ = call("POST", f"{survey}/v1/responses", response, site)
    assert status == 200, "a retry with the same response id is not stored twice"

    support = {"Authorization": f"Bearer {credentials.support_token}"}
    status, body = call(
        "POST", f"{model}/v1/predict/brand-switch", {"customer_ids": [customer_id]}, support
    )
    assert status == 200, body
    [prediction] = body["predictions"]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["model_version"]

    status, body = call("GET", f"{model}/v1/at-risk?task=brand_switch&limit=5", None, support)
    assert status == 200, body
    # Largest expected value at risk (probability × value) first, by default.
    at_risk = [item["value_at_risk"] for item in body["items"]]
    assert at_risk and at_risk == sorted(at_risk, reverse=True)

    status, body = call(
        "GET", f"{model}/v1/journeys/critical?task=brand_switch&limit=5", None, support
    )
    assert status == 200, body
    revenue = [row["revenue_at_risk"] for row in body["journeys"]]
    assert revenue and revenue == sorted(revenue, reverse=True)


def run_demo(settings) -> None:
    ports = Ports(survey=free_port(), model=free_port(), mlflow=free_port())
    origins = [f"http://127.0.0.1:{ports.survey}"]
    credentials = prepare(
        settings, CUSTOMERS, DAYS, seed=3, origins=origins, echo=lambda _: None, progress=False
    )
    dispose_engines()
    services = start_services(settings, ports, with_mlflow_ui=False, workers=1)
    try:
        exercise_suite(settings, credentials, ports)
    finally:
        services.stop()
    assert all(p.poll() is not None for p in services.processes.values())

    # A second run reuses what exists: no new customers, no new models.
    again = prepare(
        settings, CUSTOMERS, DAYS, seed=3, origins=origins, echo=lambda _: None, progress=False
    )
    assert again == credentials


def test_demo_on_sqlite_and_a_local_mlflow_store(
    tmp_path: Path, sqlite_url: str, monkeypatch
) -> None:
    settings = make_settings(tmp_path, sqlite_url, demo_mode=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    # prepare() sets both for the services it starts; restore them afterwards.
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", settings.mlflow_artifact_root)
    # A metrics folder exported in the user's shell must not be shared by both services: each
    # clears stale files there at start, and a CI run failed when they raced on one folder.
    inherited = tmp_path / "inherited-prometheus"
    inherited.mkdir()
    (inherited / "histogram_1.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(inherited))
    run_demo(settings)
    assert (inherited / "histogram_1.db").exists(), "the demo's services use their own folders"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_demo_on_postgresql_and_an_mlflow_server(
    tmp_path: Path, database_url: str, mlflow_server_on_postgres: str, monkeypatch
) -> None:
    settings = make_settings(
        tmp_path, database_url, demo_mode=True, mlflow_tracking_uri=mlflow_server_on_postgres
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server_on_postgres)
    # prepare() sets both for the services it starts; restore them afterwards.
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", settings.mlflow_artifact_root)
    run_demo(settings)


def test_kundresa_help_lists_every_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kundresa", "--help"],
        cwd=Path(__file__).parents[2],  # this checkout's code, whatever the installed script
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in (
        "db",
        "serve",
        "synth",
        "import",
        "train",
        "evaluate",
        "promote",
        "score",
        "tokens",
        "sites",
        "users",
        "demo",
    ):
        assert f"  {name}" in result.stdout
