"""Everything held about one customer: exported on request, or erased.

The HTTP routes of these requests are in ``survey_service.privacy``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import (
    Customer,
    FollowUp,
    FollowUpNote,
    Identity,
    JourneyEvent,
    PrivacyRequest,
    Response,
    RiskScore,
    SurveyImpression,
)
from survey_service.errors import NotFound

log = logging.getLogger(__name__)


def _visitor_ids(session: Session, customer_id: str) -> set[str]:
    return set(
        session.scalars(select(Identity.visitor_id).where(Identity.customer_id == customer_id))
    )


def _about(column_customer, column_visitor, customer_id: str, visitors: set[str]):  # noqa: ANN001, ANN202
    """Rows that name the customer or one of their visitor ids."""
    if column_visitor is None or not visitors:
        return column_customer == customer_id
    return or_(column_customer == customer_id, column_visitor.in_(visitors))


def _plain(row: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """A row as JSON-ready values (times in ISO 8601)."""
    values = {name: getattr(row, name) for name in columns}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _columns(table: type) -> tuple[str, ...]:
    return tuple(column.key for column in table.__table__.columns)


def export_customer(database_url: str, customer_id: str, requested_by: str) -> dict[str, Any]:
    """Everything held about one customer; logged as a privacy request."""
    with session_scope(database_url) as session:
        visitors = _visitor_ids(session, customer_id)
        customer = session.get(Customer, customer_id)

        def rows(table: type, customer_column, visitor_column=None) -> list[dict]:  # noqa: ANN001
            where = _about(customer_column, visitor_column, customer_id, visitors)
            return [_plain(r, _columns(table)) for r in session.scalars(select(table).where(where))]

        follow_ups = rows(FollowUp, FollowUp.customer_id)
        notes = session.scalars(
            select(FollowUpNote).where(FollowUpNote.follow_up_id.in_([f["id"] for f in follow_ups]))
        )
        notes_by_follow_up: dict[int, list[dict]] = {}
        for note in notes:
            notes_by_follow_up.setdefault(note.follow_up_id, []).append(
                _plain(note, _columns(FollowUpNote))
            )
        for follow_up in follow_ups:
            follow_up["notes"] = notes_by_follow_up.get(follow_up["id"], [])
        export = {
            "customer_id": customer_id,
            "exported_at": datetime.now(UTC),
            "customer": _plain(customer, _columns(Customer)) if customer else None,
            "identities": rows(Identity, Identity.customer_id),
            "events": rows(JourneyEvent, JourneyEvent.customer_id, JourneyEvent.visitor_id),
            "responses": rows(Response, Response.customer_id, Response.visitor_id),
            "survey_impressions": [
                _plain(r, _columns(SurveyImpression))
                for r in session.scalars(
                    select(SurveyImpression).where(SurveyImpression.visitor_id.in_(visitors))
                )
            ]
            if visitors
            else [],
            "risk_scores": rows(RiskScore, RiskScore.customer_id),
            "follow_ups": follow_ups,
            "privacy_requests": rows(PrivacyRequest, PrivacyRequest.customer_id),
        }
        held = [k for k, v in export.items() if v and k not in {"customer_id", "exported_at"}]
        if not held:
            raise NotFound(customer_id)
        session.add(
            PrivacyRequest(customer_id=customer_id, kind="export", requested_by=requested_by)
        )
    return export


def erase_customer(database_url: str, customer_id: str, requested_by: str) -> dict[str, Any]:
    """Erase one customer, keeping survey aggregates correct.

    Events, identities, impressions, risk scores, follow-ups and the customer row are deleted.
    Responses are anonymised in place instead of deleted: every id, the free text, the locale
    and the exact time go (a new random response id, the date kept to the day), and only the
    scores and the fixed abandonment reason stay, so NPS/CSAT/CES and reason counts per survey,
    stage and period do not change. The erasure itself is logged in ``privacy_requests``.
    """
    with session_scope(database_url) as session:
        visitors = _visitor_ids(session, customer_id)
        counts: dict[str, Any] = {"customer_id": customer_id}
        counts["events"] = session.execute(
            delete(JourneyEvent).where(
                _about(JourneyEvent.customer_id, JourneyEvent.visitor_id, customer_id, visitors)
            )
        ).rowcount
        responses = session.execute(
            select(
                Response.response_id,
                Response.submitted_at,
                Response.nps,
                Response.csat,
                Response.ces,
                Response.reason,
            ).where(_about(Response.customer_id, Response.visitor_id, customer_id, visitors))
        ).all()
        for response in responses:
            _anonymise(session, response)
        counts["responses_anonymised"] = len(responses)
        counts["survey_impressions"] = (
            session.execute(
                delete(SurveyImpression).where(SurveyImpression.visitor_id.in_(visitors))
            ).rowcount
            if visitors
            else 0
        )
        follow_up_ids = select(FollowUp.id).where(FollowUp.customer_id == customer_id)
        session.execute(delete(FollowUpNote).where(FollowUpNote.follow_up_id.in_(follow_up_ids)))
        counts["follow_ups"] = session.execute(
            delete(FollowUp).where(FollowUp.customer_id == customer_id)
        ).rowcount
        counts["risk_scores"] = session.execute(
            delete(RiskScore).where(RiskScore.customer_id == customer_id)
        ).rowcount
        counts["identities"] = session.execute(
            delete(Identity).where(Identity.customer_id == customer_id)
        ).rowcount
        counts["customer"] = session.execute(
            delete(Customer).where(Customer.id == customer_id)
        ).rowcount
        session.add(
            PrivacyRequest(customer_id=customer_id, kind="erase", requested_by=requested_by)
        )
    log.info("customer erased", extra={k: v for k, v in counts.items() if k != "customer_id"})
    return counts


def _anonymise(session: Session, response: Any) -> None:
    day = response.submitted_at.replace(hour=0, minute=0, second=0, microsecond=0)
    scores = {
        name: getattr(response, name)
        for name in ("nps", "csat", "ces", "reason")
        if getattr(response, name) is not None
    }
    new_id = str(uuid.uuid4())
    session.execute(
        update(Response)
        .where(Response.response_id == response.response_id)
        .values(
            response_id=new_id,
            customer_id=None,
            visitor_id=None,
            site_id=None,
            cart_id=None,
            order_id=None,
            locale=None,
            comment=None,
            answers=scores,
            body_hash=hashlib.sha256(new_id.encode()).hexdigest(),
            submitted_at=day,
            received_at=day,
        )
        .execution_options(synchronize_session=False)
    )
