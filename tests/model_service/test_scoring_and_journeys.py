"""Batch scoring (as of a date, appended to the history) and the critical-journey ranking."""

from __future__ import annotations

import csv
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from model_service import service
from model_service.cli import score
from model_service.scoring import score_all
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import JourneyEvent, RiskScore
from tests.model_service.conftest import auth
from training.synth import PLANTED_WORST_CELL


@pytest.fixture
def database_copy(trained, tmp_path: Path) -> str:
    """A private copy of the trained database, for tests that write to it."""
    target = tmp_path / "copy.db"
    source = sqlite3.connect(trained.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(target) as destination:
        source.backup(destination)
    source.close()
    return f"sqlite:///{target}"


def _scores(database_url: str, as_of) -> dict[str, float]:
    with session_scope(database_url) as session:
        rows = session.execute(
            select(RiskScore.customer_id, RiskScore.probability).where(
                RiskScore.task == "brand_switch", RiskScore.as_of == as_of
            )
        ).all()
    return dict(rows)


def test_scoring_as_of_a_date_uses_no_data_after_it(trained, database_copy, tmp_path) -> None:
    settings = trained.settings(tmp_path, database_url=database_copy)
    as_of = trained.end - timedelta(days=45)
    assert score_all(settings, "brand_switch", as_of=as_of, progress=False) > 0
    before = _scores(database_copy, as_of)
    # Things happen after the date: everyone buys, complains and asks for a refund.
    later = as_of + timedelta(hours=1)
    with session_scope(database_copy) as session:
        session.execute(
            insert(JourneyEvent),
            [
                {
                    "event_id": f"late-{kind}-{customer}",
                    "customer_id": customer,
                    "type": kind,
                    "value": 500.0,
                    "occurred_at": later,
                }
                for customer in before
                for kind in ("purchase", "support_contact", "refund")
            ],
        )
    score_all(settings, "brand_switch", as_of=as_of, progress=False)
    with session_scope(database_copy) as session:
        runs = session.scalar(
            select(func.count()).where(RiskScore.task == "brand_switch", RiskScore.as_of == as_of)
        )
    assert runs == 2 * len(before), "a new scoring is appended, never overwrites"
    with session_scope(database_copy) as session:
        newest = dict(
            session.execute(
                select(RiskScore.customer_id, RiskScore.probability)
                .where(RiskScore.as_of == as_of, RiskScore.task == "brand_switch")
                .order_by(RiskScore.id)
            ).all()
        )
    assert newest == pytest.approx(before), "the late events changed nothing"


def test_score_command_appends_rows_and_writes_a_csv(
    trained, database_copy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DATABASE_URL": database_copy,
        "MLFLOW_TRACKING_URI": trained.mlflow_uri,
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    with session_scope(database_copy) as session:
        existing = session.scalar(select(func.count()).select_from(RiskScore))
    output = tmp_path / "carts.csv"
    result = CliRunner().invoke(
        score,
        [
            "--task",
            "cart-abandonment",
            "--as-of",
            trained.end.strftime("%Y-%m-%d"),
            "--output",
            str(output),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    with output.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["cart_id"] and row["model_version"] for row in rows)
    with session_scope(database_copy) as session:
        total = session.scalar(select(func.count()).select_from(RiskScore))
    assert total == existing + len(rows)


def test_critical_journeys_rank_the_generators_worst_cell_first(trained, tmp_path, make_app):
    cells = service.critical_journeys(
        trained.database_url, "brand_switch", period="30d", end=trained.end
    )
    first = cells[0]
    assert (first["segment"], first["product_category"]) == (
        PLANTED_WORST_CELL["segment"],
        PLANTED_WORST_CELL["product_category"],
    )
    revenue = [cell["revenue_at_risk"] for cell in cells]
    assert revenue == sorted(revenue, reverse=True)
    assert first["customers"] > 0 and 0 < first["mean_risk"] <= 1
    assert first["flagged"]

    app = make_app(trained.settings(tmp_path))
    headers = auth(create_token(trained.database_url, "cx-lead", "support"))
    query = {"task": "brand_switch", "period": "30d", "limit": 3, "end": trained.end.isoformat()}
    response = app.test_client().get("/v1/journeys/critical", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    top = body["journeys"][0]
    assert len(body["journeys"]) == 3
    assert [top[k] for k in ("stage", "segment", "product_category")] == [
        first[k] for k in ("stage", "segment", "product_category")
    ]
    assert top["revenue_at_risk"] == pytest.approx(first["revenue_at_risk"])
    bad = app.test_client().get("/v1/journeys/critical?period=month", headers=headers)
    assert bad.status_code == 422 and "period" in bad.get_json()["errors"]
