"""Critical journeys on a hand-made history, on SQLite and PostgreSQL: every figure and every
change since the previous period is checked against numbers worked out by hand."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from model_service import service
from model_service.critical_journeys import RETURN_TYPES
from shared import metrics
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import JourneyEvent, Response, RiskScore, Survey
from shared.journey import STAGE_INDEX, STAGE_OF_EVENT, STAGES
from tests.conftest import make_settings
from tests.model_service.conftest import auth

END = datetime(2026, 10, 1, tzinfo=UTC)
# period="10d": the current period is [Sep 21, Oct 1), the previous one [Sep 11, Sep 21).
START = END - timedelta(days=10)
DESIRE = ("desire", "regular", "home")
PURCHASE = ("purchase", "regular", "home")


def _day(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def _score(customer: str, stage: str, probability: float, value: float, as_of: datetime) -> dict:
    return {
        "task": "brand_switch",
        "customer_id": customer,
        "stage": stage,
        "segment": "regular",
        "product_category": "home",
        "value": value,
        "probability": probability,
        "band": "high" if probability >= 0.5 else "low",
        "reasons": [],
        "model_name": "kundresa-brand-switch",
        "model_version": "1",
        "as_of": as_of,
    }


def _event(customer: str, event_type: str, at: datetime) -> dict:
    return {
        "event_id": f"{customer}-{event_type}-{at.isoformat()}",
        "customer_id": customer,
        "type": event_type,
        "product_category": "home",
        "occurred_at": at,
    }


def _answer(customer: str, at: datetime, nps, csat, ces, reason: str | None) -> dict:
    return {
        "response_id": f"{customer}-{at.isoformat()}",
        "survey_key": "cart_abandonment",
        "customer_id": customer,
        "answers": {},
        "nps": nps,
        "csat": csat,
        "ces": ces,
        "reason": reason,
        "body_hash": "0" * 64,
        "submitted_at": at,
    }


def seed_two_periods(database_url: str) -> None:
    """c1 and c2 in (desire, regular, home) in both periods, c3 new in (purchase, regular,
    home). Rows on the periods' edges and newer or back-dated scores must not count."""
    scores = [
        _score("c1", "desire", 0.2, 100.0, _day(9, 15)),
        _score("c1", "desire", 0.6, 100.0, _day(9, 30)),
        _score("c1", "desire", 0.99, 100.0, _day(10, 5)),  # after the end
        _score("c2", "desire", 0.4, 200.0, _day(9, 15)),
        _score("c2", "desire", 0.5, 200.0, _day(9, 30)),
        # Written last but as of an older day (a back-test): never the newest.
        _score("c2", "desire", 0.9, 200.0, _day(9, 1)),
        _score("c3", "purchase", 0.1, 1000.0, _day(9, 30)),
    ]
    events = [
        # Previous period: c1 and c2 reach desire, nobody buys.
        _event("c1", "product_view", _day(9, 12)),
        _event("c1", "add_to_cart", _day(9, 13)),
        _event("c2", "add_to_cart", _day(9, 14)),
        # c3 has no score as of Sep 21: not in a cell of the previous period.
        _event("c3", "checkout_started", _day(9, 15)),
        # Current period: c1 stays at desire, c2 buys, c3 comes back after a purchase in
        # August (loyalty).
        _event("c1", "add_to_cart", START),
        _event("c2", "add_to_cart", _day(9, 22)),
        _event("c2", "purchase", _day(9, 23)),
        _event("c3", "purchase", _day(8, 1)),
        _event("c3", "page_view", _day(9, 25)),
        _event("c1", "purchase", END),  # the end is outside the period
    ]
    answers = [
        _answer("c1", _day(9, 20), 0, 1, 1, "price"),
        _answer("c1", _day(9, 25), 10, 5, 6, "shipping_cost"),
        _answer("c2", _day(9, 26), 3, 2, 2, "shipping_cost"),
        _answer("c2", _day(9, 27), None, 4, None, "price"),
        _answer("c1", END, 0, 1, 1, "price"),  # outside the period
    ]
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "cart_abandonment"))
        session.execute(insert(RiskScore), scores)
        session.execute(insert(JourneyEvent), events)
        session.execute(insert(Response), [{**a, "survey_id": survey_id} for a in answers])


def _by_cell(cells: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(c["stage"], c["segment"], c["product_category"]): c for c in cells}


def test_critical_journeys_give_every_figure_and_its_change_since_the_previous_period(
    database_url: str,
) -> None:
    seed_two_periods(database_url)
    cells = service.critical_journeys(database_url, period="10d", end=END)
    assert [(c["stage"], c["segment"], c["product_category"]) for c in cells] == [
        DESIRE,
        PURCHASE,
    ]
    desire, purchase = cells
    expected_desire = {
        "customers": 2,
        "mean_risk": 0.55,  # (0.6 + 0.5) / 2
        "revenue_at_risk": 160.0,  # 0.6 × 100 + 0.5 × 200
        "previous_mean_risk": 0.3,  # (0.2 + 0.4) / 2
        "previous_revenue_at_risk": 100.0,  # 0.2 × 100 + 0.4 × 200
        "mean_risk_change": 0.25,
        "revenue_at_risk_change": 60.0,
        # Reached desire now: c1, c2, c3 (loyalty); onward: c2, c3. Before: c1, c2; none.
        "drop_off": 1 / 3,
        "previous_drop_off": 1.0,
        "drop_off_change": 1 / 3 - 1.0,
        # Now: c1 10/5/6, c2 3/2/2 and -/4/-. Before: c1 0/1/1.
        "responses": 3,
        "nps": 0.0,
        "csat": 66.67,
        "ces": 4.0,
        "previous_nps": -100.0,
        "previous_csat": 0.0,
        "previous_ces": 1.0,
        "nps_change": 100.0,
        "csat_change": 66.67,
        "ces_change": 3.0,
        "next_stage": "purchase",
        "flagged": True,
    }
    assert {key: desire[key] for key in expected_desire} == pytest.approx(expected_desire)
    # Abandonment reasons are about carts: a brand-switch cell lists none of them.
    assert desire["top_reasons"] == []
    expected_purchase = {
        "customers": 1,
        "mean_risk": 0.1,
        "revenue_at_risk": 100.0,
        # Reached purchase now: c2, c3; onward (loyalty): c3. Before: nobody.
        "drop_off": 0.5,
        "next_stage": "loyalty",
        "responses": 0,
    }
    assert {key: purchase[key] for key in expected_purchase} == pytest.approx(expected_purchase)
    assert purchase["top_reasons"] == [] and purchase["nps"] is None
    changes = [key for key in purchase if key.startswith("previous_") or key.endswith("_change")]
    assert len(changes) == 12 and all(purchase[key] is None for key in changes)


def test_the_previous_period_is_the_same_computation_one_period_earlier(
    database_url: str,
) -> None:
    seed_two_periods(database_url)
    now = _by_cell(service.critical_journeys(database_url, period="10d", end=END))
    before = _by_cell(service.critical_journeys(database_url, period="10d", end=START))
    assert set(before) == {DESIRE}
    for name in ("mean_risk", "revenue_at_risk", "drop_off", "nps", "csat", "ces"):
        assert now[DESIRE][f"previous_{name}"] == pytest.approx(before[DESIRE][name]), name


def test_critical_journeys_api_returns_the_changes(
    database_url: str, tmp_path: Path, trained, make_app
) -> None:
    seed_two_periods(database_url)
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=trained.mlflow_uri)
    headers = auth(create_token(database_url, "cx-lead", "support"))
    query = {"period": "10d", "end": END.isoformat(), "limit": 1}
    response = (
        make_app(settings)
        .test_client()
        .get("/v1/journeys/critical", query_string=query, headers=headers)
    )
    assert response.status_code == 200, response.get_json()
    (cell,) = response.get_json()["journeys"]
    assert cell["drop_off_change"] == pytest.approx(-2 / 3)
    assert cell["nps_change"] == pytest.approx(100.0)
    assert cell["csat_change"] == pytest.approx(66.67)
    assert cell["ces_change"] == pytest.approx(3.0)
    assert cell["previous_drop_off"] == pytest.approx(1.0)
    assert response.get_json()["min_answers"] == 30
    # NPS answers 10 and 3: 0 ± 1.96 · 100 · sqrt(1/2), clipped to the scale.
    assert cell["scores"]["nps"] == {
        "value": 0.0,
        "low": -100.0,
        "high": 100.0,
        "n": 2,
        "few_answers": True,
    }
    assert cell["changed"] == {"nps": False, "csat": False, "ces": False}
    assert (cell["first_period"], cell["new_journey"]) == (False, False)


def test_a_customer_with_two_carts_counts_in_the_cell_of_each(database_url: str) -> None:
    carts = [
        {**_score("k1", "desire", p, 50.0, _day(9, 30)), "task": "cart_abandonment"}
        | {"cart_id": cart, "product_category": category}
        for cart, category, p in (("cart-a", "home", 0.8), ("cart-b", "fashion", 0.4))
    ]
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "cart_abandonment"))
        session.execute(insert(RiskScore), carts)
        session.execute(insert(JourneyEvent), [_event("k1", "add_to_cart", _day(9, 25))])
        answer = _answer("k1", _day(9, 26), 10, None, None, "shipping_cost")
        session.execute(insert(Response), [{**answer, "survey_id": survey_id}])
    cells = service.critical_journeys(database_url, "cart_abandonment", period="10d", end=END)
    assert [c["product_category"] for c in cells] == ["home", "fashion"]
    for cell in cells:
        assert (cell["customers"], cell["responses"], cell["nps"], cell["drop_off"]) == (
            1,
            1,
            100.0,
            1.0,
        )
        assert cell["top_reasons"] == [{"reason": "shipping_cost", "count": 1}]


def test_no_scores_no_cells(database_url: str) -> None:
    assert service.critical_journeys(database_url, period="30d", end=END) == []


# --- on synthetic journeys, against a plain reading of the definition ------------------------


def _reference(database_url: str, task: str, start: datetime, end: datetime) -> dict:
    """Critical-journey figures computed the slow way, from every row in Python, as the
    module docstring defines them (what the pandas implementation before this one did)."""
    with session_scope(database_url) as session:
        scores = session.execute(select(RiskScore).where(RiskScore.task == task)).scalars().all()
        scores = [(s.customer_id, s.cart_id, s.as_of, s.id, s) for s in scores]
        events = session.execute(
            select(
                JourneyEvent.customer_id,
                JourneyEvent.type,
                JourneyEvent.stage,
                JourneyEvent.occurred_at,
            )
        ).all()
        answers = session.execute(
            select(
                Response.customer_id,
                Response.nps,
                Response.csat,
                Response.ces,
                Response.reason,
                Response.submitted_at,
            )
        ).all()

    def newest(moment: datetime) -> dict:
        """The newest score per customer and cart as of ``moment``."""
        found: dict = {}
        for customer, cart, as_of, score_id, score in scores:
            key = (customer, cart)
            if as_of <= moment and (key not in found or (as_of, score_id) > found[key][0]):
                found[key] = ((as_of, score_id), score)
        return {key: score for key, (_rank, score) in found.items()}

    def cell(score) -> tuple:
        return tuple(getattr(score, c) or "none" for c in ("stage", "segment", "product_category"))

    def figures(since: datetime, until: datetime) -> dict:
        cells: dict = {}
        for score in newest(until).values():
            entry = cells.setdefault(cell(score), {"who": set(), "p": [], "at_risk": 0.0})
            # An anonymous visitor's cart counts in the risk and the revenue at risk of its
            # cell, but is nobody to count, follow through the stages or match answers to.
            if score.customer_id is not None:
                entry["who"].add(score.customer_id)
            entry["p"].append(score.probability)
            entry["at_risk"] += score.probability * (score.value or 0.0)
        # A customer is in the cell of each of their newest scores (one per cart for carts).
        people: dict = {}
        for score in newest(until).values():
            if score.customer_id is not None:
                people.setdefault(score.customer_id, set()).add(cell(score))
        first_purchase: dict = {}
        for customer, kind, _stage, at in events:
            if kind == "purchase" and at < until and customer is not None:
                first_purchase[customer] = min(at, first_purchase.get(customer, at))
        reached: dict = {}
        for customer, kind, stage, at in events:
            if customer not in people or not since <= at < until:
                continue
            code = STAGE_INDEX.get(stage, STAGE_INDEX.get(STAGE_OF_EVENT.get(kind), -1))
            if (
                kind in RETURN_TYPES
                and customer in first_purchase
                and first_purchase[customer] < at
            ):
                code = max(code, STAGE_INDEX["loyalty"])
            reached[customer] = max(code, reached.get(customer, -1))
        said: dict = {}
        for customer, nps, csat, ces, reason, at in answers:
            if customer in people and since <= at < until:
                for key in people[customer]:
                    said.setdefault(key, []).append((nps, csat, ces, reason))
        result = {}
        for key, entry in cells.items():
            stage, segment, category = key
            here = onward = 0
            if stage in STAGES[:-1]:
                codes = [
                    reached[c]
                    for c, cells_of in people.items()
                    if c in reached and any(k[1:] == key[1:] for k in cells_of)
                ]
                here = sum(code >= STAGE_INDEX[stage] for code in codes)
                onward = sum(code > STAGE_INDEX[stage] for code in codes)
            rows = said.get(key, [])
            result[key] = {
                "customers": len(entry["who"]),
                "mean_risk": sum(entry["p"]) / len(entry["p"]),
                "revenue_at_risk": entry["at_risk"],
                "drop_off": 1 - onward / here if here else None,
                "nps": metrics.nps([r[0] for r in rows]),
                "csat": metrics.csat([r[1] for r in rows]),
                "ces": metrics.ces([r[2] for r in rows]),
                "responses": len(rows),
                # Only the cart task's cells list abandonment reasons.
                "top_reasons": [
                    {"reason": r, "count": n} for r, n in metrics.top_reasons(r[3] for r in rows)
                ]
                if task == "cart_abandonment"
                else [],
            }
        return result

    now, before = figures(start, end), figures(start - (end - start), start)
    for key, entry in now.items():
        for name in ("mean_risk", "revenue_at_risk", "drop_off", "nps", "csat", "ces"):
            entry[f"previous_{name}"] = before.get(key, {}).get(name)
    return now


@pytest.fixture
def synthetic_with_two_scorings(trained, tmp_path: Path) -> str:
    """The trained synthetic journeys with a second, older scoring 30 days before the end:
    every score again, a little less risky, and every fifth customer a stage earlier."""
    target = tmp_path / "two-scorings.db"
    source = sqlite3.connect(trained.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(target) as destination:
        source.backup(destination)
    source.close()
    url = f"sqlite:///{target}"
    with session_scope(url) as session:
        rows = session.execute(select(RiskScore)).scalars().all()
        older = []
        for n, score in enumerate(rows):
            row = {c.name: getattr(score, c.name) for c in RiskScore.__table__.columns}
            row.pop("id")
            row["as_of"] = score.as_of - timedelta(days=30)
            row["probability"] = score.probability * 0.8
            if n % 5 == 0 and score.stage in STAGE_INDEX and STAGE_INDEX[score.stage] > 0:
                row["stage"] = STAGES[STAGE_INDEX[score.stage] - 1]
            older.append(row)
        session.execute(insert(RiskScore), older)
    return url


@pytest.mark.parametrize("task", ["brand_switch", "cart_abandonment"])
def test_critical_journeys_equal_the_definition_computed_row_by_row(
    synthetic_with_two_scorings: str, trained, task: str
) -> None:
    url = synthetic_with_two_scorings
    cells = service.critical_journeys(url, task, period="30d", end=trained.end, limit=500)
    expected = _reference(url, task, trained.end - timedelta(days=30), trained.end)
    assert len(cells) == len(expected) > 3
    assert any(cell["previous_drop_off"] is not None for cell in cells)
    assert any(cell["previous_nps"] is not None for cell in cells)
    for cell in cells:
        key = (cell["stage"], cell["segment"], cell["product_category"])
        want = dict(expected[key])
        assert cell["top_reasons"] == want.pop("top_reasons"), key
        assert {name: cell[name] for name in want} == pytest.approx(want), key
