"""Online predictions from the champion in a real MLflow store, over the synthetic journeys."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from model_service.champions import ChampionRegistry
from model_service.scoring import task_features
from shared.auth import create_token
from shared.customer_features import CUSTOMER_FEATURES
from shared.journey_loader import load_journey_frames
from tests.model_service.conftest import auth, register_model, set_champion


def _features(trained, task: str, ids: list[str] | None = None):
    frames = load_journey_frames(trained.database_url, trained.end, customer_ids=ids)
    return task_features(task, frames, trained.end, active_only=False)


def _records(features: pd.DataFrame, columns: list[str]) -> list[dict]:
    # Through JSON, as a client would send them: NaN becomes null.
    return json.loads(features[columns].to_json(orient="records"))


def test_predictions_by_customer_id_equal_predictions_from_the_same_features_as_records(
    trained, app, headers
) -> None:
    features, _ = _features(trained, "brand_switch")
    ids = features.index[:25].tolist()
    client = app.test_client()
    by_id = client.post(
        "/v1/predict/brand-switch",
        json={"customer_ids": ids, "as_of": trained.end.isoformat()},
        headers=headers,
    )
    assert by_id.status_code == 200, by_id.get_json()
    records = _records(features.loc[ids], CUSTOMER_FEATURES)
    for record, customer_id in zip(records, ids, strict=True):
        record["id"] = customer_id
    by_record = client.post("/v1/predict/brand-switch", json={"records": records}, headers=headers)
    assert by_record.status_code == 200, by_record.get_json()
    left, right = by_id.get_json()["predictions"], by_record.get_json()["predictions"]
    assert [p["customer_id"] for p in left] == ids
    assert [p["id"] for p in right] == ids
    for a, b in zip(left, right, strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-12)
        assert (a["band"], a["stage"], a["model_version"]) == (b["band"], b["stage"], "1")
        assert [r["feature"] for r in a["reasons"]] == [r["feature"] for r in b["reasons"]]
    assert any(p["reasons"] for p in left), "at-risk customers come with reasons"
    reason = next(r for p in left for r in p["reasons"])
    assert reason["contribution"] > 0 and reason["text"] and reason["action"]


def test_reasons_are_the_served_models_own_response_to_each_value(trained, app, headers) -> None:
    """Setting a reason's feature to the reference value lowers the probability by exactly the
    reported contribution: the reasons are faithful to the served pipeline."""
    features, _ = _features(trained, "brand_switch")
    record = _records(features.iloc[[0]], CUSTOMER_FEATURES)[0]
    client = app.test_client()
    first = client.post("/v1/predict/brand-switch", json={"records": [record]}, headers=headers)
    prediction = first.get_json()["predictions"][0]
    for reason in prediction["reasons"]:
        changed = {**record, reason["feature"]: reason["reference"]}
        again = client.post(
            "/v1/predict/brand-switch", json={"records": [changed]}, headers=headers
        )
        drop = prediction["probability"] - again.get_json()["predictions"][0]["probability"]
        assert drop == pytest.approx(reason["contribution"], abs=1e-4)


def test_open_carts_are_scored_by_cart_id_and_as_records(trained, app, headers) -> None:
    features, context = _features(trained, "cart_abandonment")
    assert len(features), "the synthetic data has open carts at its end"
    cart_id = features.index[0]
    client = app.test_client()
    by_id = client.post(
        "/v1/predict/cart-abandonment",
        json={"cart_ids": [cart_id], "as_of": trained.end.isoformat()},
        headers=headers,
    ).get_json()["predictions"][0]
    columns = [c for c in features.columns if c not in ("customer_id", "visitor_id")]
    record = _records(features.iloc[[0]], columns)[0]
    by_record = client.post(
        "/v1/predict/cart-abandonment", json={"records": [record]}, headers=headers
    ).get_json()["predictions"][0]
    assert by_id["cart_id"] == cart_id and by_id["customer_id"] == context["customer_id"].iloc[0]
    assert by_id["probability"] == pytest.approx(by_record["probability"], abs=1e-12)


def test_bad_predict_input_is_a_4xx_naming_the_field(trained, app, headers) -> None:
    features, _ = _features(trained, "brand_switch")
    good = _records(features.iloc[[0]], CUSTOMER_FEATURES)[0]
    missing = {k: v for k, v in good.items() if k != "recency_days"}
    cases = [
        ({"records": [good, missing]}, 422, "records.1.recency_days"),
        ({"records": [{**good, "colour": "red"}]}, 422, "records.0.colour"),
        ({"records": [{**good, "frequency": "many"}]}, 422, "records.0.frequency"),
        ({"records": [{**good, "stage": "moon"}]}, 422, "records.0.stage"),
        ({"records": [{**good, "segment": 7}]}, 422, "records.0.segment"),
        ({"records": []}, 422, "records"),
        ({"customer_ids": ["x"] * 1001}, 422, "customer_ids"),
        ({"customer_ids": ["x"], "records": [good]}, 422, "_schema"),
        ({}, 422, "_schema"),
        ({"records": [good], "as_of": "2026-01-01"}, 422, "as_of"),
        ({"customer_ids": ["s11-c0000000", "ghost"]}, 404, "customer_ids.1"),
        ({"customer_ids": [""]}, 422, "customer_ids.0"),
        ([1, 2], 422, "_schema"),
    ]
    client = app.test_client()
    for body, code, field in cases:
        response = client.post("/v1/predict/brand-switch", json=body, headers=headers)
        assert response.status_code == code, (body, response.get_json())
        assert field in response.get_json()["errors"], (field, response.get_json())
    not_json = client.post(
        "/v1/predict/brand-switch",
        data="{nope",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert 400 <= not_json.status_code < 500
    carts = client.post(
        "/v1/predict/cart-abandonment", json={"cart_ids": ["no-such-cart"]}, headers=headers
    )
    assert carts.status_code == 404 and "cart_ids.0" in carts.get_json()["errors"]


def test_predict_needs_a_support_token(trained, app) -> None:
    client = app.test_client()
    body = {"customer_ids": ["s11-c0000000"]}
    assert client.post("/v1/predict/brand-switch", json=body).status_code == 401
    ingest = auth(create_token(trained.database_url, "shop", "ingest"))
    assert client.post("/v1/predict/brand-switch", json=body, headers=ingest).status_code == 403


def test_readyz_and_models_say_which_versions_are_loaded_and_since_when(
    trained, app, headers
) -> None:
    assert app.test_client().get("/readyz").get_json() == {"status": "ready"}
    ready = app.test_client().get("/readyz", headers=headers).get_json()
    loaded = ready["models"]["brand_switch"]["loaded"]
    assert loaded["version"] == trained.versions["brand_switch"] and loaded["loaded_at"]
    models = app.test_client().get("/v1/models", headers=headers).get_json()["models"]
    assert models["cart_abandonment"]["loaded"]["version"] == trained.versions["cart_abandonment"]


def test_alias_move_under_load_swaps_without_errors_or_mixed_versions(
    trained, tmp_path: Path, make_app, headers
) -> None:
    app = make_app(trained.settings(tmp_path, model_poll_seconds=0.1), start_polling=True)
    dataset = trained.datasets["brand_switch"]
    features, _ = _features(trained, "brand_switch")
    body = {"records": _records(features.iloc[:3], CUSTOMER_FEATURES)}
    seen: list[tuple[int, set[str]]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        client = app.test_client()
        while not stop.is_set():
            response = client.post("/v1/predict/brand-switch", json=body, headers=headers)
            answer = response.get_json()
            versions = {p["model_version"] for p in answer.get("predictions", [])}
            seen.append((response.status_code, versions | {answer.get("model_version")}))

    worker = threading.Thread(target=keep_asking)
    worker.start()
    try:
        # A new version of the same estimator: what matters here is that the alias moves.
        model = app.extensions["kundresa_models"].get("brand_switch").model
        version = register_model(
            trained.mlflow_uri, "brand_switch", model, dataset.features, dataset.train
        )
        before = len(seen)
        set_champion(trained.mlflow_uri, "brand_switch", version)
        for _ in range(600):
            if any(version in v for _, v in seen[before:]):
                break
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        stop.set()
        worker.join()
        set_champion(trained.mlflow_uri, "brand_switch", trained.versions["brand_switch"])
    assert seen and all(code == 200 for code, _ in seen), {c for c, _ in seen}
    assert all(len(v) == 1 for _, v in seen), "one answer never mixes model versions"
    assert seen[-1][1] == {version}, "the new version is served after the swap"


def test_a_version_whose_columns_do_not_match_the_builder_is_refused(
    trained, tmp_path: Path, make_app, headers
) -> None:
    app = make_app(trained.settings(tmp_path))
    registry: ChampionRegistry = app.extensions["kundresa_models"]
    dataset = trained.datasets["brand_switch"]
    columns = [c for c in dataset.features if c != "recency_days"]
    from training.pipelines import calibrated, make_classifier_pipeline

    numeric = [c for c in dataset.numeric if c in columns]
    model = calibrated(make_classifier_pipeline(numeric, dataset.categorical, max_iter=5))
    model.fit(dataset.train[columns], dataset.train["label"].to_numpy())
    version = register_model(trained.mlflow_uri, "brand_switch", model, columns, dataset.train)
    set_champion(trained.mlflow_uri, "brand_switch", version)
    try:
        registry.refresh()
    finally:
        set_champion(trained.mlflow_uri, "brand_switch", trained.versions["brand_switch"])
    status = app.test_client().get("/v1/models", headers=headers).get_json()["models"]
    refused = status["brand_switch"]["refused"]
    assert refused["version"] == version and "recency_days" in refused["reason"]
    assert status["brand_switch"]["loaded"]["version"] == trained.versions["brand_switch"]
    features, _ = _features(trained, "brand_switch")
    body = {"records": _records(features.iloc[:1], CUSTOMER_FEATURES)}
    answer = app.test_client().post("/v1/predict/brand-switch", json=body, headers=headers)
    assert answer.status_code == 200
    assert answer.get_json()["model_version"] == trained.versions["brand_switch"]


def test_predictions_continue_when_the_registry_is_unreachable(
    trained, tmp_path: Path, make_app, headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(trained.settings(tmp_path))
    registry: ChampionRegistry = app.extensions["kundresa_models"]
    # The registry goes away: its server stops answering (nothing listens on this port).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    registry.tracking_uri = "http://127.0.0.1:9"
    registry.refresh()
    status = registry.status()["brand_switch"]
    assert status["error"] and status["loaded"]["version"] == trained.versions["brand_switch"]
    features, _ = _features(trained, "brand_switch")
    body = {"records": _records(features.iloc[:2], CUSTOMER_FEATURES)}
    answer = app.test_client().post("/v1/predict/brand-switch", json=body, headers=headers)
    assert answer.status_code == 200 and len(answer.get_json()["predictions"]) == 2
    assert app.test_client().get("/readyz").status_code == 200


def test_the_openapi_document_is_generated_from_the_schemas(app) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    for path in (
        "/v1/predict/brand-switch",
        "/v1/predict/cart-abandonment",
        "/v1/models",
        "/v1/at-risk",
        "/v1/customers/{customer_id}",
        "/v1/journeys/critical",
        "/v1/follow-ups",
        "/v1/follow-ups/{follow_up_id}",
    ):
        assert path in spec["paths"], path
    record = spec["components"]["schemas"]["CustomerRecord"]
    assert set(CUSTOMER_FEATURES) <= set(record["required"])
    assert record["additionalProperties"] is False
