"""Prediction benchmark, in one run on one registered model and one machine.

    .venv/bin/python bench/predict.py [--customers 100000] [--workers 2] [--clients 8]
                                       [--seconds 10] [--workdir var/bench]

1. Online: single-record ``POST /v1/predict/brand-switch`` (with its reasons) of our service
   under gunicorn against ``mlflow models serve`` (its ``/invocations``) on the same
   ``models:/kundresa-brand-switch@champion``, both with ``--workers`` workers; requests/s and
   p50/p99 latency. Target (issue 4): ≥ 3× the throughput of mlflow models serve, lower p99.
2. Batch: ``score_all`` of every active customer of ``--customers`` synthetic ones (features,
   prediction, reasons for the at-risk, rows appended to risk_scores) against, in the same run,
   reading the needed event columns once (the feature builder's loader) plus the bare
   ``predict_proba`` on the prebuilt feature matrix. Target: ≤ 2× (read once + predict).

The work folder keeps the synthetic database (made once, ``training.synth``) and an MLflow
store with a model trained by ``training.train.train_task`` on a small sample database
(training on all customers is not what is measured). The load generator runs on the same
machine, so all figures share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import constant_body, measure  # noqa: E402 - needs ROOT on the path
from tests.ports import free_port  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 300
TASK = "brand_switch"


def _wait(url: str, process: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.3)


def prepare(workdir: Path, customers: int) -> dict[str, str]:
    """The databases and the champion model; each is made only when missing."""
    from sqlalchemy import func, select

    from shared.db.migrate import upgrade
    from shared.db.session import session_scope
    from shared.db.tables import Customer
    from shared.surveys import ensure_builtin_surveys
    from training.synth import generate

    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        "DATABASE_URL": f"sqlite:///{(workdir / 'kundresa.db').resolve()}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{(workdir / 'mlflow.db').resolve()}",
        "MLFLOW_ARTIFACT_ROOT": (workdir / "mlartifacts").resolve().as_uri(),
        "KUNDRESA_VAR_DIR": str(workdir.resolve()),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
    }
    os.environ.update(env)
    sample_url = f"sqlite:///{(workdir / 'sample.db').resolve()}"
    for url, count, seed in ((env["DATABASE_URL"], customers, 5), (sample_url, 3000, 6)):
        upgrade(url)
        ensure_builtin_surveys(url)
        with session_scope(url) as session:
            have = session.scalar(select(func.count()).select_from(Customer)) or 0
        if have == 0:
            print(f"generating {count:,} synthetic customers into {url} ...", flush=True)
            generate(url, customers=count, days=DAYS, seed=seed, end=END, progress=True)
        elif have != count and url == env["DATABASE_URL"]:
            print(f"note: {url} holds {have:,} customers, not {count:,}", flush=True)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from shared.tasks import CHAMPION_ALIAS, TASKS

    try:
        MlflowClient().get_model_version_by_alias(TASKS[TASK].model_name, CHAMPION_ALIAS)
    except MlflowException:
        from training.promotion import promote
        from training.train import train_task

        print("training the brand-switch model on the sample ...", flush=True)
        _name, version = train_task(sample_url, TASK)
        promote(TASK, version=version, force=True, reason="benchmark")
    return env


# ---------------------------------------------------------------------------------------------
# Online
# ---------------------------------------------------------------------------------------------


def _record(env: dict[str, str]) -> dict:
    from model_service.scoring import task_features
    from shared.customer_features import CUSTOMER_FEATURES
    from shared.journey_loader import load_journey_frames

    url = env["DATABASE_URL"].replace("kundresa.db", "sample.db")
    frames = load_journey_frames(url, END)
    features, _ = task_features(TASK, frames, END)
    return json.loads(features[CUSTOMER_FEATURES].iloc[[7]].to_json(orient="records"))[0]


def online(env: dict[str, str], workers: int, clients: int, seconds: float) -> None:
    from shared.auth import create_token
    from shared.customer_features import CUSTOMER_FEATURES
    from shared.tasks import TASKS

    record = _record(env)
    token = create_token(env["DATABASE_URL"], name="bench", role="support")
    ours_port, mlflow_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server_env = {
            **os.environ,
            **env,
            "KUNDRESA_MODEL_BIND": f"127.0.0.1:{ours_port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": tmp,
            "KUNDRESA_LOG_LEVEL": "WARNING",
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",  # mlflow models serve needs it
            # mlflow models serve starts `uvicorn` from PATH: the one in this environment.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        ours = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:model_service.gunicorn_conf",
                "model_service.app:create_app()",
            ],
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        theirs = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/{TASKS[TASK].model_name}@champion",
                "--env-manager",
                "local",
                "--workers",
                str(workers),
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
            ],
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(f"http://127.0.0.1:{ours_port}/healthz", ours, "our service")
            _wait(f"http://127.0.0.1:{mlflow_port}/ping", theirs, "mlflow models serve")
            ours_body = json.dumps({"records": [record]}).encode()
            ours_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            theirs_body = json.dumps(
                {
                    "dataframe_split": {
                        "columns": CUSTOMER_FEATURES,
                        "data": [[record[c] for c in CUSTOMER_FEATURES]],
                    }
                }
            ).encode()
            theirs_headers = {"Content-Type": "application/json"}
            # Both answer the same record before anything is timed.
            for port, path, body, headers in (
                (ours_port, "/v1/predict/brand-switch", ours_body, ours_headers),
                (mlflow_port, "/invocations", theirs_body, theirs_headers),
            ):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", data=body, headers=headers
                )
                with urllib.request.urlopen(request, timeout=60) as answer:
                    print(f"  sample answer from :{port}{path}: {answer.read()[:160]!r}")
            theirs_result = measure(
                mlflow_port,
                "/invocations",
                partial(constant_body, theirs_body),
                theirs_headers,
                200,
                seconds,
                clients,
                warm_up=2.0,
            )
            ours_result = measure(
                ours_port,
                "/v1/predict/brand-switch",
                partial(constant_body, ours_body),
                ours_headers,
                200,
                seconds,
                clients,
                warm_up=2.0,
            )
        finally:
            for process in (ours, theirs):
                process.terminate()
            for process in (ours, theirs):
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(
        f"\nOnline, one record per request, {workers} workers each, {clients} clients, "
        f"{seconds:.0f} s:"
    )
    for name, result in (
        ("mlflow models serve /invocations", theirs_result),
        ("kundresa /v1/predict/brand-switch (with reasons)", ours_result),
    ):
        print(
            f"  {name:50s} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f} ms  "
            f"p99 {result['p99_ms']:7.1f} ms  errors {result['errors']}"
        )
    print(
        f"  throughput ratio ours/mlflow: {ours_result['rps'] / theirs_result['rps']:.2f}× "
        f"(target ≥ 3×); p99 ours {ours_result['p99_ms']:.1f} ms vs "
        f"{theirs_result['p99_ms']:.1f} ms"
    )


# ---------------------------------------------------------------------------------------------
# Batch
# ---------------------------------------------------------------------------------------------


def batch(env: dict[str, str]) -> None:
    from model_service.champions import load_champion
    from model_service.scoring import score_all, task_features
    from shared.journey_loader import load_journey_frames
    from shared.settings import Settings

    settings = Settings.from_env()
    served = load_champion(settings, TASK)

    started = time.perf_counter()
    frames = load_journey_frames(settings.database_url, END)
    read_seconds = time.perf_counter() - started
    features, _ = task_features(TASK, frames, END)
    del frames
    started = time.perf_counter()
    served.predict_proba(features)
    predict_seconds = time.perf_counter() - started
    rows = len(features)
    del features

    started = time.perf_counter()
    scored = score_all(settings, TASK, as_of=END, progress=False, served=served)
    score_seconds = time.perf_counter() - started
    reference = read_seconds + predict_seconds
    print(f"\nBatch scoring {TASK} as of {END:%Y-%m-%d}: {scored:,} active customers")
    print(f"  read the event columns once      {read_seconds:8.1f} s")
    print(f"  bare predict_proba ({rows:,} rows) {predict_seconds:8.1f} s")
    print(
        f"  kundresa score (features, predict, reasons for the at-risk, append rows) "
        f"{score_seconds:.1f} s"
    )
    print(f"  ratio score / (read once + predict): {score_seconds / reference:.2f}× (target ≤ 2×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    env = prepare(args.workdir, args.customers)
    if not args.skip_online:
        online(env, args.workers, args.clients, args.seconds)
    if not args.skip_batch:
        batch(env)


if __name__ == "__main__":
    main()
