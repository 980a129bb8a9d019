"""The period read (attribution, channels per stage): through Arrow it gives the same frames
as through SQLAlchemy, and a result Arrow's type inference cannot take falls back to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert, select

import shared.db.arrow_read as arrow_read
import shared.journey_loader as journey_loader
from shared.db.session import session_scope
from shared.db.tables import JourneyEvent
from shared.journey_frames import PERIOD_EVENT_COLUMNS, PERIOD_RESPONSE_COLUMNS
from shared.journey_loader import load_period_frames
from tests.conftest import make_sqlite_url
from training.synth import generate

END = datetime(2026, 6, 1, tzinfo=UTC)
SINCE = END - timedelta(days=60)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> str:
    url = make_sqlite_url(tmp_path_factory.mktemp("period"))
    generate(url, customers=150, days=120, seed=5, end=END, progress=False)
    return url


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({c: object for c in frame.columns if frame[c].dtype == "category"})
    frame = frame.astype({c: object for c in frame.columns if frame[c].dtype == object})
    return frame.where(frame.notna(), None).reset_index(drop=True)


def _through_sqlalchemy(url: str, monkeypatch) -> journey_loader.PeriodFrames:
    with monkeypatch.context() as patch:
        patch.setattr(journey_loader, "read_arrow", lambda *_args: None)
        return load_period_frames(url, SINCE, END)


def test_the_arrow_read_equals_the_sqlalchemy_read(shop, monkeypatch) -> None:
    fast = load_period_frames(shop, SINCE, END)
    sure = _through_sqlalchemy(shop, monkeypatch)
    assert len(fast.events) > 1000 and len(fast.responses) > 10
    assert list(fast.events.columns) == list(PERIOD_EVENT_COLUMNS)
    assert list(fast.responses.columns) == list(PERIOD_RESPONSE_COLUMNS)
    pd.testing.assert_frame_equal(_comparable(fast.events), _comparable(sure.events))
    pd.testing.assert_frame_equal(_comparable(fast.responses), _comparable(sure.responses))
    assert fast.events["occurred_at"].is_monotonic_increasing
    assert fast.events["occurred_at"].min() >= SINCE and fast.events["occurred_at"].max() < END


def test_a_column_empty_in_the_first_rows_falls_back_to_the_sure_read(
    tmp_path, monkeypatch
) -> None:
    url = make_sqlite_url(tmp_path)
    rows = [
        {
            "event_id": f"e{i}",
            "customer_id": f"c{i}",
            "type": "page_view",
            # The first rows have no cart: Arrow's inference calls the column a number.
            "cart_id": None if i < 5 else f"k{i}",
            "occurred_at": SINCE + timedelta(hours=i),
        }
        for i in range(10)
    ]
    with session_scope(url) as session:
        session.execute(insert(JourneyEvent), rows)
    monkeypatch.setattr(arrow_read, "BATCH_ROWS", 2)
    frames = load_period_frames(url, SINCE, END)
    assert list(frames.events["cart_id"].iloc[5:]) == [f"k{i}" for i in range(5, 10)]
    assert frames.events["cart_id"].iloc[:5].isna().all()


def test_the_fallback_is_taken_only_when_arrow_cannot_read(tmp_path, monkeypatch) -> None:
    url = make_sqlite_url(tmp_path)
    with session_scope(url) as session:
        session.execute(
            insert(JourneyEvent),
            [
                {
                    "event_id": f"e{i}",
                    "type": "page_view",
                    "cart_id": None if i < 5 else f"k{i}",
                    "occurred_at": SINCE + timedelta(hours=i),
                }
                for i in range(10)
            ],
        )
    stmt = select(JourneyEvent.cart_id).order_by(JourneyEvent.occurred_at)
    assert arrow_read.read_arrow(url, stmt).num_rows == 10
    monkeypatch.setattr(arrow_read, "BATCH_ROWS", 2)
    assert arrow_read.read_arrow(url, stmt) is None
