"""The tables a Spark job reads, in the shape of a Parquet export, from either place.

``kundresa export`` writes events, responses, identities and customers as Parquet with the
columns the importers read (shared/parquet_export.py); reading PostgreSQL over JDBC selects the
very same columns, so everything after this module is one code path. Only rows before the
cutoff are read: the cutoff is a condition in the SQL (or on the Parquet day partitions), not a
filter applied after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.journey_frames import EVENT_PROPERTIES, as_utc
from shared.parquet_export import EXPORT_KINDS, TIME_COLUMN

# JDBC reads are split into this many parallel queries per table (by a hash of the person).
JDBC_PARTITIONS = 8


@dataclass(frozen=True)
class SourceTables:
    """Spark DataFrames with the export's columns, holding only rows before the cutoff."""

    events: object
    responses: object
    identities: object
    customers: object


def from_parquet(spark, folder: str | Path, cutoff: datetime) -> SourceTables:
    """Read an export made by ``kundresa export ... --format parquet FOLDER``."""
    from pyspark.sql import functions as F

    folder = Path(folder)
    missing = [k for k in EXPORT_KINDS if k != "orders" and not (folder / k).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{folder} has no {', '.join(missing)} export: "
            f"kundresa export {' '.join(missing)} --format parquet {folder}"
        )
    cutoff_ts = as_utc(cutoff)
    tables = {}
    for kind in ("events", "responses", "identities", "customers"):
        frame = spark.read.parquet(str(folder / kind))
        time_column = TIME_COLUMN[kind]
        if time_column is not None:
            if "day" in frame.columns:
                # The day partitions after the cutoff are never opened.
                frame = frame.where(F.col("day") <= cutoff_ts.strftime("%Y-%m-%d"))
            frame = frame.where(F.col(time_column) < F.lit(cutoff_ts.to_pydatetime()))
        tables[kind] = frame.drop("day")
    return SourceTables(**tables)


def export_for_spark(database_url: str, folder: Path, cutoff: datetime) -> Path:
    """A database Spark cannot read over JDBC (SQLite) is exported to Parquet first."""
    from shared.parquet_export import export_table

    for kind in ("events", "responses", "identities", "customers"):
        export_table(database_url, kind, folder, until=cutoff, by_day=False)
    return folder


def read_tables(spark, database_url: str, source: Path | None, scratch: Path, cutoff: datetime):
    """The tables before ``cutoff``: from the Parquet export ``source`` if given, else from
    PostgreSQL over JDBC, else (SQLite) from an export written into ``scratch``."""
    if source is None and database_url.startswith("postgresql"):
        return from_database(spark, database_url, cutoff)
    return from_parquet(spark, source or export_for_spark(database_url, scratch, cutoff), cutoff)


def jdbc_options(database_url: str) -> tuple[str, dict[str, str]]:
    """(JDBC URL, connection properties) for a PostgreSQL SQLAlchemy URL.

    The password travels in the properties, never in the URL, so Spark's logs and UI (which
    show the URL) do not show it.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise ValueError("Spark reads the database over JDBC from PostgreSQL only")
    port = f":{url.port}" if url.port else ""
    jdbc_url = f"jdbc:postgresql://{url.host or 'localhost'}{port}/{url.database}"
    properties = {"driver": "org.postgresql.Driver", "user": url.username or ""}
    if url.password:
        properties["password"] = str(url.password)
    for key, value in url.query.items():
        if key in {"sslmode", "sslrootcert", "sslcert", "sslkey", "options"}:
            properties[key] = value if isinstance(value, str) else value[0]
    return jdbc_url, properties


def _events_sql(cutoff: str) -> str:
    numeric = ", ".join(
        f"CAST(properties ->> '{key}' AS DOUBLE PRECISION) AS {key}" for key in EVENT_PROPERTIES
    )
    return (
        "SELECT event_id, customer_id, visitor_id, type, stage, channel, product_category, "
        'value, cart_id, order_id, device, occurred_at AS "timestamp", '
        f"{numeric}, CAST(properties AS TEXT) AS properties "
        f"FROM journey_events WHERE occurred_at < TIMESTAMPTZ '{cutoff}'"
    )


def _responses_sql(cutoff: str) -> str:
    # Answers and comments are not read: the features need the scores and the reason only.
    return (
        "SELECT response_id, survey_key, customer_id, visitor_id, stage, cart_id, nps, csat, "
        f"ces, reason, submitted_at FROM responses WHERE submitted_at < TIMESTAMPTZ '{cutoff}'"
    )


def from_database(spark, database_url: str, cutoff: datetime) -> SourceTables:
    """Read the tables from PostgreSQL over JDBC, each in ``JDBC_PARTITIONS`` parallel parts."""
    jdbc_url, properties = jdbc_options(database_url)
    cutoff_text = as_utc(cutoff).isoformat()
    queries = {
        "events": (_events_sql(cutoff_text), "coalesce(customer_id, visitor_id, event_id)"),
        "responses": (_responses_sql(cutoff_text), "response_id"),
        "identities": (
            "SELECT visitor_id, customer_id, linked_at FROM identities "
            f"WHERE linked_at < TIMESTAMPTZ '{cutoff_text}'",
            "visitor_id",
        ),
        "customers": ("SELECT id AS customer_id, segment, locale FROM customers", "customer_id"),
    }
    tables = {}
    for kind, (sql, key) in queries.items():
        predicates = [
            f"mod(abs(hashtext({key})), {JDBC_PARTITIONS}) = {part}"
            for part in range(JDBC_PARTITIONS)
        ]
        tables[kind] = spark.read.jdbc(
            jdbc_url, f"({sql}) AS source", predicates=predicates, properties=properties
        )
    return SourceTables(**tables)
