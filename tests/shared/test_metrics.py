"""NPS, CSAT and CES as the dashboard and the survey API compute them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.metrics import ces, csat, nps, nps_category, period_start, top_reasons


def test_nps_is_promoters_minus_detractors_in_percent() -> None:
    assert nps([10, 9, 8, 7, 6, 0]) == pytest.approx(0.0)
    assert nps([10, 10, 9, 3]) == 50.0
    assert nps([None, float("nan")]) is None
    assert [nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]


def test_csat_is_the_share_of_four_and_five_and_ces_the_mean() -> None:
    assert csat([5, 4, 3, 1]) == 50.0
    assert csat([]) is None
    assert ces([1, 7, None]) == 4.0
    assert ces([]) is None


def test_top_reasons_are_the_most_common_first() -> None:
    reasons = ["price", "shipping", "price", None, "trust", "shipping", "price"]
    assert top_reasons(reasons, n=2) == [("price", 3), ("shipping", 2)]


def test_periods_start_on_the_first_day() -> None:
    moment = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # a Thursday
    assert period_start(moment, "day") == date(2026, 11, 26)
    assert period_start(moment, "week") == date(2026, 11, 23)
    assert period_start(moment, "month") == date(2026, 11, 1)
    assert period_start(moment, "all") is None
    with pytest.raises(ValueError):
        period_start(moment, "decade")


def test_the_sql_counts_give_the_python_figures() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

    from shared.metrics import SatisfactionCounts, satisfaction_counts

    answers = Table(
        "answers",
        MetaData(),
        Column("nps", Integer),
        Column("csat", Integer),
        Column("ces", Integer),
    )
    rows = [(10, 5, 7), (9, 4, None), (7, 3, 2), (6, None, 1), (0, 1, 5), (None, 4, 3)]
    engine = create_engine("sqlite://")
    answers.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(answers), [dict(zip(("nps", "csat", "ces"), r, strict=True)) for r in rows]
        )
        counted = connection.execute(
            select(*satisfaction_counts(answers.c.nps, answers.c.csat, answers.c.ces))
        ).one()
    counts = SatisfactionCounts.of_row(counted)
    assert counts.nps == nps([r[0] for r in rows]) == 0.0
    assert counts.csat == csat([r[1] for r in rows]) == 60.0
    assert counts.ces == ces([r[2] for r in rows]) == 3.6
    assert counts.figures()["responses"] == len(rows)
    assert SatisfactionCounts().figures()["nps"] is None
