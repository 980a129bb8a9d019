"""The support queue (GET /v1/follow-ups) and what a case carries: filters as documented,
due times in working days, hand-over to active users only, one outbox event per change with no
personal data, and a resolved customer not offered again until a newer high score. SQLite and
PostgreSQL, through the API with real tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from model_service.dashboard.users import create_user
from model_service.followups import offered_again
from model_service.working_days import add_working_days
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import Customer, FollowUp, OutboxEvent, RiskScore, Site
from tests.conftest import make_settings
from tests.model_service.conftest import auth

NOW = datetime.now(UTC)
AGENT = "agent@shop.example"
COLLEAGUE = "colleague@shop.example"
GONE = "former@shop.example"


def _score(customer: str, probability: float, as_of: datetime, task: str = "brand_switch") -> dict:
    return {
        "task": task,
        "customer_id": customer,
        "cart_id": f"k-{customer}" if task == "cart_abandonment" else None,
        "stage": "loyalty",
        "segment": "premium",
        "value": 100.0,
        "probability": probability,
        "band": "high" if probability >= 0.5 else "low",
        "reasons": [],
        "model_name": "m",
        "model_version": "1",
        "as_of": as_of,
    }


@pytest.fixture
def client(database_url: str, tmp_path: Path, empty_mlflow_store: str, make_app):
    with session_scope(database_url) as session:
        session.add(
            Site(name="Shop", site_key="sk-q", external_url="https://shop.example/admin/c/{id}")
        )
        session.execute(
            insert(Customer),
            [
                {"id": "c1", "name": "Anna Berg", "email": "anna@example.com", "phone": "+46 70 1"},
                {"id": "c2"},
                {"id": "c3"},
                {"id": "a/b c"},
            ],
        )
        session.execute(
            insert(RiskScore),
            [_score(c, 0.8, NOW - timedelta(days=1)) for c in ("c1", "c2", "c3", "a/b c")]
            + [_score("c3", 0.7, NOW - timedelta(days=1), task="cart_abandonment")],
        )
    create_user(database_url, AGENT, "support", "correct horse battery")
    create_user(database_url, COLLEAGUE, "support", "correct horse battery")
    create_user(database_url, GONE, "support", "correct horse battery")
    from shared.db.tables import User

    with session_scope(database_url) as session:
        session.execute(update(User).where(User.email == GONE).values(active=False))
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=empty_mlflow_store)
    return make_app(settings).test_client()


@pytest.fixture(scope="module")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('empty-mlflow') / 'mlflow.db'}"


def _take(client, headers, customer: str, task: str = "brand_switch") -> dict:
    answer = client.post(
        "/v1/follow-ups", json={"customer_id": customer, "task": task}, headers=headers
    )
    assert answer.status_code == 201, answer.json
    return answer.json


def _queue(client, headers, query: str = "") -> list[dict]:
    answer = client.get(f"/v1/follow-ups{query}", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json["items"]


def _age(database_url: str, follow_up_id: int, days: float) -> None:
    """Make a case as if it had been taken ``days`` ago (and due accordingly)."""
    taken = NOW - timedelta(days=days)
    with session_scope(database_url) as session:
        session.execute(
            update(FollowUp)
            .where(FollowUp.id == follow_up_id)
            .values(created_at=taken, due_at=add_working_days(taken, 2))
        )


def test_the_queue_filters_by_status_assignee_task_age_and_overdue(client, database_url) -> None:
    agent = auth(create_token(database_url, AGENT, "support"))
    colleague = auth(create_token(database_url, COLLEAGUE, "support"))
    first = _take(client, agent, "c1")
    second = _take(client, agent, "c2")
    third = _take(client, colleague, "c3", task="cart_abandonment")
    _age(database_url, first["id"], 10)  # overdue
    _age(database_url, second["id"], 0.5)  # not yet due
    client.patch(f"/v1/follow-ups/{third['id']}", json={"status": "resolved"}, headers=colleague)
    _age(database_url, third["id"], 10)  # old, but resolved: never overdue

    assert [i["id"] for i in _queue(client, agent)] == [first["id"], third["id"], second["id"]]
    assert {i["id"] for i in _queue(client, agent, "?status=resolved")} == {third["id"]}
    assert {i["id"] for i in _queue(client, agent, "?status=unresolved")} == {
        first["id"],
        second["id"],
    }
    assert {i["id"] for i in _queue(client, agent, "?assignee=me")} == {first["id"], second["id"]}
    assert {i["id"] for i in _queue(client, agent, f"?assignee={COLLEAGUE}")} == {third["id"]}
    assert {i["id"] for i in _queue(client, agent, "?task=cart_abandonment")} == {third["id"]}
    assert {i["id"] for i in _queue(client, agent, "?older_than=2d")} == {first["id"], third["id"]}
    assert {i["id"] for i in _queue(client, agent, "?older_than=6h")} == {
        first["id"],
        second["id"],
        third["id"],
    }
    [late] = _queue(client, agent, "?overdue=true")
    assert late["id"] == first["id"] and late["overdue"] is True
    assert {i["id"] for i in _queue(client, agent, "?overdue=false")} == {second["id"], third["id"]}
    # Who the customer is travels with the case; the shop link has the id encoded.
    assert late["customer"] == {
        "name": "Anna Berg",
        "email": "anna@example.com",
        "phone": "+46 70 1",
        "external_url": "https://shop.example/admin/c/c1",
    }
    assert late["risk_before"] == pytest.approx(0.8) and late["band_now"] == "high"


def test_the_queue_pages_with_a_signed_cursor(client, database_url) -> None:
    agent = auth(create_token(database_url, AGENT, "support"))
    taken = [_take(client, agent, c)["id"] for c in ("c1", "c2", "c3", "a/b c")]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/follow-ups{query}", headers=agent).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == taken  # due in the order taken: the same working-day offset each
    forged = client.get("/v1/follow-ups?cursor=abc", headers=agent)
    assert forged.status_code == 422 and "cursor" in forged.json["errors"]
    [odd] = _queue(client, agent, "?assignee=me&limit=1&status=open")[:1]
    assert odd["id"] == taken[0]
    encoded = _queue(client, agent, "?limit=200")[-1]["customer"]["external_url"]
    assert encoded == "https://shop.example/admin/c/a%2Fb%20c"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=lost", "status"),
        ("?older_than=2w", "older_than"),
        ("?older_than=0d", "older_than"),
        ("?overdue=maybe", "overdue"),
        ("?task=nope", "task"),
        ("?limit=0", "limit"),
        ("?colour=red", "colour"),
    ],
)
def test_bad_queue_queries_are_422_naming_the_field(client, database_url, query, field) -> None:
    agent = auth(create_token(database_url, AGENT, "support"))
    answer = client.get(f"/v1/follow-ups{query}", headers=agent)
    assert answer.status_code == 422
    assert field in answer.json["errors"]


def test_the_queue_needs_a_support_token(client, database_url) -> None:
    assert client.get("/v1/follow-ups").status_code == 401
    ingest = auth(create_token(database_url, "pipe", "ingest"))
    assert client.get("/v1/follow-ups", headers=ingest).status_code == 403


def test_a_case_is_handed_only_to_active_users_and_every_change_is_one_outbox_event(
    client, database_url
) -> None:
    agent = auth(create_token(database_url, AGENT, "support"))
    case = _take(client, agent, "c1")
    assert case["due_at"] and case["overdue"] is False
    for who in (GONE, "nobody@shop.example"):
        refused = client.patch(
            f"/v1/follow-ups/{case['id']}", json={"assignee": who}, headers=agent
        )
        assert refused.status_code == 422 and "assignee" in refused.json["errors"]
    moved = client.patch(
        f"/v1/follow-ups/{case['id']}", json={"assignee": COLLEAGUE}, headers=agent
    )
    assert moved.status_code == 200 and moved.json["assignee"] == COLLEAGUE
    assert moved.json["notes"][-1]["assigned_to"] == COLLEAGUE
    resolved = client.patch(
        f"/v1/follow-ups/{case['id']}", json={"status": "resolved"}, headers=agent
    )
    assert resolved.json["resolved_by"] == AGENT
    late = client.patch(f"/v1/follow-ups/{case['id']}", json={"assignee": AGENT}, headers=agent)
    assert late.status_code == 422 and "assignee" in late.json["errors"]
    note_only = client.patch(f"/v1/follow-ups/{case['id']}", json={"note": "ok"}, headers=agent)
    assert note_only.status_code == 200
    with session_scope(database_url) as session:
        events = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        site = session.scalar(select(Site.id))
    assert [e.event for e in events] == ["follow_up.changed"] * 3  # taken, assigned, resolved
    assert [e.payload["change"] for e in events] == ["taken", "assigned", "moved"]
    assert [e.payload["assignee"] for e in events] == [AGENT, COLLEAGUE, COLLEAGUE]
    assert events[-1].payload["status"] == "resolved"
    assert {e.payload["customer_id"] for e in events} == {"c1"}
    assert all(e.site_id == str(site) or e.site_id is None for e in events)
    text = repr([e.payload for e in events])
    assert "Anna" not in text and "anna@example.com" not in text and "+46" not in text


def test_a_resolved_customer_leaves_the_unassigned_list_until_a_newer_high_score(
    client, database_url
) -> None:
    agent = auth(create_token(database_url, AGENT, "support"))
    untaken = "/v1/at-risk?without_follow_up=true&band=high"

    def listed() -> set[str]:
        return {i["customer_id"] for i in client.get(untaken, headers=agent).json["items"]}

    assert "c1" in listed()
    case = _take(client, agent, "c1")
    assert "c1" not in listed()
    client.patch(f"/v1/follow-ups/{case['id']}", json={"status": "resolved"}, headers=agent)
    assert "c1" not in listed()  # resolved after its newest score: not offered again
    with session_scope(database_url) as session:
        session.execute(
            insert(RiskScore), [_score("c1", 0.9, datetime.now(UTC) + timedelta(seconds=1))]
        )
    assert "c1" in listed()


def test_working_days_skip_the_weekend() -> None:
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert add_working_days(friday, 2) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # Tuesday
    assert add_working_days(friday + timedelta(days=1), 2).weekday() == 1  # Saturday -> Tuesday
    assert add_working_days(friday - timedelta(days=4), 2).weekday() == 2  # Monday -> Wednesday
    assert add_working_days(friday, 0) == friday
    assert add_working_days(friday, 5) == friday + timedelta(days=7)
    with pytest.raises(ValueError):
        add_working_days(friday, -1)


def test_due_days_come_from_the_settings(
    database_url, tmp_path, empty_mlflow_store, make_app
) -> None:
    with session_scope(database_url) as session:
        session.add(Customer(id="c9"))
    settings = make_settings(
        tmp_path, database_url, mlflow_tracking_uri=empty_mlflow_store, follow_up_due_working_days=5
    )
    client = make_app(settings).test_client()
    agent = auth(create_token(database_url, AGENT, "support"))
    case = client.post("/v1/follow-ups", json={"customer_id": "c9"}, headers=agent).json
    taken = datetime.fromisoformat(case["created_at"])
    assert datetime.fromisoformat(case["due_at"]) == add_working_days(taken, 5)


def test_offered_again_only_for_a_high_score_after_the_resolution() -> None:
    resolved = datetime(2026, 11, 1, tzinfo=UTC)
    assert offered_again(None, None, None)
    assert not offered_again(resolved, resolved - timedelta(days=1), "high")
    assert not offered_again(resolved, resolved + timedelta(days=1), "medium")
    assert offered_again(resolved, resolved + timedelta(days=1), "high")


def test_the_queue_is_in_the_openapi_document(client) -> None:
    spec = client.get("/openapi.json").json
    parameters = {p["name"] for p in spec["paths"]["/v1/follow-ups"]["get"]["parameters"]}
    assert {"status", "assignee", "task", "older_than", "overdue", "limit", "cursor"} <= parameters
