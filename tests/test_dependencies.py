"""Every imported package is declared with bounds, and the lock files agree with pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
DEV = [Requirement(line) for line in PROJECT["optional-dependencies"]["dev"]]
# Extras a user installs for one feature (pyspark for --engine spark): imported only there.
EXTRAS = [
    Requirement(line)
    for name, lines in PROJECT["optional-dependencies"].items()
    if name != "dev"
    for line in lines
]
RUNTIME_FOLDERS = ("shared", "survey_service", "model_service", "training", "kundresa")
DEV_FOLDERS = ("tests", "bench")
FIRST_PARTY = set(RUNTIME_FOLDERS + DEV_FOLDERS)


def _imported_modules(folders: tuple[str, ...]) -> set[str]:
    modules = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules - FIRST_PARTY - set(sys.stdlib_module_names)


def _undeclared(modules: set[str], requirements: list[Requirement]) -> set[str]:
    """Modules no declared distribution provides (mlflow comes in mlflow and mlflow-skinny)."""
    declared = {canonicalize_name(requirement.name) for requirement in requirements}
    installed = packages_distributions()
    return {
        module
        for module in modules
        if not declared & {canonicalize_name(name) for name in installed.get(module, [module])}
    }


def _pins(lock: str) -> dict[str, str]:
    lines = (ROOT / lock).read_text().splitlines()
    pins = (line.split("==") for line in lines if line and line[0].isalnum())
    return {canonicalize_name(name): version.strip() for name, version in pins}


def test_every_imported_package_is_declared() -> None:
    runtime = _undeclared(_imported_modules(RUNTIME_FOLDERS), RUNTIME + EXTRAS)
    assert runtime == set(), "imported at run time but not in dependencies"
    dev = _undeclared(_imported_modules(DEV_FOLDERS), RUNTIME + DEV)
    assert dev == set(), "imported by tests or bench but not declared"


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    for requirement in RUNTIME + DEV:
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators and "<" in operators, f"{requirement} needs both bounds"


def test_the_locks_pin_every_dependency_within_its_bounds() -> None:
    for lock, requirements in (("requirements.lock", RUNTIME), ("requirements-dev.lock", DEV)):
        pins = _pins(lock)
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is missing from {lock}: run the update in the README"
            assert requirement.specifier.contains(pins[name]), f"{lock}: {name} outside bounds"
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime, "the two locks disagree"


def test_docker_and_make_install_from_the_locks() -> None:
    assert "pip install -r requirements.lock" in (ROOT / "docker" / "Dockerfile").read_text()
    assert "-r requirements-dev.lock" in (ROOT / "Makefile").read_text()
