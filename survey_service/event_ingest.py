"""Ingesting journey events sent by a shop."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.db.tables import JourneyEvent
from shared.observability import count_ingested
from survey_service.storage import store_new


def ingest_events(
    database_url: str, site_id: int | None, events: list[Mapping[str, Any]]
) -> tuple[int, int]:
    """Store a validated batch in one write; returns (accepted, duplicates).

    Duplicates are events whose ``event_id`` is already stored or repeats within the batch.
    """
    now = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        rows.setdefault(
            event["event_id"],
            {
                "event_id": event["event_id"],
                "site_id": site_id,
                "customer_id": event.get("customer_id"),
                "visitor_id": event.get("visitor_id"),
                "type": event["type"],
                "stage": event.get("stage"),
                "channel": event.get("channel"),
                "product_category": event.get("product_category"),
                "value": event.get("value"),
                "cart_id": event.get("cart_id"),
                "order_id": event.get("order_id"),
                "device": event.get("device"),
                "occurred_at": event["occurred_at"],
                "received_at": now,
                "properties": event.get("properties"),
            },
        )
    customers = {row["customer_id"] for row in rows.values() if row["customer_id"]}
    accepted = store_new(
        database_url, JourneyEvent.__table__, list(rows.values()), "event_id", customers
    )
    count_ingested("event", accepted, len(events) - accepted)
    return accepted, len(events) - accepted
