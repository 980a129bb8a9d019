"""Linking a visitor id to a customer."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import (
    Customer,
    Identity,
)
from survey_service.storage import customer_rows


def _insert(session: Session, table: type):  # noqa: ANN202
    """INSERT for this session's dialect, which both offer ON CONFLICT on."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _ensure_customers(session: Session, customer_ids: set[str]) -> int:
    """Create the customers not yet known; returns how many were new."""
    if not customer_ids:
        return 0
    statement = _insert(session, Customer).on_conflict_do_nothing(index_elements=["id"])
    return len(session.execute(statement.returning(Customer.id), customer_rows(customer_ids)).all())


def identify(database_url: str, visitor_id: str, customer_id: str) -> bool:
    """Link a visitor id to a customer (the latest link wins); True when the customer is new."""
    with session_scope(database_url) as session:
        is_new = bool(_ensure_customers(session, {customer_id}))
        now = datetime.now(UTC)
        statement = _insert(session, Identity).values(
            visitor_id=visitor_id, customer_id=customer_id, linked_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["visitor_id"],
                set_={"customer_id": customer_id, "linked_at": now},
            )
        )
    return is_new
