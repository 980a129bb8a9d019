"""What a stored survey response tells webhooks, written in the same transaction as it.

``response.received`` for every new response, and ``response.detractor`` too when its NPS is
0–6. The payload names the response and carries its scores, never its free text: a receiver
that needs more asks the admin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite

from shared.db.session import checkpoint_sqlite_now_and_then, get_engine, sqlite_write_lock
from shared.db.tables import Customer, OutboxEvent
from shared.outbox import outbox_row
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


def _insert(dialect: str, table: Table):  # noqa: ANN202
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def store_with_events(
    database_url: str, table: Table, row: dict[str, Any], key: str, customer_ids: set[str]
) -> int:
    """Insert the row (unless its ``key`` is stored already), the customers not known yet and,
    for a new row, its outbox events, in one transaction; returns 1 when the row is new.

    SQLAlchemy Core on one connection, no ORM session: this is every response's write path.
    """
    engine = get_engine(database_url)
    dialect = engine.dialect.name
    with engine.connect() as connection:
        with sqlite_write_lock(engine), connection.begin():
            statement = _insert(dialect, table).on_conflict_do_nothing(index_elements=[key])
            # Counted by RETURNING: psycopg reports no rowcount for it here (-1).
            inserted = len(connection.execute(statement.returning(table.c[key]), row).all())
            if customer_ids:
                connection.execute(
                    _insert(dialect, Customer.__table__).on_conflict_do_nothing(
                        index_elements=["id"]
                    ),
                    customer_rows(customer_ids),
                )
            if inserted:
                site = None if row.get("site_id") is None else str(row["site_id"])
                events = [outbox_row(e, payload, site) for e, payload in response_events(row)]
                connection.execute(insert(OutboxEvent.__table__), events)
        # As the survey service's other writes do: outside the lock, every so often.
        checkpoint_sqlite_now_and_then(engine, connection.connection.driver_connection)
    return inserted
