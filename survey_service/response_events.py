"""What a stored survey response tells webhooks, written in the same transaction as it.

``response.received`` for every new response, and ``response.detractor`` too when its NPS is
0–6. The payload names the response and carries its scores, never its free text: a receiver
that needs more asks the admin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db.session import get_engine, session_scope, sqlite_write_lock
from shared.db.tables import Customer
from shared.outbox import enqueue
from survey_service.storage import customer_rows

DETRACTOR_MAX_NPS = 6
PAYLOAD_FIELDS = (
    "response_id",
    "survey_key",
    "customer_id",
    "visitor_id",
    "stage",
    "cart_id",
    "order_id",
    "nps",
    "csat",
    "ces",
    "reason",
)


def response_events(row: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(event, payload) pairs for a new response row."""
    payload = {name: row.get(name) for name in PAYLOAD_FIELDS}
    payload["submitted_at"] = row["submitted_at"].isoformat()
    events = [("response.received", payload)]
    nps = row.get("nps")
    if nps is not None and nps <= DETRACTOR_MAX_NPS:
        events.append(("response.detractor", payload))
    return events


def _insert(session: Session, table: Table):  # noqa: ANN202
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def store_with_events(
    database_url: str, table: Table, row: dict[str, Any], key: str, customer_ids: set[str]
) -> int:
    """Insert the row (unless its ``key`` is stored already), the customers not known yet and,
    for a new row, its outbox events, in one transaction; returns 1 when the row is new."""
    engine = get_engine(database_url)
    with sqlite_write_lock(engine), session_scope(database_url) as session:
        connection = session.connection()
        statement = _insert(session, table).on_conflict_do_nothing(index_elements=[key])
        # Counted by RETURNING: psycopg reports no rowcount for it here (-1).
        inserted = len(connection.execute(statement.returning(table.c[key]), row).all())
        if customer_ids:
            connection.execute(
                _insert(session, Customer.__table__).on_conflict_do_nothing(index_elements=["id"]),
                customer_rows(customer_ids),
            )
        if inserted:
            site = None if row.get("site_id") is None else str(row["site_id"])
            for event, payload in response_events(row):
                enqueue(session, event, payload, site_id=site)
        return inserted
