"""``kundresa``: one command with a subcommand for everything a person does.

Subcommands live beside the code they drive (``training.cli``, ``model_service.cli``; the
operator's commands and the demo in this package) and are imported only when used, so
``kundresa --help`` is instant and a service never imports the training stack just to start.
"""

from __future__ import annotations

import importlib
import os

import click

# name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "db": "kundresa.admin:db",
    "tokens": "kundresa.admin:tokens",
    "sites": "kundresa.admin:sites",
    "users": "kundresa.admin:users",
    "serve": "kundresa.serve:serve",
    "synth": "training.cli:synth",
    "import": "training.cli:import_group",
    "export": "training.cli:export",
    "train": "training.cli:train",
    "evaluate": "training.cli:evaluate",
    "promote": "training.cli:promote",
    "score": "model_service.cli:score",
    "demo": "kundresa.demo:demo",
    "worker": "kundresa.worker:worker",
    "webhooks": "kundresa.webhooks_cli:webhooks",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kundresa")
def main() -> None:
    """Kundresa: customer surveys, journey events and churn-risk models for web shops.

    Settings come from environment variables (DATABASE_URL, MLFLOW_TRACKING_URI, ...); with
    none set, everything lives under ./var (a SQLite file and a local MLflow store).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
