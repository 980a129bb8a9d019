"""The model service will not start with the example's SECRET_KEY, except in demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_service.app import create_app
from shared.settings import InsecureSecretKey
from tests.conftest import make_settings
from tests.docker.images import read_env_file

PLACEHOLDER = read_env_file()["SECRET_KEY"]


def test_the_service_refuses_the_placeholder_key(
    sqlite_url: str, tmp_path: Path, empty_mlflow: str
) -> None:
    settings = make_settings(
        tmp_path, sqlite_url, mlflow_tracking_uri=empty_mlflow, secret_key=PLACEHOLDER
    )
    with pytest.raises(InsecureSecretKey, match="SECRET_KEY"):
        create_app(settings, start_polling=False)


def test_a_demo_run_still_starts_with_it(sqlite_url: str, tmp_path: Path, empty_mlflow: str):
    settings = make_settings(
        tmp_path,
        sqlite_url,
        mlflow_tracking_uri=empty_mlflow,
        secret_key=PLACEHOLDER,
        demo_mode=True,
    )
    client = create_app(settings, start_polling=False).test_client()
    assert client.get("/dashboard/sign-in").status_code == 200
