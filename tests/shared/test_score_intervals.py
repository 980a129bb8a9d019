"""Scores with their uncertainty: hand-computed intervals, and SQL and Python agreeing."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import insert, select

from shared.db.session import session_scope
from shared.db.tables import Response, Survey
from shared.metrics import (
    SatisfactionCounts,
    Score,
    ces_with_interval,
    csat_with_interval,
    differ,
    nps_with_interval,
    satisfaction_counts,
    share_score,
    wilson_interval,
)

Z = 1.959963984540054


def test_nps_interval_is_the_standard_error_of_the_difference_by_hand() -> None:
    # 5 promoters, 3 passives, 2 detractors: p+ = 0.5, p− = 0.2, NPS 30.
    answers = [10, 10, 9, 9, 9, 8, 7, 7, 6, 0]
    se = math.sqrt((0.5 + 0.2 - 0.3**2) / 10)  # 0.246982
    score = nps_with_interval(answers)
    assert score.value == 30.0
    assert (
        score.low == pytest.approx(30 - 100 * Z * se, abs=0.01) == pytest.approx(-18.41, abs=0.01)
    )
    assert score.high == pytest.approx(78.41, abs=0.01)
    assert (score.n, score.few) == (10, True)
    assert nps_with_interval(answers, minimum=10).few is False


def test_nps_interval_stays_on_the_scale_and_none_without_answers() -> None:
    lone = nps_with_interval([0])
    assert (lone.value, lone.low, lone.high, lone.n, lone.few) == (-100.0, -100.0, -100.0, 1, True)
    assert nps_with_interval([None]) == Score(None, None, None, 0, True)
    wide = nps_with_interval([10, 0])
    assert wide.low == -100.0 and wide.high == 100.0


def test_wilson_interval_of_eight_in_ten_by_hand() -> None:
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    csat = csat_with_interval([5, 5, 4, 4, 5, 4, 5, 4, 2, 1])
    assert csat.value == 80.0
    assert (csat.low, csat.high) == (pytest.approx(49.02, abs=0.01), pytest.approx(94.33, abs=0.01))
    # One satisfied answer is not "100 % for sure".
    one = share_score(1, 1)
    assert one.value == 100.0 and one.low == pytest.approx(20.65, abs=0.01) and one.high == 100.0


def test_ces_t_interval_by_hand() -> None:
    # mean 5, sample variance 0.5, se sqrt(0.5/5); t(0.975, 4) = 2.776445.
    score = ces_with_interval([4, 5, 6, 5, 5])
    half = 2.776445 * math.sqrt(0.5 / 5)
    assert score.value == 5.0
    assert (score.low, score.high) == (
        pytest.approx(5 - half, abs=1e-3),
        pytest.approx(5 + half, abs=1e-3),
    )
    assert ces_with_interval([7]).low == 1.0  # one answer: no spread, the whole scale


def test_a_change_is_a_change_only_when_the_intervals_do_not_overlap() -> None:
    before = Score(10.0, 0.0, 20.0, 100, False)
    assert differ(Score(30.0, 21.0, 39.0, 100, False), before)
    assert not differ(Score(25.0, 15.0, 35.0, 100, False), before)
    assert not differ(Score(None, None, None, 0, True), before)
    assert not differ(None, before)


def test_sql_counts_and_python_give_the_same_scores(database_url: str) -> None:
    rows = [(10, 5, 7), (9, 4, None), (7, 3, 2), (6, None, 1), (0, 1, 5), (None, 4, 3), (9, 5, 6)]
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
        session.execute(
            insert(Response),
            [
                {
                    "response_id": f"r-{i}",
                    "survey_id": survey_id,
                    "survey_key": "post_purchase",
                    "answers": {},
                    "nps": n,
                    "csat": c,
                    "ces": e,
                    "body_hash": f"h{i}",
                }
                for i, (n, c, e) in enumerate(rows)
            ],
        )
    with session_scope(database_url) as session:
        counted = session.execute(
            select(*satisfaction_counts(Response.nps, Response.csat, Response.ces))
        ).one()
    scores = SatisfactionCounts.of_row(counted).scores(minimum=5)
    assert scores["nps_score"] == nps_with_interval([r[0] for r in rows], minimum=5)
    assert scores["csat_score"] == csat_with_interval([r[1] for r in rows], minimum=5)
    python_ces = ces_with_interval([r[2] for r in rows], minimum=5)
    assert scores["ces_score"].value == python_ces.value
    assert scores["ces_score"].low == pytest.approx(python_ces.low, abs=1e-9)
    assert scores["ces_score"].high == pytest.approx(python_ces.high, abs=1e-9)
    assert scores["ces_score"].few is False and scores["nps_score"].n == 6
