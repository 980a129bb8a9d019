"""Import real order history and journey events from CSV files.

Every row is checked; a bad row is reported with its line number in the file
(``line 1834: amount 'abc' is not a number``). Without ``skip_bad`` the import is all or
nothing: the rows go in inside one transaction that is rolled back if any row is bad. With
``skip_bad`` the good rows are kept and the bad ones listed. Each row gets a deterministic
event id (the file's own id, else a hash of the row's content), so importing the same file
twice adds nothing the second time. Rows stream through in chunks: memory stays bounded.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from shared.attribution import OTHER
from shared.db.session import get_engine
from shared.db.tables import Customer, JourneyEvent
from shared.journey import CHANNELS, EVENT_TYPES, STAGES
from shared.journey_frames import EVENT_PROPERTIES

CHUNK_ROWS = 5_000
MAX_REPORTED_ERRORS = 100

ORDER_FIELDS = ("customer_id", "timestamp", "amount", "order_id", "quantity", "product_category")
ORDER_REQUIRED = ("customer_id", "timestamp", "amount")
EVENT_FIELDS = (
    "event_id",
    "customer_id",
    "visitor_id",
    "type",
    "timestamp",
    "channel",
    "stage",
    "product_category",
    "value",
    "cart_id",
    "order_id",
    "device",
    # Optional numeric properties the cart features aggregate per session (page_value, ...).
    *EVENT_PROPERTIES,
    # Optional: the whole properties document as JSON (what `kundresa export events` writes).
    "properties",
)
EVENT_REQUIRED = ("type", "timestamp")


class ImportFailed(Exception):
    """Nothing was imported; ``errors`` says which lines were wrong and why."""

    def __init__(self, errors: list[str], total_bad: int) -> None:
        self.errors = errors
        self.total_bad = total_bad
        super().__init__(f"{total_bad} bad row(s); nothing was imported")


class RowError(ValueError):
    """One value of one row is wrong."""


@dataclass
class ImportReport:
    """What an import did."""

    kind: str
    rows: int = 0
    imported: int = 0
    already_present: int = 0
    bad: int = 0
    new_customers: int = 0
    other_channels: int = 0  # events whose channel was unknown, stored as "other"
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CsvOptions:
    """How to read the file: which header names hold which field, dates and delimiter."""

    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    date_format: str | None = None  # strptime format; ISO 8601 when None
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    def header_for(self, name: str) -> str:
        """The header the file uses for a field (the field's own name unless mapped)."""
        return self.columns.get(name, name)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def parse_time(value: str, date_format: str | None, label: str = "timestamp") -> datetime:
    """An aware UTC datetime; a time without a zone is taken to be UTC."""
    text = value.strip()
    if not text:
        raise RowError(f"{label} is empty")
    try:
        if date_format:
            moment = datetime.strptime(text, date_format)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        expected = f"format {date_format}" if date_format else "ISO 8601 (2026-03-01T12:30:00)"
        raise RowError(f"{label} '{text}' does not match {expected}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_number(value: str, label: str) -> float:
    """A number; a decimal comma is accepted when there is no decimal point."""
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        raise RowError(f"{label} '{value.strip()}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RowError(f"{label} '{value.strip()}' is not a number")
    return number


def _text(value: str | None, label: str, limit: int = 64, required: bool = False) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise RowError(f"{label} is empty")
        return None
    if len(text) > limit:
        raise RowError(f"{label} is longer than {limit} characters")
    return text


def _channel(value: str | None) -> str | None:
    """A known channel, or ``other`` for one the journey model does not know: the event is
    kept and counted (``ImportReport.other_channels``), never refused or dropped."""
    text = (value or "").strip().lower()
    if not text:
        return None
    return text if text in CHANNELS else OTHER


def _choice(value: str | None, label: str, allowed: tuple[str, ...]) -> str | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in allowed:
        raise RowError(f"{label} '{text}' is not one of {', '.join(allowed)}")
    return text


# ---------------------------------------------------------------------------------------------
# Rows -> events
# ---------------------------------------------------------------------------------------------


def _deterministic_id(kind: str, parts: tuple[object, ...], occurrence: int) -> str:
    """The same row content (and the same n-th repeat of it) always gives the same id."""
    text = "\x1f".join(str(p) for p in (kind, *parts, occurrence))
    return f"imp-{kind[0]}-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def order_event(row: dict[str, str], options: CsvOptions, seen: Counter) -> dict:
    """A purchase event from one order row; raises RowError for a bad value."""
    customer = _text(row.get("customer_id"), "customer id", required=True)
    at = parse_time(row.get("timestamp", ""), options.date_format)
    amount = parse_number(row.get("amount", ""), "amount")
    order_id = _text(row.get("order_id"), "order id")
    quantity = None
    if (row.get("quantity") or "").strip():
        quantity = parse_number(row["quantity"], "quantity")
        if quantity <= 0 or quantity != int(quantity):
            raise RowError(f"quantity '{row['quantity'].strip()}' is not a whole number above 0")
    category = _text(row.get("product_category"), "product category", limit=80)
    if order_id:
        key: tuple[object, ...] = (customer, order_id)
    else:
        key = (customer, at.isoformat(), amount, quantity, category)
    seen[key] += 1
    return {
        "event_id": _deterministic_id("orders", key, 0 if order_id else seen[key]),
        "customer_id": customer,
        "visitor_id": None,
        "type": "purchase",
        "stage": None,
        "channel": None,
        "product_category": category,
        "value": amount,
        "cart_id": None,
        "order_id": order_id,
        "device": None,
        "occurred_at": at,
        "received_at": datetime.now(UTC),
        "properties": {"source": "import", **({"quantity": int(quantity)} if quantity else {})},
    }


def _document(text: str) -> dict | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        raise RowError("properties is not a JSON object") from None
    if not isinstance(document, dict):
        raise RowError("properties is not a JSON object")
    return document


def journey_event(row: dict[str, str], options: CsvOptions, seen: Counter) -> dict:
    """A journey event from one generic event row; raises RowError for a bad value."""
    customer = _text(row.get("customer_id"), "customer id")
    visitor = _text(row.get("visitor_id"), "visitor id")
    if not customer and not visitor:
        raise RowError("customer id and visitor id are both empty")
    kind = _choice(row.get("type"), "type", EVENT_TYPES)
    if kind is None:
        raise RowError("type is empty")
    at = parse_time(row.get("timestamp", ""), options.date_format)
    value = None
    if (row.get("value") or "").strip():
        value = parse_number(row["value"], "value")
    event = {
        "customer_id": customer,
        "visitor_id": visitor,
        "type": kind,
        "stage": _choice(row.get("stage"), "stage", STAGES),
        "channel": _channel(row.get("channel")),
        "product_category": _text(row.get("product_category"), "product category", limit=80),
        "value": value,
        "cart_id": _text(row.get("cart_id"), "cart id"),
        "order_id": _text(row.get("order_id"), "order id"),
        "device": _text(row.get("device"), "device", limit=20),
        "occurred_at": at,
        "received_at": datetime.now(UTC),
        "properties": {"source": "import"},
    }
    if "properties" in row:
        # A file with the whole document (an export) says exactly what the event carried.
        event["properties"] = _document(row["properties"])
    for key in EVENT_PROPERTIES:
        if (row.get(key) or "").strip():
            number = parse_number(row[key], key.replace("_", " "))
            event["properties"] = {**(event["properties"] or {}), key: number}
    given = _text(row.get("event_id"), "event id")
    if given:
        event["event_id"] = given
    else:
        key = tuple(event[k] for k in ("customer_id", "visitor_id", "type", "cart_id", "order_id"))
        key = (*key, at.isoformat(), value)
        seen[key] += 1
        event["event_id"] = _deterministic_id("events", key, seen[key])
    return event


# ---------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------


def _read_rows(
    path: Path, options: CsvOptions, fields: tuple[str, ...], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {field: value}) for each data row, after checking the header.

    A ``.parquet`` file or a folder (an export of ``kundresa export``) is read as the same
    rows, numbered from 2 as if the first line were a header, its values turned to text so
    that every row goes through the same checks as a CSV row.
    """
    if path.is_dir() or path.suffix == ".parquet":
        yield from _parquet_rows(path, options, fields, required)
        return
    with path.open(newline="", encoding=options.encoding) as handle:
        reader = csv.reader(handle, delimiter=options.delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFailed(["line 1: the file is empty"], 1) from None
        positions: dict[str, int] = {}
        for name in fields:
            wanted = options.header_for(name)
            if wanted in header:
                positions[name] = header.index(wanted)
            elif name in required or name in options.columns:
                raise ImportFailed(
                    [
                        f"line 1: column '{wanted}' ({name}) is not in the header: {', '.join(header)}"
                    ],
                    1,
                )
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            row = {name: values[i] if i < len(values) else "" for name, i in positions.items()}
            yield reader.line_num, row


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def _parquet_rows(
    path: Path, options: CsvOptions, fields: tuple[str, ...], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    from shared.parquet_export import read_rows

    line = 1
    for record in read_rows(path):
        if line == 1:
            for name in (*required, *options.columns):
                if options.header_for(name) not in record:
                    raise ImportFailed(
                        [f"column '{options.header_for(name)}' ({name}) is not in {path.name}"], 1
                    )
        line += 1
        yield (
            line,
            {
                name: _as_text(record.get(options.header_for(name)))
                for name in fields
                if options.header_for(name) in record
            },
        )


def import_orders(
    database_url: str,
    path: str | Path,
    options: CsvOptions | None = None,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import an order-history CSV as purchase events (and the customers it names)."""
    options = options or CsvOptions()
    rows = _read_rows(Path(path), options, ORDER_FIELDS, ORDER_REQUIRED)
    return import_rows(
        "orders", database_url, rows, options, order_event, _write, skip_bad, progress
    )


def import_events(
    database_url: str,
    path: str | Path,
    options: CsvOptions | None = None,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a generic journey-event CSV."""
    options = options or CsvOptions()
    rows = _read_rows(Path(path), options, EVENT_FIELDS, EVENT_REQUIRED)
    return import_rows(
        "events", database_url, rows, options, journey_event, _write, skip_bad, progress
    )


def import_rows(
    kind: str,
    database_url: str,
    rows: Iterator[tuple[int, dict[str, str]]],
    options: CsvOptions,
    to_record: Callable[[dict[str, str], CsvOptions, Counter], dict],
    write: Callable[[Any, list[dict], ImportReport], None],
    skip_bad: bool,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """The loop every importer runs: each row checked by ``to_record`` (a ``RowError`` is
    reported with its line), the good ones written by ``write`` a chunk at a time, in one
    transaction that a bad row rolls back unless ``skip_bad``."""
    report = ImportReport(kind=kind)
    seen: Counter = Counter()
    chunk: list[dict] = []
    engine = get_engine(database_url)
    # One transaction for the whole file: without --skip-bad, any bad row rolls everything back.
    with engine.connect() as conn, conn.begin() as transaction:
        for line, row in rows:
            report.rows += 1
            try:
                event = to_record(row, options, seen)
            except RowError as error:
                report.bad += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append(f"line {line}: {error}")
                continue
            if report.bad and not skip_bad:
                continue  # keep validating to report every bad line, but write nothing more
            if event.get("channel") == OTHER:
                report.other_channels += 1
            chunk.append(event)
            if len(chunk) >= CHUNK_ROWS:
                write(conn, chunk, report)
                chunk = []
            if progress and report.rows % 1000 == 0:
                progress(1000)
        if report.bad and not skip_bad:
            transaction.rollback()
            raise ImportFailed(report.errors, report.bad)
        write(conn, chunk, report)
    return report


def _write(conn, events: list[dict], report: ImportReport) -> None:
    if not events:
        return
    # A repeat inside the chunk or a row imported before is not written again.
    unique = {e["event_id"]: e for e in events}
    table = JourneyEvent.__table__
    present = set(conn.scalars(select(table.c.event_id).where(table.c.event_id.in_(list(unique)))))
    fresh = [e for eid, e in unique.items() if eid not in present]
    report.already_present += len(events) - len(fresh)
    customers = {e["customer_id"] for e in fresh if e["customer_id"]}
    if customers:
        known = set(conn.scalars(select(Customer.id).where(Customer.id.in_(sorted(customers)))))
        new = sorted(customers - known)
        if new:
            conn.execute(insert(Customer.__table__), [{"id": c, "consent": False} for c in new])
            report.new_customers += len(new)
    if fresh:
        conn.execute(insert(table), fresh)
    report.imported += len(fresh)
