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


class RelinkRefused(Exception):
    """The visitor is linked to another customer, and this call may not move it."""


def identify(database_url: str, visitor_id: str, customer_id: str, may_relink: bool) -> bool:
    """Link a visitor id to a customer; True when the customer is new.

    A visitor already linked to another customer moves to this one only when ``may_relink``
    (the shop's server, or a browser with the customer's signature); otherwise
    ``RelinkRefused`` is raised and nothing is written. One statement decides, so two calls
    racing cannot slip a re-link past the check.
    """
    with session_scope(database_url) as session:
        is_new = bool(_ensure_customers(session, {customer_id}))
        now = datetime.now(UTC)
        statement = _insert(session, Identity).values(
            visitor_id=visitor_id, customer_id=customer_id, linked_at=now
        )
        upsert = statement.on_conflict_do_update(
            index_elements=["visitor_id"],
            set_={"customer_id": customer_id, "linked_at": now},
            where=None if may_relink else Identity.customer_id == customer_id,
        )
        written = session.execute(upsert.returning(Identity.visitor_id)).first()
        if written is None:
            # Leaving the block by an exception rolls back the new customer too.
            raise RelinkRefused(visitor_id)
    return is_new
