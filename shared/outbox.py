"""The transactional outbox: record an event in the caller's transaction (issue 15).

Callers pass the session that is storing the cause (a response, a score, a follow-up change),
so the event is committed or rolled back with it: no event without its cause, no cause without
its event. Delivering events to webhook endpoints is the worker's business, not the caller's.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.db.tables import OutboxEvent

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
    if event not in EVENTS:
        raise ValueError(f"unknown outbox event {event!r}")
    session.add(OutboxEvent(event=event, site_id=site_id, payload=payload))
