"""``kundresa train --engine spark``: the training and test snapshots built on Spark.

Brand switch's snapshot rows (every buyer at each training cutoff, at the validation cutoff and
at the test cutoff of ``training.datasets.brand_switch_schedule``) are built on the cluster by
``shared.spark.features.task_features``, the very builders of the in-process trainer, and
labelled by ``training.datasets.brand_switch_repurchasers``, the in-process label, run on each
partition of the events in the label window. Only a seeded sample of at most ``sample_rows``
rows reaches the driver; it goes through the same fit, evaluation, logging and registration
(``training.train.fit_evaluate_log``) as a dataset built in one process.

Sampling is uniform: a row is kept when a seeded hash of its row id (``customer@cutoff`` for
training rows, the customer id for the others) falls below the part's fraction, so the same
seed keeps the same rows whatever the partitioning. The test window is kept whole when it is
at most half of ``sample_rows`` and the training and validation rows share the rest; otherwise
every part is sampled at the same fraction. The run's params say which, with the row counts.

Cart abandonment's rows (each cart at its decision moments in the training, validation and test
windows of ``training.datasets.cart_windows``) are built per group of people by
``training.datasets.cart_part_rows``, the in-process builder, on the events as known when the
job started; the same sampling then applies, by a hash of ``cart@moment``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from shared.cart_features import CART_CATEGORICAL, CART_FEATURES
from shared.features import typed_columns
from shared.journey_frames import as_utc
from shared.spark.features import (
    KEY_COLUMNS,
    frames_of_group,
    people_rows,
    person_labels,
    resolved_tables,
    task_features,
)
from shared.spark.session import jdbc_jar as jdbc_jar_path
from shared.spark.session import preflight, spark_session
from shared.spark.sources import read_tables
from shared.tasks import BRAND_SWITCH, CART_ABANDONMENT, task_by_name
from training.datasets import (
    BrandSwitchSchedule,
    CartWindows,
    Dataset,
    NotEnoughData,
    brand_switch_from_parts,
    brand_switch_repurchasers,
    brand_switch_schedule,
    cart_abandonment_from_parts,
    cart_part_rows,
    cart_windows,
)
from training.progress import Steps
from training.train import TrainResult, train_built

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_ROWS = 200_000
# Hash values are cut to 53 bits so they map exactly onto [0, 1) as doubles.
_HASH_BITS = 53
_EPOCH = pd.Timestamp(0, tz="UTC")
_CART_ROW_COLUMNS = ["visitor_id", "customer_id", *CART_FEATURES, "cutoff", "moment", "label"]


@dataclass(frozen=True)
class Sample:
    """What was kept of the snapshot rows, for the run's params."""

    rows_total: int
    rows_sampled: int
    test_whole: bool
    fractions: dict[str, float]

    @property
    def method(self) -> str:
        test = "test window kept whole" if self.test_whole else "test window sampled too"
        return f"uniform by seeded hash of the row id, per part; {test}"

    def params(self, sample_rows: int) -> dict[str, object]:
        fraction = self.rows_sampled / self.rows_total if self.rows_total else 1.0
        return {
            "sample_rows_max": sample_rows,
            "rows_total": self.rows_total,
            "rows_sampled": self.rows_sampled,
            "sample_fraction": round(fraction, 6),
            "sampling": self.method,
            **{f"sample_fraction_{part}": round(f, 6) for part, f in self.fractions.items()},
        }


def train_on_spark(
    database_url: str,
    task: str,
    tracking_uri: str | None = None,
    cutoff: datetime | None = None,
    horizon_days: int = 90,
    *,
    master: str = "local[*]",
    source: Path | None = None,
    jdbc_jar: str | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
    spark_conf: dict[str, str] | None = None,
    buckets: int | None = None,
) -> TrainResult:
    """Build ``task``'s snapshots on Spark, then fit, log and register as ``train`` does."""
    spec = task_by_name(task)
    if sample_rows < 1:
        raise ValueError("--sample-rows must be at least 1")
    jar = preflight(jdbc=source is None and database_url.startswith("postgresql"), jar=jdbc_jar)
    # As `score --engine spark`: the driver goes on the classpath whenever it is there.
    jars = [jar] if jar else [path for path in [jdbc_jar_path(jdbc_jar)] if path.is_file()]
    spark = spark_session(
        master, app_name=f"kundresa train {spec.name}", jars=jars, config=spark_conf or {}
    )
    horizon_days = spec.horizon_days(horizon_days)
    with tempfile.TemporaryDirectory(prefix="kundresa-spark-train-") as scratch:

        def build(steps: Steps) -> Dataset:
            steps("reading journey events (Spark)")
            now = datetime.now(UTC)
            tables = read_tables(spark, database_url, source, Path(scratch), now)
            if spec.name == CART_ABANDONMENT.name:
                return spark_cart_dataset(tables, now, cutoff, sample_rows, seed, steps, buckets)
            return spark_brand_switch_dataset(
                tables, horizon_days, cutoff, sample_rows, seed, steps, buckets, known=now
            )

        return train_built(
            build,
            tracking_uri,
            horizon_days,
            progress=progress,
            seed=seed,
            say=say,
            run_params={"engine": "spark", "master": master},
        )


def spark_brand_switch_dataset(
    tables,
    horizon_days: int = 90,
    cutoff: datetime | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    buckets: int | None = None,
    known: datetime | None = None,
) -> Dataset:
    """``brand_switch_dataset`` with its rows built on Spark and sampled to ``sample_rows``.
    People are found once, in the events as known at ``known`` (default: now), and grouped
    that way at every cutoff."""
    from pyspark.sql import functions as F

    start, end = _event_bounds(tables)
    schedule = brand_switch_schedule(start, end, horizon_days, cutoff, progress=progress)
    snapshots = _snapshots(schedule)
    if progress:
        progress("finding people (customers, visitors, carts) on Spark")
    known_ts = as_utc(known or datetime.now(UTC)).to_pydatetime()
    labels = person_labels(resolved_tables(tables, known_ts)[0])
    parts = None
    for index, (part, moment) in enumerate(snapshots):
        if progress:
            progress(f"features at {moment:%Y-%m-%d} ({part}, Spark)")
        rows = _labelled_rows(tables, moment, schedule, buckets, labels)
        row_id = (
            F.concat(F.col("customer_id"), F.lit(f"@{moment:%Y-%m-%d}"))
            if part == "train"
            else F.col("customer_id")
        )
        rows = rows.withColumn("_part", F.lit(part)).withColumn("_snapshot", F.lit(index))
        rows = rows.withColumn("_row", row_id)
        parts = rows if parts is None else parts.unionByName(rows)
    frame, sample = _sampled(parts, sample_rows, seed, progress)
    by_part = _split(frame, snapshots)
    return brand_switch_from_parts(
        schedule,
        by_part["train"],
        by_part.get("validation"),
        by_part["test"],
        max_train_rows=None,  # the Spark sample is the cap
        seed=seed,
        params=sample.params(sample_rows),
    )


def spark_cart_dataset(
    tables,
    known: datetime,
    cutoff: datetime | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    buckets: int | None = None,
) -> Dataset:
    """``cart_abandonment_dataset`` with its rows built on Spark from the events as known at
    ``known`` (when the job read them) and sampled to ``sample_rows``."""
    start, end = _event_bounds(tables)
    windows = cart_windows(start, end, cutoff)
    if progress:
        progress("cart decision moments and features (Spark)")
    rows, _ = people_rows(tables, known, buckets)
    known_ts = as_utc(known).to_pydatetime()

    def build(group: pd.DataFrame) -> pd.DataFrame:
        return cart_rows_of_group(group, windows, known_ts)

    parts = rows.groupBy("_bucket").applyInPandas(build, schema=_cart_schema())
    frame, sample = _sampled(parts, sample_rows, seed, progress)
    by_part = _cart_split(frame)
    return cart_abandonment_from_parts(
        windows,
        by_part["train"],
        by_part["validation"],
        by_part["test"],
        params=sample.params(sample_rows),
    )


def cart_rows_of_group(group: pd.DataFrame, windows: CartWindows, known: datetime) -> pd.DataFrame:
    """The labelled cart rows of one group of people, every part, in ``_cart_schema``'s columns
    (pure: group in, rows out)."""
    frames = frames_of_group(group, known)
    out = []
    for part, rows in cart_part_rows(frames, windows).items():
        if rows.empty:
            continue
        # Plain numpy and Python objects: Arrow-backed columns do not cross into Spark.
        flat = pd.DataFrame(
            {
                "_row": pd.Series(rows.index.astype(str).to_numpy(dtype=object), dtype=object),
                "_part": pd.Series([part] * len(rows), dtype=object),
            }
        )
        for column in ("visitor_id", "customer_id", *CART_CATEGORICAL, "moment"):
            values = rows[column].astype(object).to_numpy()
            flat[column] = pd.Series(values, dtype=object).where(pd.notna(values), None)
        for column in CART_FEATURES:
            if column not in CART_CATEGORICAL:
                flat[column] = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
        flat["cutoff"] = (pd.to_datetime(rows["cutoff"], utc=True) - _EPOCH).to_numpy() // (
            np.timedelta64(1, "us")
        )
        flat["label"] = rows["label"].to_numpy(dtype=np.int32)
        flat = flat[_cart_schema().fieldNames()]
        out.append(flat)
    if not out:  # a group with no cart in any window
        return _no_cart_rows()
    return pd.concat(out, ignore_index=True)


def _no_cart_rows() -> pd.DataFrame:
    """No rows, each column typed as Spark reads it (Arrow refuses untyped empty columns)."""
    dtypes = {"string": object, "double": float, "bigint": np.int64, "int": np.int32}
    return pd.DataFrame(
        {
            field.name: pd.Series([], dtype=dtypes[field.dataType.simpleString()])
            for field in _cart_schema().fields
        }
    )


def _cart_schema():
    from pyspark.sql.types import (
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    fields = [StructField(name, StringType()) for name in ("_row", "_part")]
    fields += [StructField(name, StringType()) for name in ("visitor_id", "customer_id")]
    fields += [
        StructField(name, StringType() if name in CART_CATEGORICAL else DoubleType())
        for name in CART_FEATURES
    ]
    fields += [
        StructField("cutoff", LongType()),  # microseconds since the epoch, UTC: exact
        StructField("moment", StringType()),
        StructField("label", IntegerType()),
    ]
    return StructType(fields)


def _cart_split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The collected cart rows as the in-process parts: indexed by row id, the same columns
    in the same order and types."""
    out: dict[str, pd.DataFrame] = {}
    for part, rows in frame.groupby("_part", sort=False):
        rows = rows.set_index(pd.Index(rows["_row"].to_numpy(), name="row"))
        typed = typed_columns(rows[CART_FEATURES], CART_CATEGORICAL)
        for column in ("customer_id", "visitor_id"):
            values = rows[column].astype(object)
            typed.insert(0, column, values.where(values.notna(), None))
        typed = typed[["visitor_id", "customer_id", *CART_FEATURES]]
        typed["cutoff"] = pd.to_datetime(
            rows["cutoff"].to_numpy(dtype=np.int64), unit="us", utc=True
        )
        typed["moment"] = rows["moment"].astype(object).to_numpy()
        typed["label"] = rows["label"].to_numpy(dtype=int)
        out[str(part)] = typed
    for part in ("train", "validation", "test"):
        if part not in out:
            raise NotEnoughData(f"no {part} cart rows were built or sampled; raise --sample-rows")
    return out


def _sampled(parts, sample_rows: int, seed: int, progress) -> tuple[pd.DataFrame, Sample]:
    """The rows of ``parts`` (with ``_part`` and ``_row``) counted, sampled and collected."""
    parts = parts.persist()
    counts = {row["_part"]: int(row["count"]) for row in parts.groupBy("_part").count().collect()}
    if progress:
        progress(f"{sum(counts.values()):,} snapshot rows on Spark; sampling {sample_rows:,}")
    fractions, test_whole = sample_fractions(counts, sample_rows)
    frame = _collect_sample(parts, fractions, sample_rows, seed)
    parts.unpersist()
    return frame, Sample(sum(counts.values()), len(frame), test_whole, fractions)


def sample_fractions(counts: dict[str, int], sample_rows: int) -> tuple[dict[str, float], bool]:
    """The share of each part to keep, and whether the test window is kept whole."""
    total = sum(counts.values())
    if total <= sample_rows:
        return {part: 1.0 for part in counts}, True
    test = counts.get("test", 0)
    if test <= sample_rows // 2:
        rest = total - test
        share = (sample_rows - test) / rest if rest else 1.0
        return {part: 1.0 if part == "test" else share for part in counts}, True
    return {part: sample_rows / total for part in counts}, False


def _snapshots(schedule: BrandSwitchSchedule) -> list[tuple[str, pd.Timestamp]]:
    snapshots = [("train", moment) for moment in schedule.train_cutoffs]
    if schedule.validation_cutoff is not None:
        snapshots.append(("validation", schedule.validation_cutoff))
    return [*snapshots, ("test", schedule.test_cutoff)]


def _event_bounds(tables) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The earliest and latest event (``data_start`` and ``data_end`` of the in-process path)."""
    from pyspark.sql import functions as F

    found = tables.events.agg(
        F.unix_micros(F.min("timestamp")).alias("start"),
        F.unix_micros(F.max("timestamp")).alias("end"),
    ).first()
    if found is None or found["start"] is None:
        raise NotEnoughData("there are no journey events")
    return (
        pd.Timestamp(found["start"], unit="us", tz="UTC"),
        pd.Timestamp(found["end"], unit="us", tz="UTC"),
    )


def _labelled_rows(
    tables, moment: pd.Timestamp, schedule: BrandSwitchSchedule, buckets, labels=None
):
    """Every buyer's features at ``moment`` and brand switch's label over the horizon after."""
    from pyspark.sql import functions as F

    features = task_features(
        tables, BRAND_SWITCH, moment.to_pydatetime(), buckets=buckets, labels=labels
    )
    bought = _repurchasers(tables, moment, moment + schedule.horizon)
    return (
        features.join(bought.withColumn("_bought", F.lit(1)), "customer_id", "left")
        .withColumn("label", F.when(F.col("_bought").isNull(), 1).otherwise(0))
        .drop("_bought")
    )


def _repurchasers(tables, moment: pd.Timestamp, window_end: pd.Timestamp):
    """The customers who bought in [moment, window_end): ``brand_switch_repurchasers`` run on
    each partition of the events as they were known at the window's end."""
    from pyspark.sql import functions as F

    events, _, _ = resolved_tables(tables, window_end.to_pydatetime())
    # Only the rows the label can look at (the function decides; this spares the transfer).
    window = events.where(
        (F.col("type") == "purchase") & (F.col("occurred_at") >= F.lit(moment.to_pydatetime()))
    ).select("customer_id", "type", "occurred_at", "linked_at")

    def pick(batches):
        for batch in batches:
            batch = batch.assign(
                occurred_at=pd.to_datetime(batch["occurred_at"], utc=True),
                linked_at=pd.to_datetime(batch["linked_at"], utc=True),
            )
            found = brand_switch_repurchasers(batch, moment, window_end)
            yield pd.DataFrame({"customer_id": found.astype(str).to_numpy()})

    return window.mapInPandas(pick, schema="customer_id string").distinct()


def _collect_sample(parts, fractions: dict[str, float], sample_rows: int, seed: int):
    """The kept rows as one pandas frame: each part's rows whose seeded hash falls below its
    fraction, trimmed (largest hashes first) to ``sample_rows`` if the draw came out over."""
    from pyspark.sql import functions as F

    scale = float(2**_HASH_BITS)
    draw = F.pmod(F.xxhash64(F.col("_row"), F.lit(seed)), F.lit(1 << _HASH_BITS)) / F.lit(scale)
    keep = None
    for part, fraction in fractions.items():
        if fraction >= 1.0:
            condition = F.col("_part") == part
        else:
            condition = (F.col("_part") == part) & (F.col("_draw") < F.lit(fraction))
        keep = condition if keep is None else keep | condition
    kept = parts.withColumn("_draw", draw.cast("double")).where(keep)
    frame = kept.toPandas()
    if len(frame) > sample_rows:
        frame = frame.nsmallest(sample_rows, "_draw")
    return frame.drop(columns="_draw")


def _split(
    frame: pd.DataFrame, snapshots: list[tuple[str, pd.Timestamp]]
) -> dict[str, pd.DataFrame]:
    """The collected rows as the in-process parts: indexed by row id, with ``cutoff`` and
    ``label``, the keys and context columns dropped."""
    moments = pd.Series([moment for _, moment in snapshots]).astype("datetime64[ns, UTC]")
    frame = frame.assign(
        cutoff=moments.to_numpy()[frame["_snapshot"].to_numpy(dtype=np.int64)],
        label=frame["label"].astype(int),
    )
    frame["cutoff"] = pd.to_datetime(frame["cutoff"], utc=True)
    dropped = [c for c in frame.columns if c.startswith("ctx_") or c in KEY_COLUMNS]
    out: dict[str, pd.DataFrame] = {}
    for part, rows in frame.groupby("_part", sort=False):
        name = "row" if part == "train" else "customer_id"
        rows = rows.set_index(pd.Index(rows["_row"].to_numpy(), name=name))
        out[str(part)] = rows.drop(columns=[*dropped, "_part", "_snapshot", "_row"])
    for part in dict.fromkeys(part for part, _ in snapshots):
        if part not in out:
            raise NotEnoughData(f"no {part} rows were sampled; raise --sample-rows")
    return out
