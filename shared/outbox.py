"""The transactional outbox: record an event in the caller's transaction (issue 15).

Callers pass the session that is storing the cause (a response, a score, a follow-up change),
so the event is committed or rolled back with it: no event without its cause, no cause without
its event. Delivering events to webhook endpoints is the worker's business, not the caller's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Text, cast, delete, or_, select
from sqlalchemy.orm import Session

from shared.db.tables import OutboxEvent, WebhookDelivery, utcnow

EVENTS: tuple[str, ...] = (
    "customer.risk_high",
    "cart.risk_high",
    "response.detractor",
    "response.received",
    "follow_up.changed",
    "model.promoted",
    "drift.detected",
)


def enqueue(session: Session, event: str, payload: dict, site_id: str | None = None) -> None:
    """Add ``event`` with a JSON-serialisable ``payload`` to the session's transaction.

    The payload carries ids and figures, never personal data such as names or e-mails: a
    receiver that needs them looks them up with its own credentials.
    """
    row = outbox_row(event, payload, site_id)  # refuses an unknown event first
    session.add(OutboxEvent(**row))


def outbox_row(event: str, payload: dict, site_id: str | None = None) -> dict:
    """The row ``enqueue`` adds, for a write path that inserts with SQLAlchemy Core in its own
    transaction (``insert(OutboxEvent.__table__)``): a hot path skips the ORM's flush."""
    if event not in EVENTS:
        raise ValueError(f"unknown outbox event {event!r}")
    return {"event": event, "site_id": site_id, "payload": payload, "created_at": utcnow()}


def erase_mentions(session: Session, ids: Iterable[str]) -> int:
    """Delete the events whose payload names any of ``ids`` (an erased customer's id, visitor
    ids, cart ids); their deliveries go with them. Returns how many events were deleted.

    Payloads are stored as JSON text on both databases (SQLAlchemy writes them with
    ``json.dumps``), so an id appears in it exactly as its JSON string, quotes included.
    """
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return 0
    text = cast(OutboxEvent.payload, Text)
    mentions = [text.like(f"%{_like_escaped(json.dumps(i))}%", escape="\\") for i in wanted]
    deleted = 0
    # In slices: one LIKE per id, and an erased customer may have many carts.
    for start in range(0, len(mentions), 200):
        ids_here = select(OutboxEvent.id).where(or_(*mentions[start : start + 200]))
        session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.outbox_event_id.in_(ids_here))
            .execution_options(synchronize_session=False)
        )
        deleted += session.execute(
            delete(OutboxEvent)
            .where(OutboxEvent.id.in_(ids_here))
            .execution_options(synchronize_session=False)
        ).rowcount
    return deleted


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
