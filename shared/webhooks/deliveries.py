"""Webhook deliveries in the database: fan-out, claiming, results, listing and re-sending.

Every write that another worker may race (fan-out, claim, result) runs inside
``sqlite_write_lock`` on SQLite, whose writers queue there instead of failing on a stale read
snapshot; on PostgreSQL rows are picked ``FOR UPDATE SKIP LOCKED``. In both, a delivery is
claimed by a conditional UPDATE (still pending, still due), so two workers never hold it at once.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.db.session import get_engine, session_scope, sqlite_write_lock
from shared.db.tables import OutboxEvent, WebhookDelivery, WebhookEndpoint
from shared.errors import NotFound

STATUSES: tuple[str, ...] = ("pending", "delivered", "failed")
NO_DELIVERY = "No webhook delivery has this id."
# Retried for this long after a delivery is made (or re-sent), then marked failed.
RETRY_FOR = timedelta(days=1)
# Full jitter: the n-th retry waits a random time up to min(CAP, BASE * 2**n).
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
ERROR_LENGTH = 500
# At most this many deliveries of one endpoint per claim.
PER_ENDPOINT = 20
DELIVERY_FIELDS = (
    "id",
    "outbox_event_id",
    "endpoint_id",
    "event",
    "status",
    "attempts",
    "next_attempt_at",
    "retry_until",
    "last_attempt_at",
    "delivered_at",
    "last_status_code",
    "last_error",
    "response_excerpt",
    "created_at",
)


@contextmanager
def writing(database_url: str) -> Iterator[Session]:
    """A session for a write other workers may race (see the module docstring)."""
    with sqlite_write_lock(get_engine(database_url)), session_scope(database_url) as session:
        yield session


def _insert(session: Session):  # noqa: ANN202
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(WebhookDelivery.__table__)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def fan_out(database_url: str, now: datetime, max_batch: int) -> tuple[int, int]:
    """One delivery per undispatched outbox event and active endpoint subscribed to it;
    returns (events dispatched, deliveries made). Events no endpoint wants are dispatched
    with none. Safe to run in two workers at once: a delivery exists once per event and
    endpoint (unique index), and an event is dispatched once."""
    with writing(database_url) as session:
        query = (
            select(OutboxEvent.id, OutboxEvent.event)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(max_batch)
        )
        if _is_postgresql(session):
            query = query.with_for_update(skip_locked=True)
        events = session.execute(query).all()
        if not events:
            return 0, 0
        endpoints = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active)
        ).all()
        rows = [
            {
                "outbox_event_id": event_id,
                "endpoint_id": endpoint_id,
                "event": event,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "retry_until": now + RETRY_FOR,
                "created_at": now,
            }
            for event_id, event in events
            for endpoint_id, wanted in endpoints
            if event in (wanted or [])
        ]
        made = 0
        if rows:
            statement = _insert(session).on_conflict_do_nothing(
                index_elements=["outbox_event_id", "endpoint_id"]
            )
            made = session.connection().execute(statement, rows).rowcount
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([e.id for e in events]), OutboxEvent.dispatched_at.is_(None))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        return len(events), len(rows) if made < 0 else made


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until ``lease_until``: what to send, where, how signed."""

    id: int
    claim: str
    endpoint_id: int
    url: str
    secret_encrypted: str
    event: str
    body: bytes


def event_body(event: OutboxEvent) -> bytes:
    """What is POSTed for an event: the same bytes at every attempt."""
    document = {
        "event_id": event.id,
        "event": event.event,
        "occurred_at": event.created_at.isoformat(),
        "site_id": event.site_id,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def claim_due(
    database_url: str,
    now: datetime,
    max_batch: int,
    lease: timedelta,
    per_endpoint: int = PER_ENDPOINT,
) -> list[Claimed]:
    """Claim up to ``max_batch`` due deliveries of active endpoints, at most ``per_endpoint``
    of each (an endpoint with a long backlog does not crowd the others out), for ``lease``:
    each is moved past the lease and marked with this claim, so no other worker picks it
    meanwhile and only this worker may record its result. A worker that dies leaves it due
    again once the lease ends (receivers de-duplicate on Kundresa-Delivery)."""
    token = uuid.uuid4().hex
    with writing(database_url) as session:
        order = (WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        ranked = (
            select(
                WebhookDelivery.id,
                func.row_number()
                .over(partition_by=WebhookDelivery.endpoint_id, order_by=order)
                .label("rank"),
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.active,
            )
            .subquery()
        )
        # The rows are locked in an outer query: PostgreSQL locks none under a window function.
        due = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.id.in_(select(ranked.c.id).where(ranked.c.rank <= per_endpoint)))
            .order_by(*order)
            .limit(max_batch)
        )
        if _is_postgresql(session):
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if not ids:
            return []
        claimed = session.scalars(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(ids),
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(claim=token, next_attempt_at=now + lease)
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        ).all()
        if not claimed:
            return []
        found = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.event, WebhookEndpoint, OutboxEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
            .where(WebhookDelivery.id.in_(claimed))
            .order_by(WebhookDelivery.id)
        ).all()
        return [
            Claimed(
                id=delivery_id,
                claim=token,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret_encrypted=endpoint.secret_encrypted,
                event=event,
                body=event_body(outbox),
            )
            for delivery_id, event, endpoint, outbox in found
        ]


def release(database_url: str, items: list[Claimed], now: datetime) -> None:
    """Give back claimed deliveries that were not tried: due again at once, no attempt counted."""
    if not items:
        return
    with writing(database_url) as session:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_([i.id for i in items]),
                WebhookDelivery.claim == items[0].claim,
            )
            .values(claim=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Full jitter: a random wait up to min(cap, base * 2**(attempts - 1))."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempts - 1, 30))
    return timedelta(seconds=(rng or random).uniform(0, ceiling))


def record_result(
    database_url: str,
    claimed: Claimed,
    now: datetime,
    *,
    status_code: int | None,
    ok: bool,
    error: str | None,
    excerpt: str | None,
) -> str:
    """Store how an attempt went, if this worker still holds the claim; returns the new
    status ("delivered", "pending" to retry, "failed" after a day, or "lost" when the claim
    had passed to another worker)."""
    with writing(database_url) as session:
        delivery = session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == claimed.id, WebhookDelivery.claim == claimed.claim)
            .with_for_update()
        )
        if delivery is None:
            return "lost"
        delivery.attempts += 1
        delivery.claim = None
        delivery.last_attempt_at = now
        delivery.last_status_code = status_code
        delivery.last_error = error[:ERROR_LENGTH] if error else None
        delivery.response_excerpt = excerpt
        if ok:
            delivery.status = "delivered"
            delivery.delivered_at = now
        elif now >= delivery.retry_until:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        return delivery.status


def as_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in DELIVERY_FIELDS}


def list_deliveries(
    database_url: str,
    *,
    status: str | None = None,
    endpoint_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Deliveries, newest first, with how many match in all."""
    where = []
    if status:
        where.append(WebhookDelivery.status == status)
    if endpoint_id is not None:
        where.append(WebhookDelivery.endpoint_id == endpoint_id)
    with session_scope(database_url) as session:
        total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where))
        found = session.scalars(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [as_dict(d) for d in found], int(total or 0)


def resend(database_url: str, delivery_id: int, now: datetime) -> dict[str, Any]:
    """Send a delivery again (whatever its status), with another day of retries. It keeps
    its id, so a receiver that did get it can tell."""
    with writing(database_url) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound(NO_DELIVERY)
        delivery.status = "pending"
        delivery.next_attempt_at = now
        delivery.retry_until = now + RETRY_FOR
        delivery.claim = None
        session.flush()
        return as_dict(delivery)


def backlog(database_url: str, now: datetime) -> dict[str, Any]:
    """How many deliveries wait, and since when the oldest does (for monitoring)."""
    with session_scope(database_url) as session:
        count, oldest = session.execute(
            select(func.count(), func.min(WebhookDelivery.created_at)).where(
                WebhookDelivery.status == "pending"
            )
        ).one()
    return {"pending": int(count), "oldest_pending_created_at": oldest}
