"""``kundresa score``: batch-score every active customer or open cart with the champion."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from shared.settings import Settings
from shared.tasks import TASKS


@click.command()
@click.option(
    "--task",
    type=click.Choice(sorted({*TASKS, *(t.replace("_", "-") for t in TASKS)})),
    required=True,
    help="brand_switch (customers) or cart_abandonment (open carts).",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Score as of this date (UTC; only data before it is used). Default: now.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the scores to this CSV file.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def score(task: str, as_of: datetime | None, output: Path | None, progress: bool) -> None:
    """Append a new risk score for every active customer (or open cart) to the history."""
    from mlflow.exceptions import MlflowException

    from model_service.champions import ModelRefused
    from model_service.scoring import score_all

    task = task.replace("-", "_")
    settings = Settings.from_env()
    try:
        count = score_all(settings, task, as_of=as_of, output=output, progress=progress)
    except (MlflowException, ModelRefused) as exc:
        raise click.ClickException(
            f"cannot load {TASKS[task].model_name}@{TASKS[task].alias}: "
            f"{str(exc).splitlines()[0]} (train and promote one with 'kundresa train' and "
            "'kundresa promote')"
        ) from exc
    where = f" and {output}" if output else ""
    click.echo(f"Scored {count:,} rows for {task}; appended to risk_scores{where}.")
