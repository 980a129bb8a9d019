"""``kundresa synth | import | train | evaluate | promote``: the data scientist's commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from shared.spark.cli_options import spark_source_options
from shared.tasks import TASKS

# `kundresa promote` exits with this when the candidate is refused (1 and 2 are click's).
NOT_PROMOTED_EXIT_CODE = 3

TASK_CHOICE = click.Choice(sorted(TASKS) + [t.replace("_", "-") for t in sorted(TASKS)])


def _database_url(value: str | None) -> str:
    from shared.settings import Settings

    return value or Settings.from_env(secret_key="unused-by-training").database_url


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date like 2026-06-30") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


database_option = click.option(
    "--database-url",
    envvar="DATABASE_URL",
    help="Database to read/write (default: DATABASE_URL, else var/kundresa.db).",
)
tracking_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else var/mlflow.db).",
)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Problems a user can fix (too little data, no such model) as a message, not a trace."""
    from mlflow.exceptions import MlflowException

    from training.datasets import NotEnoughData

    try:
        yield
    except (NotEnoughData, LookupError, MlflowException) as error:
        raise click.ClickException(str(error)) from None


def _metrics_table(title: str, metrics: dict[str, float]) -> None:
    keys = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "positive_rate", "rows")
    shown = "  ".join(
        f"{k}={metrics[k]:.3f}" if k != "rows" else f"rows={int(metrics[k])}"
        for k in keys
        if k in metrics and metrics[k] == metrics[k]
    )
    click.echo(f"  {title:<22} {shown}")


# ---------------------------------------------------------------------------------------------
# synth
# ---------------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--customers",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="How many customers to generate.",
)
@click.option(
    "--days",
    type=click.IntRange(30),
    default=365,
    show_default=True,
    help="Days of history, ending at --end.",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Random seed: the same seed and end give the same data.",
)
@click.option(
    "--end", "end", default=None, help="Last day of the history (default: today, midnight UTC)."
)
@database_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(
    customers: int, days: int, seed: int, end: str | None, database_url: str | None, quiet: bool
) -> None:
    """Generate synthetic customer journeys with known effects.

    Writes customers, identities, journey events (touchpoints, carts, orders, support
    contacts, refunds, reviews) and survey responses. Low satisfaction, high effort,
    detractor answers, refunds and unresolved support contacts raise the chance that a customer
    stops buying; premium customers buying electronics get slow deliveries (the planted worst
    journey). See training/synth.py for the whole story.
    """
    from sqlalchemy.exc import IntegrityError

    from shared.db.migrate import upgrade
    from training.synth import generate, iter_summary_lines

    url = _database_url(database_url)
    upgrade(url)
    try:
        summary = generate(url, customers, days, seed, end=_date(end), progress=not quiet)
    except IntegrityError:
        raise click.ClickException(
            f"the database already holds synthetic customers of seed {seed}; "
            "use another --seed or an empty database"
        ) from None
    click.echo("Synthetic data written:")
    for line in iter_summary_lines(summary):
        click.echo(f"  {line}")


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Import order history, journey events or customers from CSV files.

    Bad rows are reported with their line numbers. Without --skip-bad nothing is imported when
    any row is bad; with it, good rows are kept. Re-importing a file adds no duplicates.
    """


def _csv_options(
    columns: dict[str, str | None],
    date_format: str | None,
    delimiter: str,
    mapping: tuple[str, ...] = (),
):
    from training.importers import CsvOptions

    chosen = {name: header for name, header in columns.items() if header}
    for item in mapping:
        name, sep, header = item.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise click.BadParameter(f"'{item}' is not FIELD=HEADER", param_hint="--map")
        chosen[name.strip()] = header.strip()
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise click.BadParameter(
            "must be one character (use \\t for tab)", param_hint="--delimiter"
        )
    return CsvOptions(columns=chosen, date_format=date_format, delimiter=delimiter)


def _run_import(function, database_url: str | None, path: Path, options, skip_bad: bool) -> None:
    from tqdm import tqdm

    from shared.db.migrate import upgrade
    from training.importers import ImportFailed

    url = _database_url(database_url)
    upgrade(url)
    with tqdm(desc=f"import {path.name}", unit="row") as bar:
        try:
            report = function(url, path, options, skip_bad=skip_bad, progress=bar.update)
        except ImportFailed as failed:
            bar.close()
            for error in failed.errors:
                click.echo(f"import: {error}", err=True)
            if failed.total_bad > len(failed.errors):
                click.echo(
                    f"import: ... and {failed.total_bad - len(failed.errors)} more", err=True
                )
            raise click.ClickException(
                f"{failed.total_bad} bad row(s); nothing was imported "
                "(fix them, or use --skip-bad to keep the good rows)"
            ) from None
    for error in report.errors:
        click.echo(f"import: skipped {error}", err=True)
    click.echo(
        f"Imported {report.imported:,} of {report.rows:,} rows from {path.name}: "
        f"{report.already_present:,} already present, {report.bad:,} bad (skipped), "
        f"{report.new_customers:,} new customers."
    )
    if getattr(report, "other_channels", 0):
        click.echo(
            f"import: {report.other_channels:,} events named a channel Kundresa does not know; "
            "they are kept with the channel 'other' (counted apart in attribution)."
        )


common_csv = [
    click.option(
        "--date-format",
        default=None,
        help="strptime format of the timestamp, e.g. '%d/%m/%Y %H:%M' (default ISO 8601).",
    ),
    click.option(
        "--delimiter", default=",", show_default=True, help="Field delimiter (\\t for tab)."
    ),
    click.option("--skip-bad", is_flag=True, help="Import the good rows and list the bad ones."),
    database_option,
]


def _with(options):
    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


@import_group.command("orders")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--customer-column",
    default="customer_id",
    show_default=True,
    help="Header of the customer id column.",
)
@click.option(
    "--time-column", default="timestamp", show_default=True, help="Header of the order time column."
)
@click.option(
    "--amount-column",
    default="amount",
    show_default=True,
    help="Header of the order amount column.",
)
@click.option("--order-column", default=None, help="Header of the order id column (optional).")
@click.option("--quantity-column", default=None, help="Header of the quantity column (optional).")
@click.option(
    "--category-column", default=None, help="Header of the product category column (optional)."
)
@_with(common_csv)
def import_orders_command(
    file: Path,
    customer_column: str,
    time_column: str,
    amount_column: str,
    order_column: str | None,
    quantity_column: str | None,
    category_column: str | None,
    date_format: str | None,
    delimiter: str,
    skip_bad: bool,
    database_url: str | None,
) -> None:
    """Import order history: one purchase per row (customer, time, amount, ...)."""
    from training.importers import import_orders

    options = _csv_options(
        {
            "customer_id": customer_column,
            "timestamp": time_column,
            "amount": amount_column,
            "order_id": order_column,
            "quantity": quantity_column,
            "product_category": category_column,
        },
        date_format,
        delimiter,
    )
    _run_import(import_orders, database_url, file, options, skip_bad)


@import_group.command("events")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=HEADER",
    help="Read FIELD from column HEADER, e.g. --map timestamp=occurred_at. Fields: "
    "event_id, customer_id, visitor_id, type, timestamp, channel, stage, "
    "product_category, value, cart_id, order_id, device, properties. FILE may be a CSV, a "
    ".parquet file or a Parquet export folder (kundresa export events).",
)
@_with(common_csv)
def import_events_command(
    file: Path,
    mapping: tuple[str, ...],
    date_format: str | None,
    delimiter: str,
    skip_bad: bool,
    database_url: str | None,
) -> None:
    """Import generic journey events (type, time, customer or visitor, channel, ...)."""
    from training.importers import EVENT_FIELDS, import_events

    options = _csv_options({}, date_format, delimiter, mapping)
    unknown = set(options.columns) - set(EVENT_FIELDS)
    if unknown:
        raise click.BadParameter(
            f"unknown field(s): {', '.join(sorted(unknown))}", param_hint="--map"
        )
    _run_import(import_events, database_url, file, options, skip_bad)


@import_group.command("customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=HEADER[,...]",
    help="Read FIELD from column HEADER, e.g. --map 'name=Full Name,email=E-mail'. "
    "Fields: id, name, email, phone. Other columns are kept as attributes.",
)
@click.option("--site", default=None, help="The site (name or key) whose customers these are.")
@click.option("--delimiter", default=",", show_default=True, help="Field delimiter (\\t for tab).")
@database_option
def import_customers_command(
    file: Path,
    mapping: tuple[str, ...],
    site: str | None,
    delimiter: str,
    database_url: str | None,
) -> None:
    """Import who the customers are: id, name, email, phone and any other columns.

    Known customers are updated, new ones added. Nothing is written when any row is bad; the
    bad rows are listed by line number (never by their values: these are personal data).
    """
    from tqdm import tqdm

    from shared.db.migrate import upgrade
    from training.customer_import import import_customers, parse_mapping
    from training.importers import ImportFailed

    try:
        fields = parse_mapping(mapping)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--map") from None
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise click.BadParameter(
            "must be one character (use \\t for tab)", param_hint="--delimiter"
        )
    url = _database_url(database_url)
    upgrade(url)
    with tqdm(desc=f"import {file.name}", unit="row") as bar:
        try:
            report = import_customers(
                url, file, fields, site=site, delimiter=delimiter, progress=bar.update
            )
        except ImportFailed as failed:
            bar.close()
            for error in failed.errors:
                click.echo(f"import: {error}", err=True)
            if failed.total_bad > len(failed.errors):
                click.echo(
                    f"import: ... and {failed.total_bad - len(failed.errors)} more", err=True
                )
            raise click.ClickException(
                f"{failed.total_bad} bad row(s); nothing was imported (fix them and run again)"
            ) from None
    click.echo(
        f"Imported {report.rows:,} customers from {file.name}: {report.added:,} new, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged."
    )


@import_group.command("responses")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@_with(common_csv)
def import_responses_command(
    file: Path, date_format: str | None, delimiter: str, skip_bad: bool, database_url: str | None
) -> None:
    """Import survey responses exported by `kundresa export responses` (Parquet or CSV)."""
    from training.response_import import import_responses

    options = _csv_options({}, date_format, delimiter)
    _run_import(import_responses, database_url, file, options, skip_bad)


@click.command("export")
@click.argument(
    "kinds",
    nargs=-1,
    required=True,
    type=click.Choice(["events", "orders", "responses", "identities", "customers"]),
)
@click.option(
    "--format", "file_format", type=click.Choice(["parquet"]), default="parquet", show_default=True
)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--until", default=None, help="Only rows before this date (UTC).")
@database_option
def export(
    kinds: tuple[str, ...],
    file_format: str,
    folder: Path,
    until: str | None,
    database_url: str | None,
) -> None:
    """Export tables as Parquet, partitioned by day: FOLDER/KIND/day=YYYY-MM-DD/.

    Events, orders and responses have the columns `kundresa import` reads, so an export
    re-imports; identities and customers are there for Spark jobs (kundresa score --engine
    spark --source FOLDER). An export replaces the same kind's earlier export in FOLDER.
    """
    from tqdm import tqdm

    from shared.parquet_export import export_table

    url = _database_url(database_url)
    for kind in dict.fromkeys(kinds):
        with tqdm(desc=f"export {kind}", unit="row") as bar:
            count = export_table(url, kind, folder, until=_date(until), progress=bar.update)
        click.echo(f"Exported {count:,} {kind} rows to {folder / kind}.")


# ---------------------------------------------------------------------------------------------
# train / evaluate / promote
# ---------------------------------------------------------------------------------------------


@click.command()
@click.option("--task", type=TASK_CHOICE, required=True, help="Which model to train.")
@click.option(
    "--cutoff", default=None, help="Evaluation cutoff date (default: the latest the data allows)."
)
@click.option(
    "--horizon-days",
    type=click.IntRange(1),
    default=90,
    show_default=True,
    help="brand_switch: no purchase within this many days counts as switched.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@database_option
@tracking_option
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="local: one process. spark: snapshots built on Apache Spark, fitted on a sample "
    "(pip install 'kundresa[spark]' and Java).",
)
@spark_source_options
@click.option(
    "--sample-rows",
    type=click.IntRange(1),
    default=200_000,
    show_default=True,
    help="Spark: fit on a seeded uniform sample of at most this many snapshot rows.",
)
def train(
    task: str,
    cutoff: str | None,
    horizon_days: int,
    seed: int,
    database_url: str | None,
    tracking_uri: str | None,
    quiet: bool,
    engine: str,
    master: str,
    source: Path | None,
    jdbc_jar: str | None,
    sample_rows: int,
) -> None:
    """Train, choose on a validation window, report on a later test window, register.

    Fits a calibrated HistGradientBoosting pipeline and a logistic regression on the training
    window, keeps the one with the better ROC-AUC on the validation window, refits it on both
    and reports it on the test window beside the task's baselines (and, for brand_switch,
    BG/NBD). The first version of a model becomes champion if it beats every baseline; later
    versions need `kundresa promote`.
    """
    from training.train import train as run_training

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if engine == "spark":
        result = _train_on_spark(
            _database_url(database_url),
            task,
            tracking_uri,
            _date(cutoff),
            horizon_days,
            seed=seed,
            quiet=quiet,
            master=master,
            source=source,
            jdbc_jar=jdbc_jar,
            sample_rows=sample_rows,
        )
    else:
        with _user_errors():
            result = run_training(
                _database_url(database_url),
                task,
                tracking_uri,
                _date(cutoff),
                horizon_days,
                progress=not quiet,
                seed=seed,
            )
    on = f"Spark ({master}), " if engine == "spark" else ""
    click.echo(
        f"Trained {result.model_name} version {result.version} ({result.estimator}) in "
        f"{result.seconds:.1f} s on {on}{result.train_rows:,} rows; evaluated on "
        f"{result.evaluation_rows:,} rows from {result.evaluation_cutoff:%Y-%m-%d}."
    )
    click.echo(f"  Predicts: {result.definition.summary()} ({result.definition.population}).")
    rates = result.base_rates
    click.echo(
        f"  Base rate: {rates['test']:.1%} on the test rows "
        f"(training {rates['train']:.1%}, validation {rates['validation']:.1%})."
    )
    click.echo(
        f"  Family chosen on {result.validation_rows:,} {result.chosen_on} rows from "
        f"{result.validation_start:%Y-%m-%d}, then refitted on training + validation "
        f"(data up to {result.train_data_end:%Y-%m-%d}):"
    )
    for name, metrics in result.validation.items():
        _metrics_table(f"validation {name}", metrics)
    click.echo("  On the test window:")
    for name, metrics in result.comparison.items():
        _metrics_table(result.estimator if name == "model" else name, metrics)
    for stage, metrics in result.stage_metrics.items():
        _metrics_table(f"stage {stage}", metrics)
    click.echo(f"  Code: {result.code_version}.")
    if result.promoted:
        beats = "beats every baseline" if result.baselines else "has no baselines to beat"
        click.echo(
            f"Version {result.version} is the first model and {beats}: it is now the champion."
        )
    elif result.note:
        click.echo(f"Version {result.version} is registered but {result.note}.")
    else:
        click.echo(
            f"Run `kundresa promote --task {result.task}` to make it the champion "
            "if it beats the current one."
        )


def _train_on_spark(
    database_url: str,
    task: str,
    tracking_uri: str | None,
    cutoff: datetime | None,
    horizon_days: int,
    *,
    seed: int,
    quiet: bool,
    master: str,
    source: Path | None,
    jdbc_jar: str | None,
    sample_rows: int,
):
    from shared.spark.session import SparkUnavailable, preflight
    from training.spark_train import train_on_spark

    try:
        # Before anything is read: a missing Java, pyspark or driver is one line, at once.
        preflight(jdbc=source is None and database_url.startswith("postgresql"), jar=jdbc_jar)
    except SparkUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    with _user_errors():
        return train_on_spark(
            database_url,
            task,
            tracking_uri,
            cutoff,
            horizon_days,
            master=master,
            source=source,
            jdbc_jar=jdbc_jar,
            sample_rows=sample_rows,
            seed=seed,
            progress=not quiet,
        )


@click.command()
@click.option("--task", type=TASK_CHOICE, required=True, help="Which model to evaluate.")
@click.option("--version", default=None, help="Model version (default: the champion).")
@click.option(
    "--cutoff", default=None, help="Evaluation cutoff date (default: the latest the data allows)."
)
@click.option(
    "--horizon-days",
    type=click.IntRange(1),
    default=None,
    help="brand_switch label horizon in days (default: the model's own).",
)
@database_option
@tracking_option
@click.option("--quiet", is_flag=True, help="No progress output.")
def evaluate(
    task: str,
    version: str | None,
    cutoff: str | None,
    horizon_days: int | None,
    database_url: str | None,
    tracking_uri: str | None,
    quiet: bool,
) -> None:
    """Score a registered model on the latest evaluation period, overall and per stage."""
    from training.version_evaluation import evaluate_version

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with _user_errors():
        result = evaluate_version(
            _database_url(database_url),
            task,
            version,
            tracking_uri,
            horizon_days,
            _date(cutoff),
            progress=not quiet,
        )
    horizon = f", {result['horizon_days']}-day horizon" if result["horizon_days"] else ""
    click.echo(
        f"{result['model_name']} version {result['version']} on {result['rows']:,} rows "
        f"from {result['evaluation_cutoff']:%Y-%m-%d}{horizon}:"
    )
    definition = result["definition"]
    click.echo(
        f"  Predicts: {definition.summary()}."
        if definition
        else "  Predicts: unknown (the version records no task definition)."
    )
    click.echo(f"  Base rate: {result['base_rate']:.1%}.")
    _metrics_table("overall", result["overall"])
    for stage, metrics in result["by_stage"].items():
        _metrics_table(f"stage {stage}", metrics)


@click.command()
@click.option("--task", type=TASK_CHOICE, required=True, help="Which model to promote.")
@click.option("--version", default=None, help="Version to promote (default: the latest).")
@click.option(
    "--force",
    is_flag=True,
    help="Promote even if it does not beat the champion or predicts something else "
    "(needs --reason).",
)
@click.option("--reason", default=None, help="Why a forced promotion is right (recorded).")
@click.option(
    "--rescore",
    is_flag=True,
    help="After a promotion, re-score everyone with the new champion (`kundresa score`).",
)
@tracking_option
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def promote(
    ctx: click.Context,
    task: str,
    version: str | None,
    force: bool,
    reason: str | None,
    rescore: bool,
    tracking_uri: str | None,
    quiet: bool,
) -> None:
    """Move the `champion` alias to a version if it beats the current champion.

    The candidate must predict the same thing (task definition: label, horizon, population,
    snapshots) as the champion. Both are scored on the candidate's test rows that come after
    both versions' training data; the candidate wins when the lower end of the 95 % bootstrap
    interval of its ROC-AUC lead is above 0 and its Brier score is not clearly worse. The
    decision is recorded in the version's tags. Exits with 3 when the version is refused, so a
    retraining script can tell.
    """
    from training.promotion import promote as run_promotion

    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT: say why the candidate should win")
    if reason and not force:
        raise click.UsageError("--reason is recorded with --force only")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with _user_errors():
        result = run_promotion(
            task,
            version,
            force=force,
            tracking_uri=tracking_uri,
            progress=not quiet,
            reason=reason,
            database_url=_database_url(None),  # where model.promoted is recorded
        )
    verdict = "promoted to champion" if result.promoted else "not promoted"
    click.echo(f"{result.model_name} version {result.version}: {verdict}.")
    click.echo(f"  {result.reason}")
    if not result.promoted and result.previous_champion not in (None, result.version):
        click.echo(
            f"  The champion stays version {result.previous_champion}; use --force --reason "
            "TEXT to promote anyway."
        )
    if result.promoted:
        _rescore(ctx, result.task, rescore, quiet)
    if not result.promoted and result.previous_champion != result.version:
        raise SystemExit(NOT_PROMOTED_EXIT_CODE)


def _rescore(ctx: click.Context, task: str, now: bool, quiet: bool) -> None:
    """Scores in the history come from the old champion: re-score now, or say how.

    The `score` command is looked up on the top-level `kundresa` group rather than imported,
    so training code never depends on the model service."""
    command = f"kundresa score --task {task}"
    root = ctx.find_root().command
    score = root.get_command(ctx, "score") if isinstance(root, click.Group) else None
    if not now or score is None:
        click.echo(
            f"  Stored scores come from the previous champion; refresh them with `{command}`."
        )
        return
    click.echo(f"  Re-scoring with the new champion (`{command}`):")
    ctx.invoke(score, task=task, as_of=None, output=None, progress=not quiet)
