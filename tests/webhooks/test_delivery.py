"""Webhooks against real receivers on loopback: signed, retried while a receiver is down and
delivered once it is back, each exactly once, slow receivers not holding up others, and two
workers never sending one delivery twice."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from model_service.risk_events import announce_new_high_risk
from shared.db.session import session_scope
from shared.db.tables import OutboxEvent, RiskScore, WebhookDelivery
from shared.outbox import enqueue
from shared.settings import Settings
from shared.tasks import BRAND_SWITCH as BRAND_SWITCH_TASK
from shared.webhooks import signing
from shared.webhooks.deliveries import fan_out
from shared.webhooks.delivery import deliver_due
from shared.webhooks.endpoints import create_endpoint, update_endpoint
from survey_service.responses import add_response

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BRAND_SWITCH = BRAND_SWITCH_TASK.name


def _endpoint(settings: Settings, url: str, events: list[str]) -> str:
    _endpoint_row, secret = create_endpoint(
        settings, url=url, events=events, created_by="test-admin"
    )
    return secret


def _answer(settings: Settings, nps: int, customer: str = "c-1") -> str:
    body = {
        "response_id": str(uuid.uuid4()),
        "survey_key": "post_purchase",
        "visitor_id": "v-1",
        "customer_id": customer,
        "stage": "purchase",
        "answers": {"csat": 2, "ces": 3, "nps": nps, "comment": "Never again"},
    }
    return add_response(settings.database_url, None, body, 2000).response_id


def _verified(secret: str, received) -> bool:  # noqa: ANN001
    return signing.verify(
        secret,
        received.headers["Kundresa-Timestamp"],
        received.body,
        received.headers["Kundresa-Signature"],
        int(time.time()),
    )


def test_a_detractor_answer_is_one_signed_delivery_that_verifies(
    settings, receivers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = receivers()
    secret = _endpoint(settings, receiver.url, ["response.detractor"])
    response_id = _answer(settings, nps=3)
    _answer(settings, nps=9)  # a promoter: received, but no detractor

    summary = deliver_due(settings, now=NOW)

    assert summary["delivered"] == 1
    [got] = receiver.received
    assert got.headers["Kundresa-Event"] == "response.detractor"
    assert _verified(secret, got)
    assert not _verified("whsec_another", got)
    document = json.loads(got.body)
    assert document["data"]["response_id"] == response_id
    assert document["data"]["nps"] == 3
    assert "Never again" not in got.body.decode()  # free text stays home
    assert deliver_due(settings, now=NOW + timedelta(hours=1))["attempts"] == 0
    assert len(receiver.received) == 1
    assert "webhooks delivered" in caplog.text
    assert secret not in caplog.text  # secrets are never logged


def test_a_response_and_its_events_are_one_transaction(settings) -> None:
    """A retry of the same response stores nothing new, events included."""
    body = {
        "response_id": str(uuid.uuid4()),
        "survey_key": "post_purchase",
        "visitor_id": "v-9",
        "answers": {"csat": 1, "ces": 1, "nps": 0},
    }
    add_response(settings.database_url, None, body, 2000)
    assert add_response(settings.database_url, None, body, 2000).duplicate
    with session_scope(settings.database_url) as session:
        events = session.scalars(select(OutboxEvent.event).order_by(OutboxEvent.id)).all()
    assert events == ["response.received", "response.detractor"]


def _scores(settings: Settings, band: str, as_of: datetime, customers: list[str]) -> None:
    """What score_all does with one chunk: announce, then insert, in one transaction."""
    records = [
        {
            "task": BRAND_SWITCH,
            "customer_id": customer,
            "visitor_id": None,
            "cart_id": None,
            "stage": "loyalty",
            "segment": "regular",
            "product_category": None,
            "value": 420.0,
            "probability": 0.91 if band == "high" else 0.2,
            "band": band,
            "reasons": [],
            "model_name": "kundresa-brand-switch",
            "model_version": "7",
            "as_of": as_of,
            "scored_at": as_of,
        }
        for customer in customers
    ]
    with session_scope(settings.database_url) as session:
        announce_new_high_risk(session, BRAND_SWITCH, records)
        session.execute(insert(RiskScore), records)


def test_a_customer_crossing_into_high_risk_is_one_signed_delivery(settings, receivers) -> None:
    receiver = receivers()
    secret = _endpoint(settings, receiver.url, ["customer.risk_high", "cart.risk_high"])
    _scores(settings, "low", NOW - timedelta(days=2), ["c-was-low", "c-was-high"])
    _scores(settings, "high", NOW - timedelta(days=1), ["c-was-high"])
    deliver_due(settings, now=NOW - timedelta(days=1))
    receiver.received.clear()

    # The nightly scoring: one crosses into high, one stays high, one stays low.
    _scores(settings, "high", NOW, ["c-was-low", "c-was-high"])
    _scores(settings, "low", NOW, ["c-stays-low"])
    deliver_due(settings, now=NOW)

    [got] = receiver.received
    assert got.headers["Kundresa-Event"] == "customer.risk_high"
    assert _verified(secret, got)
    assert b'"customer_id":"c-was-low"' in got.body
    assert b'"previous_band":"low"' in got.body


def _pending_ids(settings: Settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        return list(
            session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending"))
        )


@sqlite_only  # the same logic on both; PostgreSQL runs the races above
def test_a_receiver_down_for_an_hour_gets_everything_once_when_back(settings, receivers) -> None:
    receiver = receivers()
    _endpoint(settings, receiver.url, ["response.received"])
    receiver.stop()
    for nps in (1, 5, 8, 10):
        _answer(settings, nps=nps)

    first = deliver_due(settings, now=NOW)
    assert first["deliveries_made"] == 4 and first["retrying"] == 4
    # Down for an hour: every round while it is down, what is due waits again.
    now = NOW
    for _minute in range(0, 60, 10):
        now += timedelta(minutes=10)
        assert deliver_due(settings, now=now)["delivered"] == 0
    assert len(_pending_ids(settings)) == 4

    receiver.start()
    for _round in range(3):
        now += timedelta(hours=2)  # past the longest backoff: everything is due
        deliver_due(settings, now=now)
    assert sorted(receiver.deliveries()) == sorted(str(i) for i in range(1, 5))
    assert len(receiver.received) == 4  # each exactly once
    assert _pending_ids(settings) == []


@sqlite_only  # the same logic on both; PostgreSQL runs the races above
def test_after_a_day_of_failures_a_delivery_is_failed(settings, receivers) -> None:
    receiver = receivers()
    receiver.status = 500
    receiver.reply = b"<script>alert(1)</script>"
    _endpoint(settings, receiver.url, ["response.received"])
    _answer(settings, nps=7)
    now = NOW
    outcomes = []
    for _round in range(8):
        outcomes.append(deliver_due(settings, now=now))
        now += timedelta(hours=6)
    assert sum(o["failed"] for o in outcomes) == 1
    with session_scope(settings.database_url) as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == "failed"
    assert delivery.last_status_code == 500
    assert delivery.response_excerpt == "<script>alert(1)</script>"  # kept as text
    assert delivery.attempts == 5  # every 6 hours (past the longest backoff) for a day


@sqlite_only  # the same logic on both; PostgreSQL runs the races above
def test_a_slow_receiver_does_not_hold_up_another(settings, receivers) -> None:
    slow, fast = receivers(), receivers()
    fast_got_it = threading.Event()
    overtaken: list[bool] = []
    # The slow receiver answers only once the fast one has had its delivery (or gives up):
    # sent one after another, the fast one would wait for the slow one's answer.
    slow.before_answer = lambda: overtaken.append(fast_got_it.wait(timeout=5))
    fast.before_answer = fast_got_it.set
    _endpoint(settings, slow.url, ["response.received"])  # the first claimed
    _endpoint(settings, fast.url, ["response.received"])
    _answer(settings, nps=9)

    summary = deliver_due(settings, now=NOW, timeout=30)

    assert summary["delivered"] == 2
    assert overtaken == [True]


def test_two_workers_at_once_send_each_delivery_once(settings, receivers) -> None:
    receiver = receivers()
    _endpoint(settings, receiver.url, ["response.received"])
    for nps in range(10):
        _answer(settings, nps=nps)
    start = threading.Barrier(2)
    results: list[dict] = []

    def worker() -> None:
        start.wait()
        results.append(deliver_due(settings, now=NOW, max_batch=10))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r["delivered"] for r in results) == 10
    assert sorted(receiver.deliveries(), key=int) == [str(i) for i in range(1, 11)]
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 10


@sqlite_only  # the same logic on both; PostgreSQL runs the races above
def test_an_inactive_endpoint_gets_nothing_until_active_again(settings, receivers) -> None:
    receiver = receivers()
    _endpoint(settings, receiver.url, ["response.received"])
    update_endpoint(settings, 1, {"active": False})
    _answer(settings, nps=4)
    assert deliver_due(settings, now=NOW)["deliveries_made"] == 0  # not subscribed while off
    assert receiver.received == []


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outbox event"):
        enqueue(None, "customer.deleted", {})  # type: ignore[arg-type]


@sqlite_only
def test_a_backlog_does_not_crowd_out_another_endpoint(settings, receivers) -> None:
    busy, quiet = receivers(), receivers()
    _endpoint(settings, busy.url, ["model.promoted"])
    with session_scope(settings.database_url) as session:
        for version in range(25):
            enqueue(session, "model.promoted", {"task": "t", "version": str(version)})
    _endpoint(settings, quiet.url, ["response.received"])
    _answer(settings, nps=9)
    assert fan_out(settings.database_url, NOW, 100) == (26, 26)

    summary = deliver_due(settings, now=NOW, max_batch=21)

    assert summary["delivered"] == 21
    assert (len(busy.received), len(quiet.received)) == (20, 1)


@sqlite_only
def test_a_call_gives_back_what_it_has_no_time_for(settings, receivers) -> None:
    receiver = receivers()
    _endpoint(settings, receiver.url, ["response.received"])
    for nps in (1, 2, 3):
        _answer(settings, nps=nps)

    first = deliver_due(settings, now=NOW, budget=0)  # time for the first attempt only

    assert (first["delivered"], first["released"]) == (1, 2)
    second = deliver_due(settings, now=NOW)
    assert (second["delivered"], second["released"]) == (2, 0)
    assert sorted(receiver.deliveries()) == ["1", "2", "3"]
    with session_scope(settings.database_url) as session:
        attempts = session.scalars(select(WebhookDelivery.attempts)).all()
    assert attempts == [1, 1, 1]
