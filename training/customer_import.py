"""``kundresa import customers``: who the customers are (name, e-mail, phone and any other
columns, kept as attributes), from a CSV file.

The import is all or nothing: every row is checked, each bad one reported with its line number,
and when any is bad nothing is written (one transaction, rolled back). A known customer is
updated, a new one added; importing the same file twice changes nothing the second time.
These are personal data: the report names lines and problems, never a value.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update

from shared.db.session import get_engine
from shared.db.tables import Customer, Site
from shared.schemas.fields import is_storable_text
from training.importers import CHUNK_ROWS, MAX_REPORTED_ERRORS, ImportFailed, RowError

CUSTOMER_FIELDS = ("id", "name", "email", "phone")
LIMITS = {"id": 64, "name": 200, "email": 254, "phone": 40}
MAX_ATTRIBUTE_LENGTH = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE = re.compile(r"^\+?[0-9 ().\-/]{5,40}$")


@dataclass
class CustomerImportReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def parse_mapping(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--map name=Full Name,email=E-mail`` (repeatable, comma-separated) as field -> header."""
    mapping: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            name, sep, header = part.partition("=")
            name, header = name.strip(), header.strip()
            if not sep or not name or not header:
                raise ValueError(f"'{part.strip()}' is not FIELD=HEADER")
            if name not in CUSTOMER_FIELDS:
                raise ValueError(f"unknown field '{name}'; fields: {', '.join(CUSTOMER_FIELDS)}")
            mapping[name] = header
    return mapping


def _value(raw: str, name: str, required: bool = False) -> str | None:
    text = raw.strip()
    if not text:
        if required:
            raise RowError(f"{name} is empty")
        return None
    if len(text) > LIMITS[name]:
        raise RowError(f"{name} is longer than {LIMITS[name]} characters")
    if not is_storable_text(text):
        raise RowError(f"{name} holds characters that cannot be stored")
    if name == "email" and not EMAIL.match(text):
        raise RowError("email is not an e-mail address")
    if name == "phone" and (not PHONE.match(text) or sum(c.isdigit() for c in text) < 5):
        raise RowError("phone is not a phone number (digits, spaces, + - ( ) only)")
    return text


def customer_row(values: dict[str, str], extra: dict[str, str]) -> dict:
    """The stored columns of one row; raises RowError for a bad value."""
    row = {name: _value(values.get(name, ""), name, required=name == "id") for name in LIMITS}
    attributes = {}
    for header, raw in extra.items():
        text = raw.strip()
        if not text:
            continue
        if len(text) > MAX_ATTRIBUTE_LENGTH or not is_storable_text(text):
            raise RowError(
                f"column '{header}' is too long or holds characters that cannot be stored"
            )
        attributes[header] = text
    row["attributes"] = attributes or None
    return row


def _rows(path: Path, mapping: dict[str, str], delimiter: str) -> Iterator[tuple[int, dict, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFailed(["line 1: the file is empty"], 1) from None
        positions = {}
        for name in CUSTOMER_FIELDS:
            wanted = mapping.get(name, name)
            if wanted in header:
                positions[name] = header.index(wanted)
            elif name == "id" or name in mapping:
                raise ImportFailed(
                    [
                        f"line 1: column '{wanted}' ({name}) is not in the header: {', '.join(header)}"
                    ],
                    1,
                )
        if len(set(header)) != len(header) or "" in header:
            raise ImportFailed(["line 1: every column needs a name of its own"], 1)
        extra = [(i, h) for i, h in enumerate(header) if i not in positions.values()]
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            padded = values + [""] * (len(header) - len(values))
            known = {name: padded[i] for name, i in positions.items()}
            yield reader.line_num, known, {h: padded[i] for i, h in extra}


def import_customers(
    database_url: str,
    path: str | Path,
    mapping: dict[str, str] | None = None,
    *,
    site: str | None = None,
    delimiter: str = ",",
    progress: Callable[[int], None] | None = None,
) -> CustomerImportReport:
    """Add or update the customers of a CSV file; ImportFailed (nothing written) when any row
    is bad. ``site`` (a site's name or key) says whose shop they are (the admin link)."""
    report = CustomerImportReport()
    bad = 0
    seen: dict[str, int] = {}
    chunk: list[dict] = []
    engine = get_engine(database_url)
    with engine.connect() as conn, conn.begin() as transaction:
        site_id = _site_id(conn, site) if site else None
        for line, known, extra in _rows(Path(path), mapping or {}, delimiter):
            report.rows += 1
            try:
                row = customer_row(known, extra)
                if row["id"] in seen:
                    raise RowError(f"id is already on line {seen[row['id']]}")
                seen[row["id"]] = line
            except RowError as error:
                bad += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append(f"line {line}: {error}")
                continue
            if bad:
                continue  # keep checking to report every bad line, but write nothing more
            if site_id is not None:
                row["site_id"] = site_id
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                _write(conn, chunk, report)
                chunk = []
            if progress:
                progress(1)
        if bad:
            transaction.rollback()
            raise ImportFailed(report.errors, bad)
        _write(conn, chunk, report)
    return report


def _site_id(conn, site: str) -> int:  # noqa: ANN001 - a connection
    found = conn.scalar(select(Site.id).where((Site.name == site) | (Site.site_key == site)))
    if found is None:
        raise ImportFailed([f"no site is named or keyed '{site}'"], 1)
    return found


def _write(conn, rows: list[dict], report: CustomerImportReport) -> None:  # noqa: ANN001
    if not rows:
        return
    table = Customer.__table__
    columns = [c for c in ("name", "email", "phone", "attributes", "site_id") if c in rows[0]]
    present = {
        r.id: r
        for r in conn.execute(
            select(table.c.id, *(table.c[c] for c in columns)).where(
                table.c.id.in_([r["id"] for r in rows])
            )
        )
    }
    fresh = [{**r, "consent": False} for r in rows if r["id"] not in present]
    changed = [
        r
        for r in rows
        if r["id"] in present and any(getattr(present[r["id"]], c) != r[c] for c in columns)
    ]
    if fresh:
        conn.execute(insert(table), fresh)
    if changed:
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("key"))
            .values({c: bindparam(f"new_{c}") for c in columns}),
            [{"key": r["id"], **{f"new_{c}": r[c] for c in columns}} for r in changed],
        )
    report.added += len(fresh)
    report.updated += len(changed)
    report.unchanged += len(rows) - len(fresh) - len(changed)
