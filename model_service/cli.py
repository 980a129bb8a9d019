"""``kundresa score``: batch-score every active customer or open cart with the champion."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from shared.settings import Settings
from shared.spark.cli_options import spark_source_options
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
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="local: one process. spark: Apache Spark (pip install 'kundresa[spark]' and Java).",
)
@spark_source_options
@click.option(
    "--conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="Spark: a Spark setting, e.g. --conf spark.sql.shuffle.partitions=400 (repeatable).",
)
@click.option(
    "--output-parquet",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Spark: also write the scores to this Parquet folder.",
)
def score(
    task: str,
    as_of: datetime | None,
    output: Path | None,
    progress: bool,
    engine: str,
    master: str,
    source: Path | None,
    jdbc_jar: str | None,
    spark_conf: tuple[str, ...],
    output_parquet: Path | None,
) -> None:
    """Append a new risk score for every active customer (or open cart) to the history."""
    from mlflow.exceptions import MlflowException

    from model_service.champions import ModelRefused
    from model_service.scoring import score_all

    task = task.replace("-", "_")
    settings = Settings.from_env()
    if engine == "spark":
        conf = {}
        for item in spark_conf:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--conf")
            conf[key.strip()] = value.strip()
        _score_on_spark(settings, task, as_of, master, source, jdbc_jar, output_parquet, conf)
        return
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


def _score_on_spark(
    settings: Settings,
    task: str,
    as_of: datetime | None,
    master: str,
    source: Path | None,
    jdbc_jar: str | None,
    output: Path | None,
    conf: dict[str, str],
) -> None:
    from shared.spark.session import SparkUnavailable, preflight

    try:
        # Before anything is loaded or read: a missing Java or driver is one line, at once.
        preflight(
            jdbc=source is None and settings.database_url.startswith("postgresql"), jar=jdbc_jar
        )
    except SparkUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    from model_service.spark_scoring import score_all_spark

    click.echo(f"Scoring {task} on Spark ({master}) ...")
    run = score_all_spark(
        settings,
        task,
        as_of=as_of,
        master=master,
        source=source,
        jdbc_jar=jdbc_jar,
        output=output,
        spark_conf=conf,
    )
    if run.published:
        click.echo(f"Scored {run.rows:,} rows for {task} on Spark; appended to risk_scores.")
    else:
        click.echo(
            f"{task}: this model version and as-of were already published; nothing added "
            f"({run.rows:,} rows scored)."
        )
