"""Export the journey tables as Parquet, partitioned by day, with the importers' columns.

For data teams and for Spark (shared/spark/sources.py reads these folders). Events and orders
carry the columns ``kundresa import events`` / ``import orders`` read (plus the whole
``properties`` document, which the event importer takes back), so an export re-imports; an
export of responses re-imports with ``kundresa import responses``. Identities and customers are
exported for Spark jobs (who is whom, and the segment), not for re-import.

Rows stream from the database in chunks and each chunk is appended to the dataset, so memory
stays near one chunk whatever the size of the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from sqlalchemy import select

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.journey_frames import EVENT_PROPERTIES, as_utc

EXPORT_KINDS: tuple[str, ...] = ("events", "orders", "responses", "identities", "customers")
# The column each kind is partitioned (and cut off) by; customers have no time of their own.
TIME_COLUMN: dict[str, str | None] = {
    "events": "timestamp",
    "orders": "timestamp",
    "responses": "submitted_at",
    "identities": "linked_at",
    "customers": None,
}
CHUNK_ROWS = 100_000

_TEXT = pa.string()
_NUMBER = pa.float64()
_TIME = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "events": pa.schema(
        [
            ("event_id", _TEXT),
            ("customer_id", _TEXT),
            ("visitor_id", _TEXT),
            ("type", _TEXT),
            ("timestamp", _TIME),
            ("channel", _TEXT),
            ("stage", _TEXT),
            ("product_category", _TEXT),
            ("value", _NUMBER),
            ("cart_id", _TEXT),
            ("order_id", _TEXT),
            ("device", _TEXT),
            *[(key, _NUMBER) for key in EVENT_PROPERTIES],
            ("properties", _TEXT),
        ]
    ),
    "orders": pa.schema(
        [
            ("customer_id", _TEXT),
            ("timestamp", _TIME),
            ("amount", _NUMBER),
            ("order_id", _TEXT),
            ("quantity", _NUMBER),
            ("product_category", _TEXT),
        ]
    ),
    "responses": pa.schema(
        [
            ("response_id", _TEXT),
            ("survey_key", _TEXT),
            ("customer_id", _TEXT),
            ("visitor_id", _TEXT),
            ("stage", _TEXT),
            ("cart_id", _TEXT),
            ("order_id", _TEXT),
            ("locale", _TEXT),
            ("answers", _TEXT),
            ("nps", pa.int64()),
            ("csat", pa.int64()),
            ("ces", pa.int64()),
            ("reason", _TEXT),
            ("comment", _TEXT),
            ("submitted_at", _TIME),
        ]
    ),
    "identities": pa.schema([("visitor_id", _TEXT), ("customer_id", _TEXT), ("linked_at", _TIME)]),
    "customers": pa.schema([("customer_id", _TEXT), ("segment", _TEXT), ("locale", _TEXT)]),
}


class _Columns:
    """A result row whose columns read as attributes, as the row functions expect."""

    def __init__(self, mapping) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str):
        return self._mapping[name]


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _event_row(e) -> dict:
    props = e.properties if isinstance(e.properties, dict) else {}
    return {
        "event_id": e.event_id,
        "customer_id": e.customer_id,
        "visitor_id": e.visitor_id,
        "type": e.type,
        "timestamp": e.occurred_at,
        "channel": e.channel,
        "stage": e.stage,
        "product_category": e.product_category,
        "value": e.value,
        "cart_id": e.cart_id,
        "order_id": e.order_id,
        "device": e.device,
        **{key: _number(props.get(key)) for key in EVENT_PROPERTIES},
        "properties": json.dumps(props, sort_keys=True) if e.properties is not None else None,
    }


def _order_row(e) -> dict:
    props = e.properties if isinstance(e.properties, dict) else {}
    return {
        "customer_id": e.customer_id,
        "timestamp": e.occurred_at,
        "amount": e.value,
        "order_id": e.order_id,
        "quantity": _number(props.get("quantity")),
        "product_category": e.product_category,
    }


def _response_row(r) -> dict:
    return {
        "response_id": r.response_id,
        "survey_key": r.survey_key,
        "customer_id": r.customer_id,
        "visitor_id": r.visitor_id,
        "stage": r.stage,
        "cart_id": r.cart_id,
        "order_id": r.order_id,
        "locale": r.locale,
        "answers": json.dumps(r.answers, sort_keys=True),
        "nps": r.nps,
        "csat": r.csat,
        "ces": r.ces,
        "reason": r.reason,
        "comment": r.comment,
        "submitted_at": r.submitted_at,
    }


def _query(kind: str, until: datetime | None):
    ev = JourneyEvent.__table__
    if kind == "events":
        stmt = select(JourneyEvent.__table__).order_by(ev.c.occurred_at, ev.c.event_id)
        column = JourneyEvent.occurred_at
    elif kind == "orders":
        stmt = (
            select(JourneyEvent.__table__)
            .where(JourneyEvent.type == "purchase", JourneyEvent.customer_id.is_not(None))
            .order_by(ev.c.occurred_at, ev.c.event_id)
        )
        column = JourneyEvent.occurred_at
    elif kind == "responses":
        stmt = select(Response.__table__).order_by(Response.submitted_at, Response.response_id)
        column = Response.submitted_at
    elif kind == "identities":
        stmt = select(Identity.__table__).order_by(Identity.linked_at, Identity.visitor_id)
        column = Identity.linked_at
    else:
        return select(Customer.__table__).order_by(Customer.id)
    return stmt.where(column < as_utc(until).to_pydatetime()) if until else stmt


_ROW: dict[str, Callable] = {
    "events": _event_row,
    "orders": _order_row,
    "responses": _response_row,
    "identities": lambda i: {
        "visitor_id": i.visitor_id,
        "customer_id": i.customer_id,
        "linked_at": i.linked_at,
    },
    "customers": lambda c: {"customer_id": c.id, "segment": c.segment, "locale": c.locale},
}


def _batches(database_url: str, kind: str, until: datetime | None) -> Iterator[pa.Table]:
    engine = get_engine(database_url)
    schema = SCHEMAS[kind]
    to_row = _ROW[kind]
    time_column = TIME_COLUMN[kind]
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
            _query(kind, until)
        )
        for rows in result.mappings().partitions():
            records = [to_row(_Columns(row)) for row in rows]
            table = pa.Table.from_pylist(records, schema=schema)
            if time_column is not None:
                day = pa.compute.strftime(table[time_column], format="%Y-%m-%d", locale="C")
                table = table.append_column("day", day)
            yield table


def export_table(
    database_url: str,
    kind: str,
    folder: str | Path,
    *,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    by_day: bool = True,
) -> int:
    """Write ``kind`` into ``folder/kind/day=YYYY-MM-DD/*.parquet``; returns the row count.

    The kind's folder is replaced, so a repeated export never mixes an old one with a new one.
    Without ``by_day`` the files are not split by day (a scratch copy for one Spark job, where
    hundreds of small day folders cost more to list than they save).
    """
    if kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export {kind!r}: one of {', '.join(EXPORT_KINDS)}")
    target = Path(folder) / kind
    if target.exists():
        import shutil

        shutil.rmtree(target)
    target.mkdir(parents=True)
    partitioned = by_day and TIME_COLUMN[kind] is not None
    count = 0
    for part, table in enumerate(_batches(database_url, kind, until)):
        if not partitioned and "day" in table.column_names:
            table = table.drop_columns(["day"])
        ds.write_dataset(
            table,
            target,
            format="parquet",
            partitioning=["day"] if partitioned else None,
            partitioning_flavor="hive" if partitioned else None,
            basename_template=f"part-{part:05d}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
        )
        count += table.num_rows
        if progress:
            progress(table.num_rows)
    if count == 0:
        # An empty table still leaves a readable dataset (Spark cannot read an empty folder).
        empty = SCHEMAS[kind].empty_table()
        if partitioned:
            empty = empty.append_column("day", pa.array([], pa.string()))
        import pyarrow.parquet as pq

        pq.write_table(empty, target / "part-empty.parquet")
    return count


def read_rows(path: str | Path) -> Iterator[dict]:
    """The rows of a Parquet file or folder (an export), one dict at a time, in batches."""
    dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    for batch in dataset.to_batches(batch_size=CHUNK_ROWS):
        yield from batch.to_pylist()
