"""``customer.risk_high`` / ``cart.risk_high``: a new score that crosses into the high band.

Written with the scores, in their transaction, and only for a customer (or cart) whose newest
score before this one was not high (or who had none): the nightly scoring of a customer who
stays high says nothing new, and would send a storm of the same news every night.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.tables import RiskScore
from shared.outbox import enqueue
from shared.tasks import task_by_name

HIGH = "high"
LOOKUP_SLICE = 500
EVENT_BY_ENTITY = {"customer": "customer.risk_high", "cart": "cart.risk_high"}


def _key_column(entity: str):  # noqa: ANN202
    return RiskScore.cart_id if entity == "cart" else RiskScore.customer_id


def _newest_bands(session: Session, task: str, entity: str, keys: list[str]) -> dict[str, str]:
    """The band of the newest stored score per key (customer id, or cart id for carts)."""
    column = _key_column(entity)
    bands: dict[str, str] = {}
    for start in range(0, len(keys), LOOKUP_SLICE):
        ranked = (
            select(
                column.label("key"),
                RiskScore.band,
                func.row_number()
                .over(partition_by=column, order_by=(RiskScore.as_of.desc(), RiskScore.id.desc()))
                .label("rank"),
            )
            .where(RiskScore.task == task, column.in_(keys[start : start + LOOKUP_SLICE]))
            .subquery()
        )
        newest = select(ranked.c.key, ranked.c.band).where(ranked.c.rank == 1)
        bands.update({key: band for key, band in session.execute(newest)})
    return bands


def announce_new_high_risk(session: Session, task: str, records: Iterable[dict[str, Any]]) -> int:
    """Enqueue an event for each record (about to be stored) that is high while its entity's
    newest stored score is not; returns how many. Call before the records are inserted."""
    entity = task_by_name(task).entity
    column = "cart_id" if entity == "cart" else "customer_id"
    high = [r for r in records if r.get("band") == HIGH and r.get(column)]
    if not high:
        return 0
    before = _newest_bands(session, task, entity, sorted({r[column] for r in high}))
    announced = 0
    for record in high:
        if before.get(record[column]) == HIGH:
            continue
        payload = {
            "task": task,
            "customer_id": record.get("customer_id"),
            "probability": round(float(record["probability"]), 4),
            "band": HIGH,
            "previous_band": before.get(record[column]),
            "value": record.get("value"),
            "model_version": record.get("model_version"),
            "as_of": record["as_of"].isoformat(),
        }
        if entity == "cart":
            payload |= {"cart_id": record["cart_id"], "visitor_id": record.get("visitor_id")}
        if record.get("customer_id"):
            payload["dashboard_path"] = "/dashboard/customers/" + quote(
                record["customer_id"], safe=""
            )
        enqueue(session, EVENT_BY_ENTITY[entity], payload)
        before[record[column]] = HIGH  # once per entity, even if it appears twice
        announced += 1
    return announced
