"""SQLAlchemy 2 tables for every service.

Client-made ids (``event_id``, ``response_id``) are primary keys, so a retried request can never
be stored twice: the database itself refuses the duplicate. Risk scores are history — a new
score is a new row, never an update.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend. SQLite keeps no zone, so a naive value read back
    is UTC by construction; a naive value written is taken to be UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


ID = String(64)


class Site(Base):
    """A web shop that embeds the survey widget, known by its publishable site key."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site_key: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Kept as is because it must verify signatures (shared.identity_signature); never logged.
    identity_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    # New sites refuse unsigned customer ids; sites made before secrets existed do not (0006).
    require_identity_signature: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=false()
    )
    # Survey fatigue across every survey, per person (see survey_service/eligibility.py);
    # 0 turns a limit off.
    global_cooldown_shown_days: Mapped[int] = mapped_column(
        Integer, default=14, server_default="14"
    )
    global_cooldown_answered_days: Mapped[int] = mapped_column(
        Integer, default=30, server_default="30"
    )
    max_surveys_per_period: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    period_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    # The shop's own admin page of a customer, e.g. https://shop.example/admin/customers/{id}
    # (http(s) and an {id} placeholder: shared.customer_links checks both).
    external_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # ISO 4217: the currency of the shop's prices, in which money is shown (0012).
    currency: Mapped[str] = mapped_column(String(3), default="SEK", server_default="SEK")


class ApiToken(Base):
    """A bearer token for the admin, support and ingest APIs; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class User(Base):
    """A dashboard user (support or admin) with a hashed password.

    ``session_version`` is written into every session cookie at sign-in and compared on each
    request: raising it (sign-out, a new password) ends every session of the user at once.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailure(Base):
    """Failed sign-ins counted under one key: a client address or an e-mail, as a digest
    (the table never holds an address or e-mail in the clear, nor says which accounts exist).

    The count is changed only by one atomic upsert, so parallel attempts cannot read the same
    old value; ``blocked_until`` is when the next attempt under this key is checked again.
    """

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column()
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    segment: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who the customer is (``kundresa import customers``): personal data, exported and erased
    # with the customer, shown only to signed-in users and never logged.
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    # The import file's other columns, kept as they were.
    attributes: Mapped[dict | None] = mapped_column(JSON, default=None)
    # The shop the customer belongs to, for the link into its admin (external_url).
    site_id: Mapped[int | None] = mapped_column(Integer, default=None)


class Identity(Base):
    """An anonymous visitor id (one browser or device) linked to a known customer."""

    __tablename__ = "identities"

    visitor_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ID, ForeignKey("customers.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyEvent(Base):
    """One thing a visitor or customer did. Purchases, refunds and carts are events too."""

    __tablename__ = "journey_events"

    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    customer_id: Mapped[str | None] = mapped_column(ID, default=None)
    visitor_id: Mapped[str | None] = mapped_column(ID, default=None, index=True)
    type: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str | None] = mapped_column(String(40), default=None)
    channel: Mapped[str | None] = mapped_column(String(40), default=None)
    product_category: Mapped[str | None] = mapped_column(String(80), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    cart_id: Mapped[str | None] = mapped_column(ID, default=None, index=True)
    order_id: Mapped[str | None] = mapped_column(ID, default=None)
    device: Mapped[str | None] = mapped_column(String(20), default=None)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    properties: Mapped[dict | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        Index("ix_journey_events_customer_time", "customer_id", "occurred_at"),
        # Covering: a report over a period reads these columns of every event in it from the
        # index alone, in time order (migration 0013 says how much that saves).
        Index(
            "ix_journey_events_period",
            "occurred_at",
            "customer_id",
            "visitor_id",
            "type",
            "stage",
            "channel",
            "product_category",
            "value",
            "cart_id",
        ),
    )


def _kind_priority(context) -> int:
    # Imported here: shared.surveys imports these tables.
    from shared.surveys import default_priority

    return default_priority(context.get_current_parameters().get("kind"))


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list] = mapped_column(JSON)
    texts: Mapped[dict] = mapped_column(JSON)
    trigger: Mapped[dict | None] = mapped_column(JSON, default=None)
    sampling_rate: Mapped[float] = mapped_column(Float, default=1.0)
    cooldown_days: Mapped[int] = mapped_column(Integer, default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When several surveys are due at the same moment, the highest priority wins.
    priority: Mapped[int] = mapped_column(Integer, default=_kind_priority, server_default="10")
    # The lifecycle (shared/survey_definitions.py): draft → published ⇄ paused → archived.
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class SurveyImpression(Base):
    """A survey offered to a visitor; the cooldown is measured from the latest one."""

    __tablename__ = "survey_impressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_key: Mapped[str] = mapped_column(String(80))
    visitor_id: Mapped[str] = mapped_column(ID)
    shown_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The funnel (shown → started → answered): where and on what it was shown, and when the
    # visitor first touched an answer (the widget says so once per impression).
    stage: Mapped[str | None] = mapped_column(String(40), default=None)
    device: Mapped[str | None] = mapped_column(String(20), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_survey_impressions_visitor", "visitor_id", "survey_key"),
        Index("ix_survey_impressions_time", "shown_at"),
    )


class Response(Base):
    """A survey response. Scores are kept in columns as well as in ``answers`` so that
    metrics and features are one vectorised query, not a JSON walk per row."""

    __tablename__ = "responses"

    response_id: Mapped[str] = mapped_column(ID, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    survey_key: Mapped[str] = mapped_column(String(80), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    customer_id: Mapped[str | None] = mapped_column(ID, default=None, index=True)
    visitor_id: Mapped[str | None] = mapped_column(ID, default=None, index=True)
    stage: Mapped[str | None] = mapped_column(String(40), default=None)
    cart_id: Mapped[str | None] = mapped_column(ID, default=None)
    order_id: Mapped[str | None] = mapped_column(ID, default=None)
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    answers: Mapped[dict] = mapped_column(JSON)
    nps: Mapped[int | None] = mapped_column(Integer, default=None)
    csat: Mapped[int | None] = mapped_column(Integer, default=None)
    ces: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(String(40), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    body_hash: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_responses_time", "submitted_at"),)


class RiskScore(Base):
    """One prediction, kept as history: a new score is a new row."""

    __tablename__ = "risk_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(30))
    # None for an anonymous visitor's cart: scored by visitor_id until the visitor identifies.
    customer_id: Mapped[str | None] = mapped_column(ID, default=None)
    visitor_id: Mapped[str | None] = mapped_column(ID, default=None)
    cart_id: Mapped[str | None] = mapped_column(ID, default=None)
    stage: Mapped[str | None] = mapped_column(String(40), default=None)
    segment: Mapped[str | None] = mapped_column(String(40), default=None)
    product_category: Mapped[str | None] = mapped_column(String(80), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    probability: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list | None] = mapped_column(JSON, default=None)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[datetime] = mapped_column()
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_risk_scores_task_asof", "task", "as_of"),
        Index("ix_risk_scores_customer", "customer_id", "task", "as_of"),
        # The newest score per customer and cart (dashboard aggregates): GROUP BY from the
        # index alone (measured: 448 -> 276 ms at 100,000 customers on SQLite).
        Index("ix_risk_scores_newest", "task", "customer_id", "cart_id", "as_of"),
        # The category filter's choices (model_service/dashboard/filters.py), read from it.
        Index("ix_risk_scores_category", "product_category"),
    )


# The rows the partial unique index covers: every case not yet resolved.
OPEN_FOLLOW_UP = "status <> 'resolved'"


class FollowUp(Base):
    """An at-risk customer taken by a support agent: open → contacted → resolved."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    task: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="open")
    assignee: Mapped[str] = mapped_column(String(254))
    risk_score_id: Mapped[int | None] = mapped_column(ForeignKey("risk_scores.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the case should be resolved by (model_service.working_days); overdue after it.
    due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)

    __table_args__ = (
        # One case still in progress per customer and task, kept by the database: two agents
        # taking the same customer at once cannot both succeed (checking first is a race).
        Index(
            "uq_follow_ups_open",
            "customer_id",
            "task",
            unique=True,
            sqlite_where=text(OPEN_FOLLOW_UP),
            postgresql_where=text(OPEN_FOLLOW_UP),
        ),
    )


class FollowUpNote(Base):
    """The history of a follow-up: every status change and note, by whom and when."""

    __tablename__ = "follow_up_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(ForeignKey("follow_ups.id"), index=True)
    author: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on the line that handed the case to someone else: to whom.
    assigned_to: Mapped[str | None] = mapped_column(String(254), default=None)


class PrivacyRequest(Base):
    """An audit line for each export or erasure of a customer's data.

    The customer is named by a keyed pseudonym (shared.pseudonyms), never by the raw id, so the
    record that an erasure happened does not itself keep the erased id. ``customer_id`` is only
    set on lines written before pseudonyms were (migration 0004); erasing the customer turns
    those into pseudonyms too.
    """

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ID, default=None)
    customer_digest: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityLink(Base):
    """The history of which customer a visitor id was linked to, and when.

    ``identities`` holds only the current link; this keeps every link ever made, so an erasure
    reaches a device that has since been linked to someone else. An open link has no
    ``unlinked_at``; moving a visitor id closes its open link and opens a new one.
    """

    __tablename__ = "identity_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visitor_id: Mapped[str] = mapped_column(ID, index=True)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    unlinked_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxEvent(Base):
    """Something that happened and that webhooks may need to hear about (issue 15).

    Written in the same transaction as what caused it, so an event exists exactly when its
    cause was stored; delivery to each endpoint is recorded separately by the webhook code.
    """

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    site_id: Mapped[str | None] = mapped_column(ID, default=None)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set once the event has been fanned out into one delivery per subscribed endpoint.
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class JobRun(Base):
    """One run of a scheduled job by ``kundresa worker`` (issue 15): when, by which worker,
    how it ended (ok, failed, or skipped because the job was still running elsewhere), a small
    JSON summary (rows scored, versions, drift figures) and the error's last line."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    worker: Mapped[str] = mapped_column(String(120))
    # The time the schedule said: runs of one time by two workers would share it.
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[str] = mapped_column(String(10), default="running")
    summary: Mapped[dict | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)


class JobLock(Base):
    """A lease on a job, so a job runs once at a time across every worker on the database.

    A worker takes it with one conditional UPDATE (free or expired, and not yet taken for this
    scheduled time), renews it while the job runs and lets go when it ends; a worker that died
    holding it loses it when the lease expires.
    """

    __tablename__ = "job_locks"

    job: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    # The scheduled time last taken: a second worker firing for the same time finds it taken
    # even when the first has already finished.
    last_scheduled_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookEndpoint(Base):
    """A receiver an admin registered: where to POST which events, signed with its secret.

    The secret signs every POST, so it must be readable by the sender: it is stored encrypted
    with a key derived from SECRET_KEY (shared.webhooks.secrets), never in the clear, and shown
    to the admin once, when it is made. ``secret_hint`` is its first characters, to tell
    secrets apart without revealing them.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One outbox event for one subscribed endpoint: pending → delivered, or failed after a day.

    A sender claims a due delivery by moving ``next_attempt_at`` past its own attempt (a lease)
    and writing its ``claim``; only the holder of the claim records the result, so two workers
    never send one delivery at once. Its id goes out as ``Kundresa-Delivery``: a receiver
    that sees an id twice (a crash after sending, a re-send) can drop the second.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    # Retried until then (a day after it was made or re-sent), then marked failed.
    retry_until: Mapped[datetime] = mapped_column()
    claim: Mapped[str | None] = mapped_column(String(32), default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    # The start of the receiver's answer, kept as text and shown escaped.
    response_excerpt: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # Fan-out by two workers at once makes one delivery per event and endpoint.
        Index(
            "uq_webhook_deliveries_event_endpoint", "outbox_event_id", "endpoint_id", unique=True
        ),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
