"""``kundresa demo``: the whole suite on one machine, on embedded defaults.

It migrates a SQLite database under ``var/``, makes a demo site, tokens and a sign-in,
generates synthetic customers, trains and promotes both models into a local MLflow store,
scores everyone, and runs the survey service, the model service and the MLflow UI under
gunicorn until Ctrl-C. Every step is skipped when its result already exists, so a second run
starts in seconds. The end-to-end tests call the same functions with a small data size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from sqlalchemy import func, select

from shared.db.session import session_scope
from shared.db.tables import Customer, RiskScore
from shared.settings import Settings
from shared.tasks import CHAMPION_ALIAS, TASKS

Echo = Callable[[str], None]


class DemoStepFailed(click.ClickException):
    """A step that failed, with what to do about it."""

    def __init__(self, step: str, why: str, advice: str) -> None:
        super().__init__(f"{step} failed: {why}\n  What to do: {advice}")


@dataclass
class DemoCredentials:
    site_key: str
    admin_token: str
    support_token: str
    user_email: str
    user_password: str


@dataclass(frozen=True)
class Ports:
    survey: int = 8000
    model: int = 8001
    mlflow: int = 5000


def environment(settings: Settings) -> dict[str, str]:
    """The environment every process of the demo runs with: one database, one MLflow store."""
    env = dict(os.environ)
    env.update(
        {
            "KUNDRESA_VAR_DIR": str(settings.var_dir),
            "DATABASE_URL": settings.database_url,
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "MLFLOW_ARTIFACT_ROOT": settings.mlflow_artifact_root,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "OMP_NUM_THREADS": "1",
            "KUNDRESA_DEMO": "true",
            # The MLflow server's GenAI job runner starts eight idle worker processes (about
            # 2 GB); Kundresa uses none of its jobs.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    return env


def _reason(exc: BaseException) -> str:
    """The first line of an error, with its kind: enough to tell what broke without a trace."""
    message = str(exc).strip()
    first = message.splitlines()[0] if message else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@contextmanager
def step(number: int, total: int, text: str, echo: Echo, advice: str) -> Iterator[None]:
    """One numbered step: says what it does, how long it took, and when it fails, which step,
    why and what to do (``advice``) instead of a traceback."""
    echo(click.style(f"[{number}/{total}] {text} ...", bold=True))
    started = time.monotonic()
    try:
        yield
    except DemoStepFailed:
        raise
    except Exception as exc:
        raise DemoStepFailed(text, _reason(exc), advice) from exc
    echo(f"      done in {time.monotonic() - started:.1f} s")


def ensure_credentials(settings: Settings, origins: list[str]) -> DemoCredentials:
    """The demo site, tokens and sign-in: made once, kept in var/demo-credentials.json (0600)."""
    from model_service.dashboard.users import create_user
    from shared.auth import create_site, create_token

    path = settings.var_dir / "demo-credentials.json"
    if path.exists():
        return DemoCredentials(**json.loads(path.read_text()))
    import secrets

    credentials = DemoCredentials(
        site_key=create_site(settings.database_url, "Demo shop", origins),
        admin_token=create_token(settings.database_url, "demo-admin", "admin"),
        support_token=create_token(settings.database_url, "demo-support", "support"),
        user_email="demo@kundresa.local",
        user_password=secrets.token_urlsafe(9),
    )
    create_user(
        settings.database_url,
        email=credentials.user_email,
        role="admin",
        password=credentials.user_password,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(credentials), indent=2))
    path.chmod(0o600)
    return credentials


def customer_count(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


def score_count(settings: Settings, task: str) -> int:
    with session_scope(settings.database_url) as session:
        return (
            session.scalar(
                select(func.count()).select_from(RiskScore).where(RiskScore.task == task)
            )
            or 0
        )


def has_champion(settings: Settings, task: str) -> bool:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.mlflow_tracking_uri
    # Name the registry too: a process-wide mlflow.set_registry_uri must not redirect us.
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.get_model_version_by_alias(TASKS[task].model_name, CHAMPION_ALIAS)
    except MlflowException:
        return False
    return True


def prepare(
    settings: Settings,
    customers: int,
    days: int,
    seed: int,
    origins: list[str],
    echo: Echo = click.echo,
    progress: bool = True,
) -> DemoCredentials:
    """Everything before the services start; each step is skipped when already done."""
    from shared.db.migrate import upgrade
    from shared.surveys import ensure_builtin_surveys

    os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    os.environ["MLFLOW_ARTIFACT_ROOT"] = settings.mlflow_artifact_root
    var_dir = settings.var_dir
    start_over = "'make clean' removes var/ to start from scratch"
    total = 5
    with step(
        1,
        total,
        f"Migrating the database ({_safe_url(settings.database_url)})",
        echo,
        f"check DATABASE_URL and that {var_dir} is writable; {start_over}.",
    ):
        upgrade(settings.database_url)
        ensure_builtin_surveys(settings.database_url)
    with step(
        2,
        total,
        "Making the demo site, API tokens and dashboard sign-in",
        echo,
        f"check that {var_dir} is writable (set KUNDRESA_VAR_DIR to move it); {start_over}.",
    ):
        credentials = ensure_credentials(settings, origins)
    with step(
        3,
        total,
        f"Generating {customers:,} synthetic customers over {days} days",
        echo,
        f"check the free disk space and DATABASE_URL; {start_over}.",
    ):
        existing = customer_count(settings)
        if existing:
            echo(f"      {existing:,} customers already there; keeping them")
        else:
            from training.synth import generate

            generate(
                settings.database_url, customers=customers, days=days, seed=seed, progress=progress
            )
    with step(
        4,
        total,
        "Training and promoting both models in MLflow",
        echo,
        f"check MLFLOW_TRACKING_URI ({_safe_url(settings.mlflow_tracking_uri)}) and that "
        f"{var_dir} is writable; with too little data, raise --customers or --days; "
        f"{start_over}.",
    ):
        from training.promotion import promote
        from training.train import train_task

        for task in TASKS:
            if has_champion(settings, task):
                echo(f"      {TASKS[task].model_name}@{CHAMPION_ALIAS} exists; keeping it")
                continue
            echo(f"      training {task} ...")
            uri = settings.mlflow_tracking_uri
            _name, version = train_task(
                settings.database_url, task, tracking_uri=uri, progress=progress
            )
            if not has_champion(settings, task):  # an older version may have been refused
                promote(task, version=version, force=True, tracking_uri=uri, reason="demo")
    with step(
        5,
        total,
        "Scoring every customer and open cart",
        echo,
        "check that both models have a champion ('kundresa promote --task ...') and that "
        f"MLFLOW_TRACKING_URI is reachable; {start_over}.",
    ):
        from model_service.scoring import score_all

        for task in TASKS:
            if score_count(settings, task):
                echo(f"      {task} scores exist; keeping them")
                continue
            score_all(settings, task, progress=progress)
    return credentials


def _safe_url(url: str) -> str:
    """A database or MLflow URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not host-shaped, e.g. "databricks" or a bare path
        return url.rsplit("@", 1)[-1]


class Services:
    """The processes the demo started; stops every one of them, whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, name: str, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoStepFailed(
                    f"Starting {name}",
                    f"it exited with code {process.returncode}; its log ends with:\n"
                    + self.log_tail(name),
                    f"read {self.log_dir / (name + '.log')}; is the port already in use?",
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise DemoStepFailed(
            f"Starting {name}",
            f"{url} did not answer within {timeout:.0f} s",
            f"read {self.log_dir / (name + '.log')}",
        )

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a service's log, so a failure can be read where it is reported."""
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "    (no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def mlflow_server_command(backend_store: str, port: int, artifacts: list[str]) -> list[str]:
    """``mlflow server`` on loopback with one worker; ``artifacts`` says where models go."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store,
        *artifacts,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def start_services(
    settings: Settings,
    ports: Ports,
    with_mlflow_ui: bool = True,
    workers: int = 2,
    with_worker: bool = True,
) -> Services:
    """Start both services (and the MLflow UI) under gunicorn on loopback and wait until ready,
    and ``kundresa worker`` beside them for the scheduled jobs."""
    env = environment(settings)
    services = Services(settings.var_dir / "logs")
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]

    def metrics_folder(name: str) -> dict[str, str]:
        # Each service its own: one inherited PROMETHEUS_MULTIPROC_DIR would add up both
        # services' metrics, and each clears stale files at start (a CI run failed on that).
        folder = settings.var_dir / "prometheus" / name
        folder.mkdir(parents=True, exist_ok=True)
        return {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}

    try:
        services.start(
            "survey",
            [
                *gunicorn,
                "-c",
                "python:survey_service.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{ports.survey}",
                "survey_service.app:create_app()",
            ],
            metrics_folder("survey"),
        )
        services.start(
            "model",
            [
                *gunicorn,
                "-c",
                "python:model_service.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{ports.model}",
                "model_service.app:create_app()",
            ],
            metrics_folder("model"),
        )
        if with_worker:
            # Nightly scoring with drift checks, weekly retraining, webhook delivery.
            services.start("worker", [sys.executable, "-m", "kundresa", "worker"], env)
        if with_mlflow_ui:
            services.start(
                "mlflow",
                mlflow_server_command(
                    settings.mlflow_tracking_uri,
                    ports.mlflow,
                    ["--default-artifact-root", settings.mlflow_artifact_root],
                ),
                env,
            )
        services.wait_ready("survey", f"http://127.0.0.1:{ports.survey}/readyz")
        services.wait_ready("model", f"http://127.0.0.1:{ports.model}/readyz")
        if with_mlflow_ui:
            services.wait_ready("mlflow", f"http://127.0.0.1:{ports.mlflow}/health")
    except BaseException:
        services.stop()
        raise
    return services


@click.command()
@click.option("--customers", default=3000, show_default=True, help="Synthetic customers to make.")
@click.option("--days", default=365, show_default=True, help="Days of history to make.")
@click.option("--seed", default=7, show_default=True)
@click.option("--survey-port", default=8000, show_default=True)
@click.option("--model-port", default=8001, show_default=True)
@click.option("--mlflow-port", default=5000, show_default=True)
def demo(
    customers: int, days: int, seed: int, survey_port: int, model_port: int, mlflow_port: int
) -> None:
    """Run the whole suite locally on embedded defaults until Ctrl-C.

    Everything lives under ./var (remove it with 'make clean'); a second run reuses it.
    """
    started = time.monotonic()
    try:
        settings = Settings.from_env(demo_mode=True)
    except (OSError, ValueError) as exc:  # an unwritable var/, a number that is not one
        raise DemoStepFailed(
            "Reading the settings",
            _reason(exc),
            "set KUNDRESA_VAR_DIR to a folder you can write (default ./var) and check the "
            "KUNDRESA_* variables.",
        ) from exc
    ports = Ports(survey_port, model_port, mlflow_port)
    origins = [f"http://127.0.0.1:{survey_port}", f"http://localhost:{survey_port}"]
    credentials = prepare(settings, customers, days, seed, origins)
    click.secho(
        "Starting the survey service, the model service, the worker and the MLflow UI ...",
        bold=True,
    )
    services = start_services(settings, ports)
    survey = f"http://127.0.0.1:{ports.survey}"
    model = f"http://127.0.0.1:{ports.model}"
    click.echo(
        f"""
Kundresa is running (ready in {time.monotonic() - started:.0f} s). Open:
  Dashboard        {model}/dashboard/     sign in as {credentials.user_email} / {credentials.user_password}
  Demo shop        {survey}/demo/shop
  Survey API docs  {survey}/docs
  Model API docs   {model}/docs
  MLflow UI        http://127.0.0.1:{ports.mlflow}/
API tokens (also in {settings.var_dir / "demo-credentials.json"}):
  admin   {credentials.admin_token}
  support {credentials.support_token}
The worker runs the scheduled jobs (kundresa worker; runs on the dashboard's Models page).
Logs: {settings.var_dir / "logs"}/. Press Ctrl-C to stop everything.
"""
    )

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Also SIGINT: a shell that starts us in the background hands it down as ignored.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while all(p.poll() is None for p in services.processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in services.processes.items() if p.poll() is not None]
        click.secho(f"{', '.join(dead)} stopped unexpectedly; see {services.log_dir}.", fg="red")
    except KeyboardInterrupt:
        click.echo("\nStopping ...")
    finally:
        services.stop()
        click.echo("Stopped every process the demo started.")
