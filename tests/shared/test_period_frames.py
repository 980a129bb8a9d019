"""The period read (attribution, channels per stage): the events and answers of the period
only, in time order, with the columns asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.journey_frames import PERIOD_EVENT_COLUMNS, PERIOD_RESPONSE_COLUMNS
from shared.journey_loader import load_journey_frames, load_period_frames
from tests.conftest import make_sqlite_url
from training.synth import generate

END = datetime(2026, 6, 1, tzinfo=UTC)
SINCE = END - timedelta(days=60)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> str:
    url = make_sqlite_url(tmp_path_factory.mktemp("period"))
    generate(url, customers=150, days=120, seed=5, end=END, progress=False)
    return url


def test_the_period_read_holds_the_period_in_time_order_as_the_feature_loader_sees_it(
    shop,
) -> None:
    period = load_period_frames(shop, SINCE, END)
    assert list(period.events.columns) == list(PERIOD_EVENT_COLUMNS)
    assert list(period.responses.columns) == list(PERIOD_RESPONSE_COLUMNS)
    assert len(period.events) > 1000 and len(period.responses) > 10
    assert period.events["occurred_at"].is_monotonic_increasing
    assert period.events["occurred_at"].min() >= SINCE
    assert period.events["occurred_at"].max() < END
    # Whose each event is: as the feature loader resolves it at the same cutoff.
    full = load_journey_frames(shop, END, since=SINCE)
    assert len(full.events) == len(period.events)
    assert sorted(full.events["customer_id"].dropna()) == sorted(
        period.events["customer_id"].dropna()
    )


def test_only_the_columns_asked_for_and_no_answers_when_none_are_wanted(shop) -> None:
    columns = ("customer_id", "visitor_id", "type", "occurred_at")
    period = load_period_frames(shop, SINCE, END, answers=False, columns=columns)
    assert list(period.events.columns) == list(columns)
    assert period.responses.empty
    assert list(period.responses.columns) == list(PERIOD_RESPONSE_COLUMNS)
