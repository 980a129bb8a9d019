"""Receiving a survey response: validated, stored once, a retry told from a new answer."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Response
from shared.observability import count_ingested
from survey_service import lookups
from survey_service.errors import Conflict, Invalid
from survey_service.questions import score_columns, validate_answers
from survey_service.response_events import store_with_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseReceipt:
    response_id: str
    duplicate: bool


def body_hash(data: Mapping[str, Any]) -> str:
    """A stable digest of a validated request, to tell a retry from a different answer."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def add_response(
    database_url: str, site_id: int | None, data: Mapping[str, Any], max_text_length: int
) -> ResponseReceipt:
    """Store a survey response once. A retry with the same body is a duplicate; the same id
    with another body is a ``Conflict``. A filled honeypot is acknowledged and dropped."""
    response_id = str(data["response_id"])
    if data.get("website"):
        log.info("honeypot response dropped", extra={"survey_key": data["survey_key"]})
        return ResponseReceipt(response_id, duplicate=False)
    survey = lookups.survey(database_url, data["survey_key"])
    if survey is None:
        raise Invalid({"survey_key": ["No survey has this key."]})
    cleaned, errors = validate_answers(survey.questions, data["answers"], max_text_length)
    if errors:
        raise Invalid(errors)
    digest = body_hash({k: v for k, v in data.items() if k != "website"})
    now = datetime.now(UTC)
    row = {
        "response_id": response_id,
        "survey_id": survey.id,
        "survey_key": survey.key,
        "site_id": site_id,
        "customer_id": data.get("customer_id"),
        "visitor_id": data.get("visitor_id"),
        "stage": data.get("stage"),
        "cart_id": data.get("cart_id"),
        "order_id": data.get("order_id"),
        "locale": data.get("locale"),
        "answers": cleaned,
        **score_columns(survey.questions, cleaned),
        "body_hash": digest,
        "submitted_at": now,
        "received_at": now,
    }
    customers = {row["customer_id"]} if row["customer_id"] else set()
    # With its outbox events (response.received, .detractor) in the same transaction.
    if not store_with_events(database_url, Response.__table__, row, "response_id", customers):
        with session_scope(database_url) as session:
            existing = session.scalar(
                select(Response.body_hash).where(Response.response_id == response_id)
            )
        if existing != digest:
            raise Conflict(response_id)
        count_ingested("response", 0, 1)
        return ResponseReceipt(response_id, duplicate=True)
    count_ingested("response", 1, 0)
    log.info("response stored", extra={"survey_key": survey.key})
    return ResponseReceipt(response_id, duplicate=False)
