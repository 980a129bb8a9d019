"""The survey service's use cases, one function each; views translate HTTP to these and back.

Failures a caller can act on are exceptions carrying field errors (``Invalid``), or
``Conflict`` / ``NotFound``; nothing here knows about Flask.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import errors as domain_errors
from shared import metrics
from shared.db.session import session_factory, session_scope
from shared.db.tables import (
    Customer,
    FollowUp,
    FollowUpNote,
    Identity,
    JourneyEvent,
    PrivacyRequest,
    Response,
    RiskScore,
    Survey,
    SurveyImpression,
)
from shared.schemas.surveys import SurveyCreateSchema
from survey_service import lookups
from survey_service.questions import score_columns, validate_answers
from survey_service.storage import customer_rows, store_new

log = logging.getLogger(__name__)

# Rows fetched per round trip when streaming exports and metrics.
STREAM_BATCH = 1000


class Invalid(domain_errors.Invalid):
    """Input that passed the schema but breaks a rule; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors=errors)


class Conflict(domain_errors.Conflict):
    """``detail`` names what is taken; the view words the refusal for its caller."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class NotFound(domain_errors.NotFound):
    """``detail`` names what is missing; the view words the refusal for its caller."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


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


# --- responses ---------------------------------------------------------------------------


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
    if not store_new(database_url, Response.__table__, [row], "response_id", customers):
        with session_scope(database_url) as session:
            existing = session.scalar(
                select(Response.body_hash).where(Response.response_id == response_id)
            )
        if existing != digest:
            raise Conflict(response_id)
        return ResponseReceipt(response_id, duplicate=True)
    log.info("response stored", extra={"survey_key": survey.key})
    return ResponseReceipt(response_id, duplicate=False)


# --- events and identities ---------------------------------------------------------------


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
    return accepted, len(events) - accepted


def identify(database_url: str, visitor_id: str, customer_id: str) -> bool:
    """Link a visitor id to a customer (the latest link wins); True when the customer is new."""
    with session_scope(database_url) as session:
        is_new = bool(_ensure_customers(session, {customer_id}))
        now = datetime.now(UTC)
        statement = _insert(session, Identity).values(
            visitor_id=visitor_id, customer_id=customer_id, linked_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["visitor_id"],
                set_={"customer_id": customer_id, "linked_at": now},
            )
        )
    return is_new


# --- eligibility ---------------------------------------------------------------------------


def sampling_bucket(survey_key: str, visitor_id: str) -> float:
    """A number in [0, 1) fixed for one visitor and survey, so sampling never flip-flops."""
    digest = hashlib.sha256(f"{survey_key}\x1f{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_eligibility(
    database_url: str, survey: lookups.SurveyInfo, visitor_id: str, now: datetime | None = None
) -> tuple[bool, str]:
    """May this visitor be offered this survey now? Offering starts the cooldown.

    The cooldown covers every device of a known customer: a visitor linked to a customer is
    not asked again on their phone after answering on their laptop.
    """
    if not survey.active:
        return False, "inactive"
    if sampling_bucket(survey.key, visitor_id) >= survey.sampling_rate:
        return False, "sampled_out"
    now = now or datetime.now(UTC)
    with session_scope(database_url) as session:
        customer_id = session.scalar(
            select(Identity.customer_id).where(Identity.visitor_id == visitor_id)
        )
        visitors = {visitor_id}
        if customer_id is not None:
            visitors |= set(
                session.scalars(
                    select(Identity.visitor_id).where(Identity.customer_id == customer_id)
                )
            )
        if survey.cooldown_days > 0:
            recent = session.scalar(
                select(func.count())
                .select_from(SurveyImpression)
                .where(
                    SurveyImpression.survey_key == survey.key,
                    SurveyImpression.visitor_id.in_(visitors),
                    SurveyImpression.shown_at > now - timedelta(days=survey.cooldown_days),
                )
            )
            if recent:
                return False, "cooldown"
        session.add(SurveyImpression(survey_key=survey.key, visitor_id=visitor_id, shown_at=now))
    return True, "ok"


# --- surveys (admin) ---------------------------------------------------------------------

SURVEY_FIELDS = (
    "kind",
    "name",
    "questions",
    "texts",
    "trigger",
    "sampling_rate",
    "cooldown_days",
    "active",
)


def survey_record(row: Survey) -> dict[str, Any]:
    return {
        "key": row.key,
        **{name: getattr(row, name) for name in SURVEY_FIELDS},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def list_surveys(database_url: str) -> list[dict[str, Any]]:
    with session_scope(database_url) as session:
        return [survey_record(s) for s in session.scalars(select(Survey).order_by(Survey.key))]


def get_survey(database_url: str, key: str) -> dict[str, Any]:
    with session_scope(database_url) as session:
        row = session.scalars(select(Survey).where(Survey.key == key)).first()
        if row is None:
            raise NotFound(key)
        return survey_record(row)


def create_survey(database_url: str, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        with session_scope(database_url) as session:
            if session.scalar(select(Survey.id).where(Survey.key == data["key"])) is not None:
                raise Conflict(data["key"])
            row = Survey(**data)
            session.add(row)
            session.flush()
            record = survey_record(row)
    except IntegrityError as exc:  # the same key created at the same moment elsewhere
        raise Conflict(data["key"]) from exc
    lookups.forget()
    return record


def update_survey(database_url: str, key: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial change; the merged survey must be valid as a whole."""
    with session_scope(database_url) as session:
        row = session.scalars(select(Survey).where(Survey.key == key)).first()
        if row is None:
            raise NotFound(key)
        merged = {"key": row.key, **{n: getattr(row, n) for n in SURVEY_FIELDS}, **patch}
        errors = SurveyCreateSchema().validate(merged)
        if errors:
            raise Invalid(errors)
        for name, value in SurveyCreateSchema().load(merged).items():
            if name != "key":
                setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        session.flush()
        record = survey_record(row)
    lookups.forget()
    return record


# --- responses (admin) -------------------------------------------------------------------

RESPONSE_COLUMNS = (
    "response_id",
    "survey_key",
    "customer_id",
    "visitor_id",
    "stage",
    "cart_id",
    "order_id",
    "locale",
    "answers",
    "nps",
    "csat",
    "ces",
    "reason",
    "comment",
    "submitted_at",
    "received_at",
)


def response_record(row: Response) -> dict[str, Any]:
    return {name: getattr(row, name) for name in RESPONSE_COLUMNS}


def _filtered(statement: Select, filters: Mapping[str, Any]) -> Select:
    for name in ("survey_key", "stage", "customer_id", "visitor_id"):
        if filters.get(name) is not None:
            statement = statement.where(getattr(Response, name) == filters[name])
    if filters.get("since") is not None:
        statement = statement.where(Response.submitted_at >= filters["since"])
    if filters.get("until") is not None:
        statement = statement.where(Response.submitted_at < filters["until"])
    return statement


def list_responses(
    database_url: str, filters: Mapping[str, Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    statement = _filtered(select(Response), filters).order_by(
        Response.submitted_at.desc(), Response.response_id
    )
    with session_scope(database_url) as session:
        rows = session.scalars(statement.limit(limit).offset(offset))
        return [response_record(row) for row in rows]


def iter_responses(database_url: str, filters: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every matching response, oldest first, fetched in batches (never the whole table)."""
    statement = _filtered(select(Response), filters).order_by(
        Response.submitted_at, Response.response_id
    )
    session = session_factory(database_url)()
    try:
        for row in session.scalars(statement.execution_options(yield_per=STREAM_BATCH)):
            yield response_record(row)
    finally:
        session.close()


def survey_metrics(
    database_url: str, filters: Mapping[str, Any], period: str
) -> list[dict[str, Any]]:
    """NPS, CSAT, CES, count and top reasons per survey, stage and period."""
    statement = _filtered(
        select(
            Response.survey_key,
            Response.stage,
            Response.submitted_at,
            Response.nps,
            Response.csat,
            Response.ces,
            Response.reason,
        ),
        filters,
    )
    groups: dict[tuple, dict[str, list]] = {}
    with session_scope(database_url) as session:
        for row in session.execute(statement.execution_options(yield_per=STREAM_BATCH)):
            key = (row.survey_key, row.stage, metrics.period_start(row.submitted_at, period))
            group = groups.setdefault(key, {"nps": [], "csat": [], "ces": [], "reason": []})
            for name in ("nps", "csat", "ces", "reason"):
                group[name].append(getattr(row, name))
    return [
        {
            "survey_key": survey_key,
            "stage": stage,
            "period_start": start,
            "responses": len(values["nps"]),
            "nps": metrics.nps(values["nps"]),
            "csat": metrics.csat(values["csat"]),
            "ces": metrics.ces(values["ces"]),
            "top_reasons": [
                {"reason": reason, "count": count}
                for reason, count in metrics.top_reasons(values["reason"])
            ],
        }
        for (survey_key, stage, start), values in sorted(
            groups.items(), key=lambda item: tuple("" if v is None else str(v) for v in item[0])
        )
    ]


# --- privacy -------------------------------------------------------------------------------


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
