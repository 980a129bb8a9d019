"""SECRET_KEY signs the dashboard's cookies: a published or short one is refused outside demo
mode, and the key made in var/ is made once, owner-only, even by processes starting together."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import InsecureSecretKey, Settings
from tests.docker.images import read_env_file
from tests.ports import free_port

REPO = Path(__file__).parents[2]


def _settings(tmp_path: Path, key: str, demo_mode: bool = False) -> Settings:
    return Settings.from_env(var_dir=tmp_path, secret_key=key, demo_mode=demo_mode)


@pytest.mark.parametrize(
    "key",
    [
        read_env_file()["SECRET_KEY"],
        "change-me",
        "CHANGE-ME-please-to-something-long-and-random",
        "secret",
        "x" * 31,
    ],
)
def test_a_placeholder_or_short_key_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InsecureSecretKey, match="SECRET_KEY"):
        _settings(tmp_path, key).check_secret_key()


def test_a_long_random_key_and_any_key_in_demo_mode_are_accepted(tmp_path: Path) -> None:
    _settings(tmp_path, "k3Jq9-ZbV0xW7tLr2Yh5Nc8Pd4Fs6Gm1Qa").check_secret_key()
    _settings(tmp_path, read_env_file()["SECRET_KEY"], demo_mode=True).check_secret_key()


def test_gunicorn_refuses_to_start_with_the_example_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SECRET_KEY": read_env_file()["SECRET_KEY"],
        "KUNDRESA_DEMO": "false",
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:survey_service.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "survey_service.app:create_app()",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "SECRET_KEY is a published placeholder" in started.stderr


def test_processes_starting_together_share_one_owner_only_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["KUNDRESA_VAR_DIR"] = str(tmp_path / "var")
    script = "from shared.settings import Settings; print(Settings.from_env().secret_key)"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
