"""A failing step of `kundresa demo` says which step, why and what to do, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kundresa.demo import DemoStepFailed, prepare
from tests.conftest import make_settings

ORIGINS = ["http://127.0.0.1:8000"]
REPO = Path(__file__).parents[2]


def test_an_unwritable_var_dir_fails_the_credentials_step_with_advice(
    tmp_path: Path, sqlite_url: str, monkeypatch
) -> None:
    # Below a plain file no folder can be made, whoever runs the test (root ignores modes).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = make_settings(tmp_path, sqlite_url, var_dir=blocker / "var", demo_mode=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    # prepare() sets both for the services it starts; restore them afterwards.
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", settings.mlflow_artifact_root)

    with pytest.raises(DemoStepFailed) as failed:
        prepare(settings, 50, 60, seed=1, origins=ORIGINS, echo=lambda _: None, progress=False)

    message = failed.value.format_message()
    assert message.startswith("Making the demo site, API tokens and dashboard sign-in failed:")
    assert "NotADirectoryError" in message
    assert f"What to do: check that {blocker / 'var'} is writable" in message


def test_a_broken_mlflow_uri_fails_the_training_step_with_advice(
    tmp_path: Path, sqlite_url: str, monkeypatch
) -> None:
    settings = make_settings(
        tmp_path, sqlite_url, demo_mode=True, mlflow_tracking_uri="nosuch://nowhere"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    # prepare() sets both for the services it starts; restore them afterwards.
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", settings.mlflow_artifact_root)
    steps: list[str] = []

    with pytest.raises(DemoStepFailed) as failed:
        prepare(settings, 50, 60, seed=1, origins=ORIGINS, echo=steps.append, progress=False)

    message = failed.value.format_message()
    assert message.startswith("Training and promoting both models in MLflow failed:")
    assert "What to do: check MLFLOW_TRACKING_URI (nosuch://nowhere)" in message
    assert sum("done in" in line for line in steps) == 3, "the steps before it ran"


def test_kundresa_demo_prints_the_failed_step_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # this checkout's code, from a folder outside it
        "KUNDRESA_VAR_DIR": str(blocker / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kundresa.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    env.pop("SECRET_KEY", None)  # the demo makes one in var/, which cannot be made here

    result = subprocess.run(
        [sys.executable, "-m", "kundresa", "demo", "--customers", "50", "--days", "60"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "Reading the settings failed: " in result.stderr
    assert "What to do: set KUNDRESA_VAR_DIR to a folder you can write" in result.stderr
