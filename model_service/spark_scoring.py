"""``kundresa score --engine spark``: the batch scoring of model_service/scoring.py on Spark.

The same steps in the same order, each on the cluster: features from the shared builders
(shared/spark/features.py), probabilities from the registered champion through
``mlflow.pyfunc.spark_udf``, the run's risk scale cut on all of its probabilities (the exact
ranks of ``shared.risk_scale``, found by sorting on the cluster), bands and reasons per batch
by ``explain_scored``, written once to Parquet by all executors together — then one
transaction appends the rows to ``risk_scores``, read back from that Parquet a batch at a time.
A job killed before that transaction leaves nothing; a job run again for a model version and
as-of already published adds nothing. The driver holds one batch of results, never the run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select

from model_service.champions import ModelRefused, ServedModel, load_champion, load_version
from model_service.columns import as_columns
from model_service.scoring import (
    CONTEXT_COLUMNS,
    EXPLAINED_BANDS,
    explain_scored,
    parse_as_of,
    score_records,
)
from shared.db.session import session_scope
from shared.db.tables import RiskScore
from shared.risk_scale import CutPoints, cut_ranks
from shared.settings import Settings
from shared.spark.features import CONTEXT_PREFIX, task_features
from shared.spark.session import jdbc_jar as jdbc_jar_path
from shared.spark.session import preflight, spark_session
from shared.spark.sources import export_for_spark, from_database, from_parquet
from shared.tasks import task_by_name

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 10_000
# MLflow's scikit-learn loader refuses every model on Spark's executors unless this is set,
# skops files included. It is safe here: the model is the version this command resolved in
# the shop's own registry, saved by `kundresa train` in the skops format with the types it
# trusts recorded at training, the same file the model service loads with skops' checks.
PICKLE_SETTING = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


@dataclass(frozen=True)
class SparkRun:
    rows: int
    published: bool  # False: this model version and as-of were already published


def _stage(name: str, started: float, **extra: object) -> float:
    """One log line per finished stage (the Spark UI shows the tasks inside it)."""
    now = time.monotonic()
    log.info("spark stage done", extra={"stage": name, "seconds": round(now - started, 1), **extra})
    print(f"  {name}: {now - started:.1f} s", flush=True)
    return now


def _is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def score_all_spark(
    settings: Settings,
    task: str,
    *,
    as_of: str | datetime | None = None,
    master: str = "local[*]",
    source: Path | None = None,
    jdbc_jar: str | None = None,
    output: Path | None = None,
    buckets: int | None = None,
    spark_conf: dict[str, str] | None = None,
) -> SparkRun:
    """Score every active customer (or open cart) of ``task`` on Spark; see the module."""
    spec = task_by_name(task)
    jdbc = source is None and _is_postgres(settings.database_url)
    jar = preflight(jdbc=jdbc, jar=jdbc_jar)
    cutoff = parse_as_of(as_of)
    served = load_champion(settings, spec.name)
    if _published(settings, spec.name, served, cutoff):
        # A rerun of a finished job: nothing to read, nothing to add.
        log.info("already published", extra={"task": spec.name, "as_of": cutoff.isoformat()})
        return SparkRun(rows=0, published=False)
    started = time.monotonic()
    # The driver goes on the classpath whenever it is there: a session lives as long as its
    # process, and a jar cannot be added to one already started (a later JDBC read would fail).
    jars = [jar] if jar else [path for path in [jdbc_jar_path(jdbc_jar)] if path.is_file()]
    spark = spark_session(
        master,
        app_name=f"kundresa score {spec.name}",
        jars=jars,
        config={f"spark.executorEnv.{PICKLE_SETTING}": "true", **(spark_conf or {})},
    )
    with tempfile.TemporaryDirectory(prefix="kundresa-spark-") as scratch:
        if jdbc:
            tables = from_database(spark, settings.database_url, cutoff)
        else:
            folder = source or export_for_spark(settings.database_url, Path(scratch), cutoff)
            tables = from_parquet(spark, folder, cutoff)
        features = task_features(tables, spec, cutoff, buckets=buckets).persist()
        rows = features.count()
        started = _stage("features", started, rows=rows)
        probabilities = _predict(spark, settings, served, features).persist()
        probabilities.count()
        started = _stage("probabilities", started)
        scale = _cut_points(probabilities, rows) or served.scale
        started = _stage("risk scale", started, **scale.as_dict())
        scored = _explain(probabilities, settings, served, scale)
        # Written once, in parallel: publishing straight from the DataFrame took one Spark job
        # per partition (toLocalIterator), each recomputing its bands and reasons one after
        # another (15-20 s a partition at 1,000,000 customers, over an hour in all).
        written = output if output is not None else Path(scratch) / "scored"
        scored.write.mode("overwrite").parquet(str(written))
        started = _stage("bands and reasons", started, path=str(written))
        published = _publish(settings, spec.name, served, written, cutoff)
        _stage("published", started, rows=rows, already=not published)
        features.unpersist()
        probabilities.unpersist()
    return SparkRun(rows=rows, published=published)


def _predict(spark, settings: Settings, served: ServedModel, features):
    """Add ``probability`` from the registered version through ``mlflow.pyfunc.spark_udf``."""
    import mlflow
    from pyspark.sql import functions as F

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    # Local mode: the Python workers are this machine's processes and read this environment.
    os.environ.setdefault(PICKLE_SETTING, "true")
    uri = f"models:/{served.name}/{served.version}"
    flavor = mlflow.models.get_model_info(uri).flavors.get("python_function", {})
    if flavor.get("predict_fn") != "predict_proba":
        raise ModelRefused(
            "its python_function flavor predicts labels, not probabilities (it was logged "
            "without pyfunc_predict_fn='predict_proba'; retrain it with kundresa train)"
        )
    predict = mlflow.pyfunc.spark_udf(
        spark,
        uri,
        result_type="array<double>",
        env_manager="local",
    )
    columns = [F.col(name) for name in served.feature_columns]
    # predict_proba's second column: the positive class.
    return features.withColumn("probability", predict(F.struct(*columns))[1])


def _cut_points(scored, rows: int) -> CutPoints | None:
    """``shared.risk_scale.cut_points`` of every probability, by exact rank on the cluster."""
    from pyspark.sql import functions as F

    if rows == 0:
        return None
    medium_rank, high_rank = cut_ranks(rows)
    ordered = scored.select("probability").orderBy(F.desc("probability"))

    def at_rank(rank: int) -> float:
        return float(ordered.offset(rank - 1).limit(1).collect()[0][0])

    return CutPoints(medium=at_rank(medium_rank), high=at_rank(high_rank))


_LOADED: dict[tuple[str, str, str], ServedModel] = {}


def _served_on_worker(
    tracking_uri: str, task: str, name: str, version: str, features
) -> ServedModel:
    """The model, loaded once per Python worker (workers are reused across tasks)."""
    key = (tracking_uri, name, version)
    if key not in _LOADED:
        _LOADED[key] = load_version(tracking_uri, task, name, version, tuple(features))
    return _LOADED[key]


def _explain(scored, settings: Settings, served: ServedModel, scale: CutPoints):
    """Bands on ``scale`` and reasons (for the bands support acts on), batch by batch."""
    from pyspark.sql.types import StringType, StructField, StructType

    tracking_uri = settings.mlflow_tracking_uri
    task, name, version = served.task, served.name, served.version
    feature_columns = list(served.feature_columns)
    # A new schema: StructType.add changes the DataFrame's own schema object in place.
    schema = StructType(
        [
            *scored.schema.fields,
            StructField("band", StringType()),
            StructField("reasons", StringType()),
        ]
    )

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _served_on_worker(tracking_uri, task, name, version, feature_columns)
        for batch in batches:
            if batch.empty:
                yield batch.assign(band=pd.Series(dtype=object), reasons=pd.Series(dtype=object))
                continue
            found = explain_scored(
                model,
                as_columns(batch, feature_columns),
                batch["probability"].to_numpy(dtype=float),
                scale,
                EXPLAINED_BANDS,
            )
            yield batch.assign(
                band=found.bands, reasons=[json.dumps(r) if r else None for r in found.reasons]
            )

    return scored.mapInPandas(explain, schema=schema)


def _publish(
    settings: Settings, task: str, served: ServedModel, scored: Path, cutoff: datetime
) -> bool:
    """Append the run (the Parquet folder ``scored``) to ``risk_scores`` in one transaction,
    unless it is there already."""
    import pyarrow.dataset as ds

    keys = ("customer_id", "visitor_id", "cart_id")
    columns = [c if c in keys else CONTEXT_PREFIX + c for c in CONTEXT_COLUMNS]
    batches = ds.dataset(str(scored), format="parquet").to_batches(
        columns=[*columns, "probability", "band", "reasons"], batch_size=PUBLISH_CHUNK
    )
    scored_at = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        # Checked again in the publishing transaction: another run may have finished meanwhile.
        if _published_in(session, task, served, cutoff):
            log.info("already published", extra={"task": task, "as_of": cutoff.isoformat()})
            return False
        for batch in batches:
            if batch.num_rows:
                records = _records(task, served, batch.to_pandas(), cutoff, scored_at)
                session.execute(insert(RiskScore), records)
    return True


def _published_in(session, task: str, served: ServedModel, cutoff: datetime) -> bool:
    table = RiskScore.__table__
    found = session.execute(
        select(table.c.id)
        .where(
            table.c.task == task,
            table.c.model_name == served.name,
            table.c.model_version == served.version,
            table.c.as_of == cutoff,
        )
        .limit(1)
    ).first()
    return found is not None


def _published(settings: Settings, task: str, served: ServedModel, cutoff: datetime) -> bool:
    with session_scope(settings.database_url) as session:
        return _published_in(session, task, served, cutoff)


def _records(
    task, served: ServedModel, frame: pd.DataFrame, cutoff: datetime, scored_at
) -> list[dict]:
    frame = frame.rename(columns=lambda c: c.removeprefix(CONTEXT_PREFIX))
    frame["reasons"] = [json.loads(r) if isinstance(r, str) else [] for r in frame["reasons"]]
    frame["probability"] = frame["probability"].astype(float)
    return score_records(task, served.name, served.version, frame, cutoff, scored_at)
