"""Reading and writing MLflow: where runs go, what a registered version carries, its artifacts.

The trainer, promotion and evaluation of a registered version meet MLflow here (and in
``training.train``, which logs a run): tags, metadata, evaluation rows, the pip requirements
and skops trusted types a logged model needs, and the code version a run records.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path, PurePosixPath

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from shared.settings import Settings
from shared.tasks import DEFINITION_TAG, META_DEFINITION, Task, TaskDefinition
from training.datasets import as_utc_datetime


def configure_mlflow(tracking_uri: str | None = None) -> str:
    """Point MLflow at ``tracking_uri``, else MLFLOW_TRACKING_URI, else the local store in var/."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or _settings().mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _settings() -> Settings:
    # No secret is needed to train; passing one keeps Settings from creating var/secret_key.
    return Settings.from_env(secret_key="unused-by-training")


def task_experiment(task: str, tracking_uri: str) -> str:
    """The experiment of a task; a local store keeps its artifacts under MLFLOW_ARTIFACT_ROOT."""
    name = f"kundresa-{task.replace('_', '-')}"
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if not tracking_uri.startswith(("http://", "https://", "databricks")):
        root = os.environ.get("MLFLOW_ARTIFACT_ROOT") or _settings().mlflow_artifact_root
        location = f"{root.rstrip('/')}/{name}"
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:  # created by a concurrent run
        return mlflow.get_experiment_by_name(name).experiment_id


def load_registered_model(model_name: str, version: str):
    """Load a registered scikit-learn model of ours.

    MLflow refuses to deserialize any model unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true;
    our own registry is the trusted source it asks for, so it is allowed here.
    """
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def model_metadata(model_name: str, version: str) -> dict:
    """The MLmodel metadata a registered version was logged with (empty when none)."""
    return mlflow.models.get_model_info(f"models:/{model_name}/{version}").metadata or {}


def skops_trusted_types(model) -> list[str]:
    """Every type skops does not trust by default that the fitted model contains."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def pip_requirements() -> list[str]:
    # Given explicitly: MLflow's inference of requirements loads the model in a subprocess.
    return [
        f"{name}=={installed_version(name)}"
        for name in ("scikit-learn", "pandas", "numpy", "scipy", "skops")
    ]


def champion(client: MlflowClient, model_name: str, alias: str):
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def latest_version(client: MlflowClient, model_name: str) -> str:
    versions = client.search_model_versions(f"name='{model_name}'")
    if not versions:
        raise LookupError(f"no versions of {model_name} are registered; run `kundresa train`")
    return str(max(int(v.version) for v in versions))


def tag_version(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set each of ``tags`` on a registered version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def version_definition(model_name: str, version: str) -> TaskDefinition | None:
    """The task definition a registered version was trained for; None when not recorded."""
    return read_definition(MlflowClient(), model_name, str(version))


def read_definition(client: MlflowClient, model_name: str, version: str) -> TaskDefinition | None:
    tag = client.get_model_version(model_name, version).tags.get(DEFINITION_TAG)
    if tag:
        return TaskDefinition.from_dict(json.loads(tag))
    metadata = model_metadata(model_name, version)
    if META_DEFINITION in metadata:
        return TaskDefinition.from_dict(metadata[META_DEFINITION])
    return None


def version_train_end(client: MlflowClient, model_name: str, version: str) -> datetime | None:
    tag = client.get_model_version(model_name, version).tags.get("train_data_end")
    return as_utc_datetime(tag) if tag else None


def log_evaluation_rows(rows: pd.DataFrame, artifact: str) -> None:
    """Log a run's held-out rows (features, labels and snapshot times) as ``artifact``.

    Without their ids: a row is named by its customer or cart, and an artifact store keeps
    what it is given for as long as the run lives, beyond any erasure request. Promotion and
    the calibration curve score these rows as a whole; neither needs to know whose they are.
    """
    path = PurePosixPath(artifact)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / path.name
        rows.reset_index(drop=True).to_parquet(local)
        mlflow.log_artifact(str(local), artifact_path=str(path.parent))


def read_evaluation_rows(run_id: str, artifact: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=tmp
        )
        return pd.read_parquet(path)


def log_evaluation_run(
    task: Task, tracking_uri: str, version: str, params: dict, metrics: dict, by_stage: dict
) -> None:
    """Log an ``evaluate`` run of a registered version in the task's experiment."""
    with mlflow.start_run(
        experiment_id=task_experiment(task.name, tracking_uri),
        run_name=f"evaluate-{task.name}-v{version}",
    ):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_text(json.dumps(by_stage, indent=2), "metrics_by_stage.json")


def code_version() -> dict[str, object]:
    """The installed ``kundresa`` version, and the git commit of the source checkout (and
    whether it has uncommitted changes) when the code runs from one."""
    try:
        package = installed_version("kundresa")
    except PackageNotFoundError:
        package = "unknown"
    root = Path(__file__).resolve().parent.parent
    commit, dirty = None, None
    if (root / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout.strip()  # fmt: skip
            status = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout.strip()  # fmt: skip
            dirty = bool(status)
        except (OSError, subprocess.SubprocessError):
            commit = None
    text = f"kundresa {package}"
    if commit:
        text += f" git {commit[:12]}" + (" (uncommitted changes)" if dirty else "")
    return {"package_version": package, "git_commit": commit, "git_dirty": dirty, "text": text}


def champion_version(task: Task) -> str | None:
    """The version the task's alias points at; None when it has no champion yet."""
    found = champion(MlflowClient(), task.model_name, task.alias)
    return None if found is None else str(found.version)
