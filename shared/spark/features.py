"""Feature rows on Spark, built by the same pure builders as in one process.

Every row one person's features can depend on — their events under every visitor id they used,
their answers, their customer record, their visitors' carts — must reach the same pandas call.
People are found as the connected parts of the graph of customer ids, visitor ids and cart
ids that appear together on an event (a few rounds of min-label propagation): a cart bought
under the customer's id joins the visitor who filled it, and a shared family computer joins
two customers into one part, as it should. Each part goes to one of ``buckets`` groups
by a hash, and ``groupBy(bucket).applyInPandas`` hands a group to the builder of
``shared.tasks`` through ``frames_from_tables``, exactly as ``load_journey_frames`` hands it
the whole database. Customers' features therefore equal the in-process ones: nothing a builder
computes depends on other customers.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd

from shared.journey_frames import EVENT_PROPERTIES, as_utc, property_column
from shared.journey_loader import frames_from_tables
from shared.tasks import Task, task_by_name

log = logging.getLogger(__name__)

# Propagation rounds before giving up on a part still growing (each round doubles the reach).
MAX_ROUNDS = 20
# Roughly this many events per group: what one pandas call holds in memory at a time.
EVENTS_PER_BUCKET = 400_000
KEY_COLUMNS = ["customer_id", "visitor_id", "cart_id"]
CONTEXT_COLUMNS = ["stage", "segment", "product_category", "value"]
CONTEXT_PREFIX = "ctx_"
_EVENT_COLUMNS = [
    "customer_id",
    "visitor_id",
    "type",
    "stage",
    "channel",
    "product_category",
    "value",
    "cart_id",
    "device",
    "occurred_at",
    "linked_at",
    "properties",
    *[property_column(key) for key in EVENT_PROPERTIES],
]
_RESPONSE_COLUMNS = [
    "customer_id",
    "survey_key",
    "nps",
    "csat",
    "ces",
    "reason",
    "cart_id",
    "submitted_at",
    "linked_at",
]
_CUSTOMER_COLUMNS = ["customer_id", "segment", "locale"]
_TIME_COLUMNS = ("occurred_at", "linked_at", "submitted_at")
# Event types whose whole properties document the builders read (as journey_loader does).
_PROPERTY_TYPES = ("support_contact", "cart_abandoned")


def resolved_tables(source, cutoff: datetime):
    """(events, responses, customers) as journey_loader's queries return them: each event and
    answer attributed to the customer its visitor was linked to before the cutoff."""
    from pyspark.sql import functions as F

    cutoff_lit = F.lit(as_utc(cutoff).to_pydatetime())
    links = source.identities.where(F.col("linked_at") < cutoff_lit).select(
        "visitor_id",
        F.col("customer_id").alias("link_customer"),
        F.col("linked_at").alias("link_at"),
    )
    ev = source.events.where(F.col("timestamp") < cutoff_lit).join(links, "visitor_id", "left")
    events = ev.select(
        F.coalesce("customer_id", "link_customer").alias("customer_id"),
        "visitor_id",
        "type",
        "stage",
        "channel",
        "product_category",
        F.col("value").cast("double").alias("value"),
        "cart_id",
        "device",
        F.col("timestamp").alias("occurred_at"),
        # An event that names its customer itself does not change with a later link.
        F.when(F.col("customer_id").isNull(), F.col("link_at")).alias("linked_at"),
        F.when(F.col("type").isin(*_PROPERTY_TYPES), F.col("properties")).alias("properties"),
        *[F.col(key).cast("double").alias(property_column(key)) for key in EVENT_PROPERTIES],
    )
    rs = source.responses.where(F.col("submitted_at") < cutoff_lit).join(
        links, "visitor_id", "left"
    )
    responses = rs.select(
        F.coalesce("customer_id", "link_customer").alias("customer_id"),
        "survey_key",
        F.col("nps").cast("double").alias("nps"),
        F.col("csat").cast("double").alias("csat"),
        F.col("ces").cast("double").alias("ces"),
        "reason",
        "cart_id",
        "submitted_at",
        F.col("link_at").alias("linked_at"),
    ).where(F.col("customer_id").isNotNull())
    return events, responses, source.customers.select(*_CUSTOMER_COLUMNS)


def person_labels(events):
    """Each id (``c:`` customer, ``v:`` visitor, ``k:`` cart) mapped to a label shared by its
    whole part: the smallest id reachable through events that name two of them."""
    from pyspark.sql import functions as F

    customer = F.concat(F.lit("c:"), F.col("customer_id"))
    visitor = F.concat(F.lit("v:"), F.col("visitor_id"))
    cart = F.concat(F.lit("k:"), F.col("cart_id"))
    pairs = [(customer, visitor), (cart, visitor), (cart, customer)]
    edges = None
    for a, b in pairs:
        both = events.select(a.alias("a"), b.alias("b")).where(
            F.col("a").isNotNull() & F.col("b").isNotNull()
        )
        found = both.union(both.select(F.col("b").alias("a"), F.col("a").alias("b")))
        edges = found if edges is None else edges.union(found)
    edges = edges.distinct().localCheckpoint()
    labels = edges.select(F.col("a").alias("node")).distinct().withColumn("label", F.col("node"))
    labels = labels.localCheckpoint()
    # Min-label propagation: each round a node takes the smallest label among its neighbours;
    # a part is settled after as many rounds as it is wide (a handful: customer, visitors, carts).
    for _ in range(MAX_ROUNDS):
        offered = (
            edges.join(labels.withColumnRenamed("node", "a"), "a")
            .select(F.col("b").alias("node"), "label")
            .unionByName(labels)
            .groupBy("node")
            .agg(F.min("label").alias("label"))
            .localCheckpoint()
        )
        changed = (
            offered.join(labels.withColumnRenamed("label", "old"), "node")
            .where(F.col("label") < F.col("old"))
            .limit(1)
            .count()
        )
        labels = offered
        if changed == 0:
            break
    else:
        log.warning("people still merging after %d rounds", MAX_ROUNDS)
    return labels


def grouped_rows(events, responses, customers, buckets: int, labels=None):
    """One DataFrame of every event, answer and customer row, tagged with its table (``_t``)
    and its person's ``_bucket``. ``labels`` (``person_labels``) may come from a later moment's
    events: a graph only gains edges as events and links come in, so a later part holds every
    earlier one whole and still keeps each person in one group."""
    from pyspark.sql import functions as F

    labels = person_labels(events) if labels is None else labels

    def label_of(prefix: str, column: str, name: str):
        return labels.select(
            F.col("node").alias(f"_{name}_node"), F.col("label").alias(f"_{name}")
        ), F.concat(F.lit(prefix), F.col(column))

    def bucket(person):
        return F.pmod(F.xxhash64(person), F.lit(buckets)).cast("int")

    ev = events
    for prefix, column, name in (("c:", "customer_id", "lc"), ("v:", "visitor_id", "lv"),
                                 ("k:", "cart_id", "lk")):  # fmt: skip
        table, key = label_of(prefix, column, name)
        ev = ev.join(table, key == F.col(f"_{name}_node"), "left").drop(f"_{name}_node")
    person = F.coalesce(
        "_lc",
        "_lv",
        "_lk",
        F.concat(F.lit("c:"), "customer_id"),
        F.concat(F.lit("v:"), "visitor_id"),
    )
    ev = (
        ev.withColumn("_bucket", bucket(person))
        .drop("_lc", "_lv", "_lk")
        .withColumn("_t", F.lit("e"))
    )

    def by_person(frame):
        table, key = label_of("c:", "customer_id", "lc")
        return (
            frame.join(table, key == F.col("_lc_node"), "left")
            .withColumn("_bucket", bucket(F.coalesce("_lc", F.concat(F.lit("c:"), "customer_id"))))
            .drop("_lc", "_lc_node")
        )

    rs = by_person(responses).withColumn("_t", F.lit("r"))
    cu = by_person(customers).withColumn("_t", F.lit("u"))
    return ev.unionByName(rs, allowMissingColumns=True).unionByName(cu, allowMissingColumns=True)


def output_schema(task: Task):
    """The Spark schema of a feature row: keys, context (``ctx_``) and the task's features."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    fields = [StructField(name, StringType()) for name in KEY_COLUMNS]
    fields += [
        StructField(CONTEXT_PREFIX + name, DoubleType() if name == "value" else StringType())
        for name in CONTEXT_COLUMNS
    ]
    fields += [
        StructField(name, StringType() if name in task.categorical else DoubleType())
        for name in task.features
    ]
    return StructType(fields)


def _utc(column: pd.Series) -> pd.Series:
    # Arrow hands Spark timestamps over as naive times in the session zone, which is UTC.
    # Microseconds, as the database read gives (pandas will not merge_asof ns against us).
    values = pd.to_datetime(column)
    values = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return values.astype("datetime64[us, UTC]")


def _text(column: pd.Series) -> pd.Series:
    return column.astype(object).where(column.notna(), None)


def frames_of_group(group: pd.DataFrame, cutoff: datetime):
    """The ``JourneyFrames`` of one group of people (rows of ``grouped_rows``), as
    ``load_journey_frames`` would build them from the whole database at ``cutoff``."""

    def part(tag: str, columns: list[str]) -> pd.DataFrame:
        rows = group.loc[group["_t"] == tag, columns].reset_index(drop=True)
        for column in columns:
            if column in _TIME_COLUMNS:
                rows[column] = _utc(rows[column])
            elif rows[column].dtype == object or str(rows[column].dtype) in {"str", "string"}:
                rows[column] = _text(rows[column])
        return rows

    return frames_from_tables(
        part("e", _EVENT_COLUMNS),
        part("r", _RESPONSE_COLUMNS),
        part("u", _CUSTOMER_COLUMNS),
        cutoff,
    )


def features_of_group(group: pd.DataFrame, task: Task, cutoff: datetime) -> pd.DataFrame:
    """The feature rows of one group, from the builders of ``task`` (pure: group in, rows out)."""
    frames = frames_of_group(group, cutoff)
    features = task.population(task.build_features(frames, cutoff))
    context = task.context(features).reindex(columns=[*KEY_COLUMNS, *CONTEXT_COLUMNS])
    out = pd.DataFrame(index=features.index)
    for name in KEY_COLUMNS:
        out[name] = _text(context[name].astype(object))
    for name in CONTEXT_COLUMNS:
        values = context[name]
        out[CONTEXT_PREFIX + name] = (
            pd.to_numeric(values, errors="coerce").astype(float)
            if name == "value"
            else _text(values.astype(object))
        )
    for name in task.features:
        values = features[name]
        out[name] = (
            _text(values.astype(object))
            if name in task.categorical
            else pd.to_numeric(values, errors="coerce").astype(float)
        )
    return out.reset_index(drop=True)


def bucket_count(events, events_per_bucket: int = EVENTS_PER_BUCKET) -> int:
    """Groups for ``events``: enough that one holds about ``events_per_bucket`` events."""
    total = events.count()
    partitions = int(events.sparkSession.conf.get("spark.sql.shuffle.partitions", "16"))
    return max(partitions, int(np.ceil(total / events_per_bucket)))


def people_rows(source, cutoff: datetime, buckets: int | None = None, labels=None):
    """(``grouped_rows`` of the tables as known at ``cutoff``, the number of groups): every row
    a person's features or labels can read goes to the group of that person. A job that builds
    rows at several cutoffs finds the people once, at the latest (``labels``)."""
    events, responses, customers = resolved_tables(source, as_utc(cutoff).to_pydatetime())
    buckets = buckets or bucket_count(events)
    return grouped_rows(events, responses, customers, buckets, labels), buckets


def task_features(
    source, task: str | Task, cutoff: datetime, buckets: int | None = None, labels=None
):
    """A Spark DataFrame of the feature rows of ``task`` at ``cutoff`` (``output_schema``)."""
    task = task_by_name(task)
    cutoff_ts = as_utc(cutoff).to_pydatetime()
    rows, buckets = people_rows(source, cutoff_ts, buckets, labels)

    def build(group: pd.DataFrame) -> pd.DataFrame:
        return features_of_group(group, task, cutoff_ts)

    log.info("building features", extra={"task": task.name, "buckets": buckets})
    return rows.groupBy("_bucket").applyInPandas(build, schema=output_schema(task))
