"""Linking a visitor id to a customer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import (
    Customer,
    Identity,
    IdentityLink,
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

    The link history (``identity_links``) is written in the same transaction: a new link opens
    a row, a moved one closes the old customer's row and opens one for the new customer, and a
    repeated link changes no history. A current link written without history (the synthetic
    data writes ``identities`` directly) enters the history when it moves.
    """
    with session_scope(database_url) as session:
        is_new = bool(_ensure_customers(session, {customer_id}))
        now = datetime.now(UTC)
        # The identity row stays locked until commit (FOR UPDATE, or for a new visitor id the
        # upsert's insert), so two links of one visitor id write their history one by one.
        current = session.execute(
            select(Identity.customer_id, Identity.linked_at)
            .where(Identity.visitor_id == visitor_id)
            .with_for_update()
        ).first()
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
        _record_link(session, visitor_id, customer_id, now, current)
    return is_new


def _record_link(
    session: Session, visitor_id: str, customer_id: str, now: datetime, current: Any
) -> None:
    open_links = IdentityLink.visitor_id == visitor_id, IdentityLink.unlinked_at.is_(None)
    linked_to = set(session.scalars(select(IdentityLink.customer_id).where(*open_links)))
    if current is not None and current.customer_id not in linked_to:
        session.add(
            IdentityLink(
                visitor_id=visitor_id, customer_id=current.customer_id, linked_at=current.linked_at
            )
        )
        session.flush()
        linked_to.add(current.customer_id)
    if linked_to == {customer_id}:
        return
    session.execute(
        update(IdentityLink)
        .where(*open_links, IdentityLink.customer_id != customer_id)
        .values(unlinked_at=now)
    )
    if customer_id not in linked_to:
        session.add(IdentityLink(visitor_id=visitor_id, customer_id=customer_id, linked_at=now))
