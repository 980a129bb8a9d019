"""What people read from the served scores: one risk scale cut on the scores being served,
percentiles, the task definition and base rate, the order by expected value at risk, and the
notice when the scores come from another version than the champion."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from model_service.dashboard.users import create_user
from model_service.scoring import score_all
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import RiskScore
from shared.risk_scale import HIGH_SHARE
from shared.tasks import BANDS, META_BASE_RATE, META_DEFINITION, brand_switch_definition
from tests.dashboard.conftest import sign_in
from tests.model_service.conftest import auth, register_model, set_champion


def _batch(database_url: str, task: str, version: str) -> list[RiskScore]:
    with session_scope(database_url) as session:
        rows = list(
            session.scalars(
                select(RiskScore).where(RiskScore.task == task, RiskScore.model_version == version)
            )
        )
        session.expunge_all()
    return rows


def test_batch_bands_rise_with_the_probability_and_the_top_band_holds_a_tenth(trained):
    rows = _batch(trained.database_url, "brand_switch", trained.versions["brand_switch"])
    assert len(rows) >= 30
    rows.sort(key=lambda r: r.probability)
    ranks = [BANDS.index(r.band) for r in rows]
    assert ranks == sorted(ranks), "a higher probability never has a lower band"
    high = [r for r in rows if r.band == "high"]
    claimed = math.ceil(HIGH_SHARE * len(rows))
    lowest_high = min(r.probability for r in high)
    ties = sum(1 for r in rows if r.probability == lowest_high)
    assert claimed <= len(high) < claimed + ties, "a tenth, plus only scores tied at the cut"


def test_an_online_prediction_gets_the_band_and_percentile_its_probability_has_in_the_batch(
    trained, app, headers
):
    rows = _batch(trained.database_url, "brand_switch", trained.versions["brand_switch"])
    rows.sort(key=lambda r: -r.probability)
    picked = {r.customer_id: r for r in rows[:: max(1, len(rows) // 40)]}
    answer = app.test_client().post(
        "/v1/predict/brand-switch",
        json={"customer_ids": list(picked), "as_of": trained.end.isoformat()},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    probabilities = np.sort([r.probability for r in rows])
    assert {"high", "medium", "low"} <= {p["band"] for p in body["predictions"]}
    for prediction in body["predictions"]:
        stored = picked[prediction["customer_id"]]
        assert prediction["probability"] == pytest.approx(stored.probability, abs=1e-12)
        assert prediction["band"] == stored.band
        expected = 100 * np.searchsorted(probabilities, stored.probability, "right") / len(rows)
        assert prediction["percentile"] == pytest.approx(expected)
        assert prediction["probability_text"].endswith("%")
    assert body["risk_scale"]["scored_as_of"] is not None
    # Registered without a definition or base rate (as before definitions existed): still served.
    assert body["definition"] is None and body["base_rate"] is None


def test_at_risk_pages_follow_the_expected_value_at_risk_to_the_last_page(trained, app, headers):
    client = app.test_client()
    seen, keys, cursor = [], [], None
    while True:
        query = {"task": "brand_switch", "limit": 37, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/at-risk", query_string=query, headers=headers).get_json()
        for item in page["items"]:
            seen.append(item["customer_id"])
            keys.append(item["value_at_risk"])
            assert item["value_at_risk"] == pytest.approx(item["probability"] * item["value"])
            assert 0 < item["percentile"] <= 100
        cursor = page["next_cursor"]
        if not cursor:
            break
    rows = _batch(trained.database_url, "brand_switch", trained.versions["brand_switch"])
    assert sorted(seen) == sorted(r.customer_id for r in rows), "every customer exactly once"
    assert keys == sorted(keys, reverse=True)
    by_risk = client.get(
        "/v1/at-risk", query_string={"task": "brand_switch", "sort": "risk"}, headers=headers
    ).get_json()["items"]
    assert [i["probability"] for i in by_risk] == sorted(
        (i["probability"] for i in by_risk), reverse=True
    )


def _copy_database(trained, folder: Path) -> str:
    source = trained.database_url.removeprefix("sqlite:///")
    target = folder / "copy.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def test_after_a_promotion_the_lists_say_the_scores_are_stale_until_a_rescore(
    trained, tmp_path, make_app
):
    database_url = _copy_database(trained, tmp_path)
    settings = trained.settings(tmp_path, database_url=database_url)
    app = make_app(settings)
    registry = app.extensions["kundresa_models"]
    old = registry.get("brand_switch")
    dataset = trained.datasets["brand_switch"]
    definition = brand_switch_definition(90)
    version = register_model(
        trained.mlflow_uri,
        "brand_switch",
        old.model,
        dataset.features,
        dataset.train,
        metadata={META_DEFINITION: definition.as_dict(), META_BASE_RATE: 0.78},
    )
    headers = auth(create_token(database_url, "agent", "support"))
    create_user(database_url, "agent@shop.example", "support", "correct horse battery")
    browser = app.test_client()
    assert sign_in(browser, "agent@shop.example", "correct horse battery").status_code == 302
    api = app.test_client()
    try:
        set_champion(trained.mlflow_uri, "brand_switch", version)
        registry.refresh()
        assert registry.get("brand_switch").version == version

        models = api.get("/v1/models", headers=headers).get_json()["models"]
        loaded = models["brand_switch"]["loaded"]
        assert loaded["definition_text"] == "no purchase within 90 days"
        assert loaded["definition"]["horizon_hours"] == 90 * 24
        assert loaded["base_rate"] == 0.78
        swedish = api.get("/v1/models", headers={**headers, "Accept-Language": "sv"})
        assert swedish.get_json()["models"]["brand_switch"]["loaded"]["definition_text"] == (
            "inget köp inom 90 dagar"
        )

        page = api.get("/v1/at-risk", headers=headers).get_json()
        assert page["stale"] == {
            "scored_with": old.version,
            "champion": version,
            "command": "kundresa score --task brand_switch",
            "message": f"These scores come from version {old.version}; the champion is now "
            f"version {version}. Run `kundresa score --task brand_switch` to refresh them.",
        }
        assert page["definition"] == "no purchase within 90 days" and page["base_rate"] == 0.78
        html = browser.get("/dashboard/").text
        assert f"These scores come from version {old.version}" in html
        assert "kundresa score --task brand_switch" in html
        assert "Risk = no purchase within 90 days" in html
        swedish_html = browser.get("/dashboard/", headers={"Accept-Language": "sv"}).text
        assert f"De här riskbedömningarna kommer från version {old.version}" in swedish_html
        assert "Risk = inget köp inom 90 dagar" in swedish_html

        score_all(settings, "brand_switch", as_of=trained.end, progress=False)
        page = api.get("/v1/at-risk", headers=headers).get_json()
        assert page["stale"] is None
        assert {item["model_version"] for item in page["items"]} == {version}
        html = browser.get("/dashboard/").text
        assert "These scores come from version" not in html
        assert "Risk = no purchase within 90 days" in html
    finally:
        set_champion(trained.mlflow_uri, "brand_switch", trained.versions["brand_switch"])
