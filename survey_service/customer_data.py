"""Everything held about one customer: exported on request, or erased.

Whose rows are whose. A customer's visitor ids are every visitor id ever linked to them: the
link history, the current links, and the visitor ids on events, responses and risk scores that
name them. A row is the customer's when it names the customer, or names none but carries one
of their visitor ids, or names none but one of their carts (an anonymous visitor's cart). A row
that names ANOTHER customer but carries one of these visitor ids (a device later linked to
someone else) is that other customer's: it is not exported, and an erasure keeps it but takes
the visitor id off it. An export lists exactly what an erasure removes or anonymises, so it
can show a later user's anonymous visits on a shared device: those go with the device.

The HTTP routes of these requests are in ``survey_service.privacy``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, update
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import (
    Customer,
    FollowUp,
    FollowUpNote,
    Identity,
    IdentityLink,
    JourneyEvent,
    PrivacyRequest,
    Response,
    RiskScore,
    SurveyImpression,
)
from shared.outbox import erase_mentions
from shared.pseudonyms import keyed_digest
from shared.settings import Settings
from survey_service.errors import NotFound

log = logging.getLogger(__name__)

# What the model training artifacts hold about a customer (stated in every export).
MODEL_ARTIFACTS = (
    "Model training artifacts hold no raw customer or visitor ids: "
    "evaluation rows are stored under keyed pseudonyms."
)

# Tables whose rows carry a customer id, a visitor id and a cart id.
_JOURNEY_TABLES = (JourneyEvent, Response, RiskScore)


@dataclass(frozen=True)
class _Subject:
    """One customer and every visitor id and cart that are theirs."""

    customer_id: str
    visitors: frozenset[str]
    carts: frozenset[str]

    def owns(self, table: type) -> ColumnElement[bool]:
        """Rows of ``table`` (one of _JOURNEY_TABLES) that are this customer's."""
        anonymous = table.customer_id.is_(None)
        return or_(
            table.customer_id == self.customer_id,
            and_(anonymous, _in(table.visitor_id, self.visitors)),
            and_(anonymous, _in(table.cart_id, self.carts)),
        )

    def on_others(self, table: type) -> ColumnElement[bool]:
        """Rows of ``table`` naming another customer but carrying one of these visitor ids."""
        return and_(
            table.customer_id.is_not(None),
            table.customer_id != self.customer_id,
            _in(table.visitor_id, self.visitors),
        )


def _in(column, values: Iterable[str]) -> ColumnElement[bool]:  # noqa: ANN001
    values = sorted(values)
    return column.in_(values) if values else false()


def _subject(session: Session, customer_id: str) -> _Subject:
    visitors = set(
        session.scalars(
            select(IdentityLink.visitor_id).where(IdentityLink.customer_id == customer_id)
        )
    )
    visitors |= set(
        session.scalars(select(Identity.visitor_id).where(Identity.customer_id == customer_id))
    )
    for table in _JOURNEY_TABLES:
        visitors |= set(
            session.scalars(
                select(table.visitor_id)
                .where(table.customer_id == customer_id, table.visitor_id.is_not(None))
                .distinct()
            )
        )
    without_carts = _Subject(customer_id, frozenset(visitors), frozenset())
    carts: set[str] = set()
    for table in _JOURNEY_TABLES:
        carts |= set(
            session.scalars(
                select(table.cart_id)
                .where(without_carts.owns(table), table.cart_id.is_not(None))
                .distinct()
            )
        )
    return _Subject(customer_id, frozenset(visitors), frozenset(carts))


def _privacy_requests_of(customer_id: str, digest: str) -> ColumnElement[bool]:
    # Lines written before pseudonyms (migration 0004) still hold the raw id.
    return or_(PrivacyRequest.customer_digest == digest, PrivacyRequest.customer_id == customer_id)


def _plain(row: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """A row as JSON-ready values (times in ISO 8601)."""
    values = {name: getattr(row, name) for name in columns}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _columns(table: type) -> tuple[str, ...]:
    return tuple(column.key for column in table.__table__.columns)


def export_customer(settings: Settings, customer_id: str, requested_by: str) -> dict[str, Any]:
    """Everything held about one customer; logged as a privacy request.

    The customer's visitor ids, their current and past links, events, responses, survey
    impressions, risk scores (their own and their anonymous carts'), follow-ups with notes, the
    privacy requests about them, and what the model artifacts hold (``models``).
    """
    digest = keyed_digest(settings.secret_key, customer_id)
    with session_scope(settings.database_url) as session:
        subject = _subject(session, customer_id)
        customer = session.get(Customer, customer_id)

        def rows(table: type, where: ColumnElement[bool]) -> list[dict]:
            found = session.scalars(
                select(table).where(where).order_by(*table.__table__.primary_key)
            )
            return [_plain(r, _columns(table)) for r in found]

        follow_ups = rows(FollowUp, FollowUp.customer_id == customer_id)
        notes = session.scalars(
            select(FollowUpNote)
            .where(FollowUpNote.follow_up_id.in_([f["id"] for f in follow_ups]))
            .order_by(FollowUpNote.id)
        )
        notes_by_follow_up: dict[int, list[dict]] = {}
        for note in notes:
            notes_by_follow_up.setdefault(note.follow_up_id, []).append(
                _plain(note, _columns(FollowUpNote))
            )
        for follow_up in follow_ups:
            follow_up["notes"] = notes_by_follow_up.get(follow_up["id"], [])
        held = {
            "customer": _plain(customer, _columns(Customer)) if customer else None,
            "identities": rows(Identity, Identity.customer_id == customer_id),
            "identity_links": rows(IdentityLink, IdentityLink.customer_id == customer_id),
            "events": rows(JourneyEvent, subject.owns(JourneyEvent)),
            "responses": rows(Response, subject.owns(Response)),
            "survey_impressions": rows(
                SurveyImpression, _in(SurveyImpression.visitor_id, subject.visitors)
            ),
            "risk_scores": rows(RiskScore, subject.owns(RiskScore)),
            "follow_ups": follow_ups,
            "privacy_requests": rows(PrivacyRequest, _privacy_requests_of(customer_id, digest)),
        }
        if not any(held.values()):
            raise NotFound(customer_id)
        session.add(
            PrivacyRequest(customer_digest=digest, kind="export", requested_by=requested_by)
        )
    return {
        "customer_id": customer_id,
        "exported_at": datetime.now(UTC),
        "visitor_ids": sorted(subject.visitors),
        **held,
        "models": MODEL_ARTIFACTS,
    }


def erase_customer(settings: Settings, customer_id: str, requested_by: str) -> dict[str, Any]:
    """Erase one customer everywhere, keeping survey aggregates correct.

    The customer's rows (see the module docstring) are deleted: events, survey impressions,
    risk scores (anonymous cart scores too), follow-ups with their notes, current links, link
    history and the customer row. Responses are anonymised in place instead: every id, the free
    text, the locale and the exact time go (a new random response id, the date kept to the
    day), and only the scores and the fixed abandonment reason stay, so NPS/CSAT/CES and reason
    counts per survey, stage and period do not change.

    A device of this customer that was later linked to another customer is gone too: no table
    keeps its visitor id. Its events and responses that name no customer cannot be told apart
    from this customer's and are erased with them; the other customer's link to it, current
    (``links_of_other_customers``) and past, is deleted; rows that name the other customer keep
    everything but the visitor id (``rows_of_other_customers_detached``).

    The erasure is logged in ``privacy_requests`` under a keyed pseudonym of the id, and older
    lines about this customer that still hold the raw id are turned into that pseudonym.
    """
    digest = keyed_digest(settings.secret_key, customer_id)
    with session_scope(settings.database_url) as session:
        subject = _subject(session, customer_id)
        counts: dict[str, Any] = {"customer_id": customer_id}
        counts["events"] = _delete(session, JourneyEvent, subject.owns(JourneyEvent))
        responses = session.execute(
            select(
                Response.response_id,
                Response.submitted_at,
                Response.nps,
                Response.csat,
                Response.ces,
                Response.reason,
            ).where(subject.owns(Response))
        ).all()
        for response in responses:
            _anonymise(session, response)
        counts["responses_anonymised"] = len(responses)
        counts["survey_impressions"] = _delete(
            session, SurveyImpression, _in(SurveyImpression.visitor_id, subject.visitors)
        )
        follow_up_ids = select(FollowUp.id).where(FollowUp.customer_id == customer_id)
        session.execute(delete(FollowUpNote).where(FollowUpNote.follow_up_id.in_(follow_up_ids)))
        counts["follow_ups"] = _delete(session, FollowUp, FollowUp.customer_id == customer_id)
        erased_scores = select(RiskScore.id).where(subject.owns(RiskScore))
        # Another customer's follow-up may point at an anonymous cart's score erased here.
        session.execute(
            update(FollowUp)
            .where(FollowUp.risk_score_id.in_(erased_scores))
            .values(risk_score_id=None)
            .execution_options(synchronize_session=False)
        )
        counts["risk_scores"] = _delete(session, RiskScore, subject.owns(RiskScore))
        counts["rows_of_other_customers_detached"] = sum(
            session.execute(
                update(table)
                .where(subject.on_others(table))
                .values(visitor_id=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            for table in _JOURNEY_TABLES
        )
        counts["identities"] = _delete(session, Identity, Identity.customer_id == customer_id)
        counts["links_of_other_customers"] = _delete(
            session, Identity, _in(Identity.visitor_id, subject.visitors)
        )
        counts["identity_links"] = _delete(
            session,
            IdentityLink,
            or_(
                IdentityLink.customer_id == customer_id,
                _in(IdentityLink.visitor_id, subject.visitors),
            ),
        )
        counts["customer"] = _delete(session, Customer, Customer.id == customer_id)
        counts["outbox_events"] = erase_mentions(
            session, {customer_id, *subject.visitors, *subject.carts}
        )
        session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.customer_id == customer_id)
            .values(customer_id=None, customer_digest=digest)
            .execution_options(synchronize_session=False)
        )
        session.add(PrivacyRequest(customer_digest=digest, kind="erase", requested_by=requested_by))
    log.info("customer erased", extra={k: v for k, v in counts.items() if k != "customer_id"})
    return counts


def _delete(session: Session, table: type, where: ColumnElement[bool]) -> int:
    return session.execute(
        delete(table).where(where).execution_options(synchronize_session=False)
    ).rowcount


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
