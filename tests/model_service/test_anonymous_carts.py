"""Anonymous visitors' carts: scored by visitor id (batch and online) before the visitor
identifies, and with exactly the same features for that moment afterwards."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert, select

from model_service.scoring import task_features
from shared.auth import create_token
from shared.cart_features import build_cart_features_at
from shared.db.session import get_engine, session_scope
from shared.db.tables import Identity, JourneyEvent, RiskScore
from shared.journey_loader import load_journey_frames
from tests.model_service.conftest import auth


@pytest.fixture
def shop_copy(trained, tmp_path: Path) -> str:
    """The trained shop's database, copied so that identifying a visitor changes only this."""
    source = Path(trained.database_url.removeprefix("sqlite:///"))
    target = tmp_path / "copy.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def _anonymous_open_cart(database_url: str, at) -> tuple[str, str]:
    frames = load_journey_frames(database_url, at)
    features, context = task_features("cart_abandonment", frames, at)
    anonymous = context[context["customer_id"].isna()]
    assert len(anonymous), "the synthetic shop has anonymous open carts"
    with session_scope(database_url) as session:
        linked = set(session.scalars(select(Identity.visitor_id)))
    never_linked = anonymous[~anonymous["visitor_id"].isin(linked)]
    assert len(never_linked)
    return str(never_linked.index[0]), str(never_linked["visitor_id"].iloc[0])


def test_batch_scoring_keeps_anonymous_carts_with_their_visitor(trained) -> None:
    with session_scope(trained.database_url) as session:
        rows = session.execute(
            select(RiskScore.customer_id, RiskScore.visitor_id, RiskScore.cart_id).where(
                RiskScore.task == "cart_abandonment"
            )
        ).all()
    anonymous = [row for row in rows if row.customer_id is None]
    assert anonymous, "anonymous carts are scored too"
    assert all(row.visitor_id and row.cart_id for row in anonymous)


def test_an_anonymous_cart_has_the_same_features_before_and_after_its_visitor_identifies(
    trained, shop_copy, make_app, tmp_path
) -> None:
    moment = trained.end
    cart_id, visitor_id = _anonymous_open_cart(shop_copy, moment)
    app = make_app(trained.settings(tmp_path, database_url=shop_copy))
    headers = auth(create_token(shop_copy, "agent", "support"))
    client = app.test_client()

    def predict(**ids) -> dict:
        answer = client.post(
            "/v1/predict/cart-abandonment",
            json={**ids, "as_of": moment.isoformat()},
            headers=headers,
        )
        assert answer.status_code == 200, answer.get_json()
        return next(p for p in answer.get_json()["predictions"] if p["cart_id"] == cart_id)

    before = predict(visitor_ids=[visitor_id])
    assert before["customer_id"] is None and before["visitor_id"] == visitor_id
    assert predict(cart_ids=[cart_id])["probability"] == before["probability"]
    snapshot = pd.DataFrame({"as_of": [moment]}, index=pd.Index([cart_id], name="cart_id"))
    features_before = build_cart_features_at(load_journey_frames(shop_copy, moment), snapshot)

    # The visitor identifies an hour later, as a customer with a purchase history.
    customer = trained.datasets["brand_switch"].evaluation.index[0]
    later = moment + timedelta(hours=1)
    with get_engine(shop_copy).begin() as conn:
        conn.execute(
            insert(Identity),
            [{"visitor_id": visitor_id, "customer_id": customer, "linked_at": later}],
        )
        conn.execute(
            insert(JourneyEvent),
            [
                {
                    "event_id": f"{visitor_id}-identify",
                    "type": "newsletter_signup",
                    "customer_id": customer,
                    "visitor_id": visitor_id,
                    "occurred_at": later,
                    "received_at": later,
                }
            ],
        )

    now = moment + timedelta(hours=2)
    features_after = build_cart_features_at(load_journey_frames(shop_copy, now), snapshot)
    pd.testing.assert_frame_equal(features_before, features_after)
    after = predict(visitor_ids=[visitor_id])
    assert after["probability"] == before["probability"]
    assert after["customer_id"] is None  # at that moment nobody knew who it was
    # From the link on, the cart is the customer's.
    later_snapshot = snapshot.assign(as_of=[now])
    known = build_cart_features_at(load_journey_frames(shop_copy, now), later_snapshot)
    assert known["customer_id"].iloc[0] == customer


def test_bad_visitor_ids_are_a_4xx_naming_the_field(trained, tmp_path, make_app) -> None:
    app = make_app(trained.settings(tmp_path))
    headers = auth(create_token(trained.database_url, "agent", "support"))
    client = app.test_client()
    cases = [
        ({"visitor_ids": []}, 422, "visitor_ids"),
        ({"visitor_ids": [""]}, 422, "visitor_ids"),
        ({"visitor_ids": "v1"}, 422, "visitor_ids"),
        ({"visitor_ids": ["no-such-visitor"]}, 404, "visitor_ids.0"),
    ]
    for body, status, field in cases:
        answer = client.post("/v1/predict/cart-abandonment", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.get_json())
        errors = answer.get_json()["errors"]
        assert any(key.startswith(field) for key in _flatten(errors)), (body, errors)


def _flatten(errors: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in errors.items():
        name = f"{prefix}{key}"
        keys.append(name)
        if isinstance(value, dict):
            keys.extend(_flatten(value, f"{name}."))
    return keys
