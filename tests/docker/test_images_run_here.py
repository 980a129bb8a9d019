"""Every image's command, run directly on this machine with the environment its container would
get (there is no Docker engine here): the stage's ENV from docker/Dockerfile plus the service's
`environment` from compose.yaml, interpolated with docker/.env.example's values.

Only what cannot be the same outside a container is changed: the hosts `postgres` and `mlflow`
become the local PostgreSQL (a fresh, empty database) and an `mlflow server` on loopback, every
`0.0.0.0:PORT` bind becomes a free loopback port, and every folder under /var or /tmp a
temporary one. The `kundresa` on PATH is a shim that runs this checkout's `python -m kundresa`,
as the image's installed script runs the image's code. KUNDRESA_WORKERS is set to 1 in the env
file: it saves memory here and shows that the value an operator sets reaches gunicorn.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from kundresa.demo import Services
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import RiskScore
from shared.tasks import TASKS
from tests.docker.images import Container, container, published_container_port, read_env_file
from tests.e2e.mlflow_server import fresh_postgres_database
from tests.ports import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
CUSTOMERS = 300
DAYS = 300
WORKERS = 1


class Machine:
    """Runs the compose services' commands here, each with its container's environment made
    local (see the module docstring)."""

    def __init__(self, tmp_path: Path, database_url: str, mlflow_url: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.mlflow_url = mlflow_url
        # The example's SECRET_KEY is a placeholder the services refuse: an operator sets one.
        secret = {"SECRET_KEY": secrets.token_urlsafe(48)}
        self.variables = {**read_env_file(), "KUNDRESA_WORKERS": str(WORKERS), **secret}
        self.services = Services(tmp_path / "service-logs")
        self.binds: dict[str, dict[str, tuple[int, int]]] = {}
        self.bin = tmp_path / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        shim = self.bin / "kundresa"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kundresa "$@"\n')
        shim.chmod(0o755)

    def _local(self, name: str, target: Container) -> Container:
        env = dict(target.env)
        binds: dict[str, tuple[int, int]] = {}
        for key, value in target.env.items():
            if key == "DATABASE_URL":
                image_url = make_url(value)
                assert image_url.host == "postgres", value
                local = make_url(self.database_url)
                env[key] = image_url.set(
                    host=local.host,
                    port=local.port,
                    username=local.username,
                    password=local.password,
                    database=local.database,
                ).render_as_string(hide_password=False)
            elif key == "MLFLOW_TRACKING_URI":
                assert urlsplit(value).hostname == "mlflow", value
                env[key] = self.mlflow_url
            elif bind := re.fullmatch(r"0\.0\.0\.0:(\d+)", value):
                port = free_port()
                binds[key] = (int(bind.group(1)), port)
                env[key] = f"127.0.0.1:{port}"
            elif value.startswith(("/var/", "/tmp/")):
                env[key] = str(self.tmp_path / name / key.lower())
                Path(env[key]).mkdir(parents=True, exist_ok=True)
        self.binds[name] = binds
        # What the python base image and the kundresa user give every container: the installed
        # `kundresa`, `gunicorn` and `sh` on PATH, the code (WORKDIR /app), a home and a locale.
        home = self.tmp_path / name / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            PATH=os.pathsep.join(
                [
                    str(self.bin),
                    str(Path(sys.executable).parent),
                    os.environ.get("PATH", "/usr/bin:/bin"),
                ]
            ),
            PYTHONPATH=str(REPO),
            HOME=str(home),
            LANG="C.UTF-8",
        )
        return Container(argv=target.argv, env=env)

    def run_job(
        self, name: str, command: list[str] | None = None, **variables: str
    ) -> subprocess.CompletedProcess:
        target = self._local(name, container(name, {**self.variables, **variables}, command))
        workdir = self.tmp_path / name / "workdir"
        workdir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            target.argv, env=target.env, cwd=workdir, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (
            f"{name} {target.argv} exited with {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result

    def start_server(self, name: str) -> int:
        """Start a server and wait for /readyz on the port its image's environment binds;
        returns that port."""
        target = self._local(name, container(name, self.variables))
        [(image_port, port)] = self.binds[name].values()
        assert image_port == published_container_port(name, self.variables), (
            f"{name}'s image binds {image_port}, compose publishes another port"
        )
        workdir = self.tmp_path / name / "workdir"
        workdir.mkdir(parents=True, exist_ok=True)
        self.services.start(name, target.argv, target.env)
        self.services.wait_ready(name, f"http://127.0.0.1:{port}/readyz", timeout=180)
        return port

    def workers_of(self, name: str) -> int:
        master = self.services.processes[name].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return len(children)


@pytest.fixture
def machine(tmp_path: Path, mlflow_server_on_postgres: str):
    with fresh_postgres_database("kundresa_images") as database_url:
        here = Machine(tmp_path, database_url, mlflow_server_on_postgres)
        try:
            yield here
        finally:
            here.services.stop()


def test_every_image_command_runs_here_against_postgresql_and_an_mlflow_server(
    machine: Machine,
) -> None:
    # The one-shot migration job, on an empty database.
    machine.run_job("migrate")
    # Data, the way an operator loads it in a one-off container of the same image.
    machine.run_job(
        "migrate", ["synth", "--customers", str(CUSTOMERS), "--days", str(DAYS), "--quiet"]
    )

    survey_port = machine.start_server("survey")
    assert machine.workers_of("survey") == WORKERS, "KUNDRESA_WORKERS does not reach gunicorn"

    # The training profile: the train job once per task (TRAIN_TASK is the operator's choice).
    for task in sorted(TASKS):
        machine.run_job("train", TRAIN_TASK=task)

    model_port = machine.start_server("model")
    assert machine.workers_of("model") == WORKERS, "KUNDRESA_WORKERS does not reach gunicorn"

    machine.run_job("score")
    with session_scope(machine.database_url) as session:
        for task in TASKS:
            scored = session.scalar(
                select(func.count()).select_from(RiskScore).where(RiskScore.task == task)
            )
            assert scored, f"the score job wrote no {task} scores"
    dispose_engines()

    for port in (survey_port, model_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30) as response:
            assert response.status == 200
