"""What a container of docker/compose.yaml would run, read the way Docker reads it: a stage's
ENV, ENTRYPOINT and CMD from docker/Dockerfile (inherited from the stage it is built FROM), the
service's `environment`, `entrypoint` and `command` from compose.yaml, and compose's variable
interpolation with the values of docker/.env.example. With no Docker engine here, this is how the
tests run each image's command directly on the machine.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DOCKER = Path(__file__).parents[2] / "docker"


@dataclass
class Stage:
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


@dataclass
class Container:
    """A service's process as Docker would start it: argv and the full environment."""

    argv: list[str]
    env: dict[str, str]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined; comment lines inside a
    continuation are dropped, as Docker drops them."""
    joined: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    result = []
    for line in joined:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def dockerfile_stages(dockerfile: str | None = None) -> dict[str, Stage]:
    text = dockerfile if dockerfile is not None else (DOCKER / "Dockerfile").read_text()
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction, arguments in _instructions(text):
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arguments, re.I)
            assert match, arguments
            parent = stages.get(match.group(1))
            current = (
                Stage(dict(parent.env), list(parent.entrypoint), list(parent.cmd))
                if parent
                else Stage()
            )
            stages[match.group(2) or match.group(1)] = current
        elif current is None:
            continue
        elif instruction == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                current.env[name] = value
        elif instruction == "ENTRYPOINT":
            current.entrypoint = json.loads(arguments)
            current.cmd = []  # Docker resets an inherited CMD when ENTRYPOINT is set
        elif instruction == "CMD":
            current.cmd = json.loads(arguments)
    return stages


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The variables a --env-file sets: uncommented NAME=value lines."""
    text = (path or DOCKER / ".env.example").read_text()
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = re.sub(r"\s+#.*$", "", match.group(2)).strip()
    return values


def documented_variables(path: Path | None = None) -> set[str]:
    """Every variable .env.example names, set (NAME=...) or commented out (# NAME=...)."""
    text = (path or DOCKER / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: object, variables: dict[str, str]) -> object:
    """Compose's interpolation of ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error},
    ${NAME?error}, $NAME and $$, applied to every string of a parsed compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        present = name in variables
        empty = not variables.get(name)
        if op in (":-", "-") and (empty if op == ":-" else not present):
            return arg
        if op in (":?", "?") and (empty if op == ":?" else not present):
            raise ValueError(f"compose refuses to start: {name}: {arg}")
        return variables.get(name, "")

    return _VARIABLE.sub(replace, value)


def compose_file(variables: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load((DOCKER / "compose.yaml").read_text()), variables)


def _stage_of(compose: dict, service: dict) -> str:
    if "build" in service:
        return service["build"].get("target", "")
    builders = [
        s["build"]["target"]
        for s in compose["services"].values()
        if "build" in s and s.get("image") == service["image"]
    ]
    assert len(builders) == 1, f"no single service builds {service['image']}"
    return builders[0]


def container(name: str, variables: dict[str, str], command: list[str] | None = None) -> Container:
    """What `docker compose run` would start for service ``name`` (``command`` replaces the
    service's command, as `docker compose run SERVICE COMMAND...` does)."""
    compose = compose_file(variables)
    service = compose["services"][name]
    stage = dockerfile_stages()[_stage_of(compose, service)]

    env = dict(stage.env)
    for key, value in (service.get("environment") or {}).items():
        if value is None:  # a bare key takes the value from the shell or the env file, if any
            if key in variables:
                env[key] = variables[key]
            else:
                env.pop(key, None)
        else:
            env[key] = str(value)

    entrypoint = service.get("entrypoint", stage.entrypoint)
    if command is None:
        command = service.get("command", [] if "entrypoint" in service else stage.cmd)
    return Container(argv=[*entrypoint, *command], env=env)


def published_container_port(name: str, variables: dict[str, str]) -> int:
    """The container port a service's (single) `ports` entry publishes."""
    [mapping] = compose_file(variables)["services"][name]["ports"]
    return int(str(mapping).rsplit(":", 1)[1])
