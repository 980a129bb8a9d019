"""Import survey responses from a Parquet export (``kundresa export responses``) or a CSV.

The columns are those the export writes. Each row is checked like the other importers' rows
(a bad one is reported with its row number, and nothing is imported unless --skip-bad); the
response id is the primary key, so importing the same export twice adds nothing. The survey
must exist under its key in the target database (the surveys themselves are configuration,
moved with the admin API, not with the data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from shared.db.session import get_engine
from shared.db.tables import Response, Survey
from training.importers import (
    CsvOptions,
    ImportReport,
    RowError,
    _read_rows,
    _text,
    import_rows,
    parse_time,
)

RESPONSE_FIELDS = (
    "response_id",
    "survey_key",
    "customer_id",
    "visitor_id",
    "stage",
    "cart_id",
    "order_id",
    "locale",
    "answers",
    "nps",
    "csat",
    "ces",
    "reason",
    "comment",
    "submitted_at",
)
RESPONSE_REQUIRED = ("response_id", "survey_key", "answers", "submitted_at")
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def _score(row: dict[str, str], name: str) -> int | None:
    text = (row.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"{name} '{text}' is not a number") from None
    low, high = SCALES[name]
    if value != int(value) or not low <= value <= high:
        raise RowError(f"{name} '{text}' is not a whole number from {low} to {high}")
    return int(value)


def response_row(row: dict[str, str], surveys: dict[str, int], options: CsvOptions) -> dict:
    """A responses-table row from one exported row; raises RowError for a bad value."""
    key = _text(row.get("survey_key"), "survey key", limit=80, required=True)
    if key not in surveys:
        raise RowError(f"survey '{key}' does not exist here (create it first)")
    try:
        answers = json.loads(row.get("answers") or "")
    except ValueError:
        raise RowError("answers is not a JSON object") from None
    if not isinstance(answers, dict):
        raise RowError("answers is not a JSON object")
    customer = _text(row.get("customer_id"), "customer id")
    visitor = _text(row.get("visitor_id"), "visitor id")
    if not customer and not visitor:
        raise RowError("customer id and visitor id are both empty")
    submitted = parse_time(row.get("submitted_at", ""), options.date_format, "submitted at")
    comment = (row.get("comment") or "").strip() or None
    return {
        "response_id": _text(row.get("response_id"), "response id", required=True),
        "survey_id": surveys[key],
        "survey_key": key,
        "customer_id": customer,
        "visitor_id": visitor,
        "stage": _text(row.get("stage"), "stage", limit=40),
        "cart_id": _text(row.get("cart_id"), "cart id"),
        "order_id": _text(row.get("order_id"), "order id"),
        "locale": _text(row.get("locale"), "locale", limit=8),
        "answers": answers,
        "nps": _score(row, "nps"),
        "csat": _score(row, "csat"),
        "ces": _score(row, "ces"),
        "reason": _text(row.get("reason"), "reason", limit=40),
        "comment": comment,
        "body_hash": hashlib.sha256(
            json.dumps(answers, sort_keys=True).encode("utf-8")
        ).hexdigest(),
        "submitted_at": submitted,
        "received_at": submitted,
    }


def import_responses(
    database_url: str,
    path: str | Path,
    options: CsvOptions | None = None,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import exported responses; see the module."""
    options = options or CsvOptions()
    with get_engine(database_url).connect() as conn:
        surveys = dict(conn.execute(select(Survey.key, Survey.id)).all())
    rows = _read_rows(Path(path), options, RESPONSE_FIELDS, RESPONSE_REQUIRED)
    return import_rows(
        "responses",
        database_url,
        rows,
        options,
        lambda row, options, _seen: response_row(row, surveys, options),
        _write_responses,
        skip_bad,
        progress,
    )


def _write_responses(conn, responses: list[dict], report: ImportReport) -> None:
    # A repeat inside the chunk (the first one counts) or an answer imported before is not
    # written again.
    unique: dict[str, dict] = {}
    for response in responses:
        unique.setdefault(response["response_id"], response)
    table = Response.__table__
    ids = list(unique)
    present = set(conn.scalars(select(table.c.response_id).where(table.c.response_id.in_(ids))))
    fresh = [r for rid, r in unique.items() if rid not in present]
    report.already_present += len(responses) - len(fresh)
    if fresh:
        conn.execute(insert(table), fresh)
    report.imported += len(fresh)
