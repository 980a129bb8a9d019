"""Critical journeys with their uncertainty: intervals and counts per score, a change only
beyond the noise, "first period" when there is nothing to compare with."""

from __future__ import annotations

from sqlalchemy import insert, select

from model_service import service
from shared.db.session import session_scope
from shared.db.tables import Response, RiskScore, Survey
from tests.model_service.test_critical_journeys import (
    DESIRE,
    END,
    PURCHASE,
    _answer,
    _by_cell,
    _day,
    _score,
    seed_two_periods,
)


def test_scores_have_intervals_counts_and_few_answers(database_url: str) -> None:
    seed_two_periods(database_url)
    cells = _by_cell(service.critical_journeys(database_url, period="10d", end=END))
    desire = cells[DESIRE]
    # NPS answers now: 10 and 3 (one promoter, one detractor): 0 ± 100·1.96·sqrt(1/2).
    assert desire["scores"]["nps"] == {
        "value": 0.0,
        "low": -100.0,
        "high": 100.0,
        "n": 2,
        "few_answers": True,
    }
    assert desire["scores_before"]["nps"]["n"] == 1
    # NPS went from −100 to 0, but from one and two answers: not a change.
    assert desire["nps_change"] == 100.0 and desire["changed"]["nps"] is False
    assert (desire["first_period"], desire["new_journey"]) == (False, False)
    # c3 was scored by the previous period's start, but in no cell then.
    assert cells[PURCHASE]["new_journey"] is True
    fewer = _by_cell(service.critical_journeys(database_url, period="10d", end=END, min_answers=2))
    assert fewer[DESIRE]["scores"]["nps"]["few_answers"] is False


def test_a_change_beyond_the_noise_is_a_change(database_url: str) -> None:
    scores = [_score(f"c{i}", "desire", 0.5, 100.0, _day(9, 15)) for i in range(40)]
    # 40 detractors in the previous period, 40 promoters in this one.
    answers = [_answer(f"c{i}", _day(9, 16), 0, 1, 1, None) for i in range(40)]
    answers += [_answer(f"c{i}", _day(9, 25), 10, 5, 7, None) for i in range(40)]
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
        session.execute(insert(RiskScore), scores)
        session.execute(insert(Response), [{**a, "survey_id": survey_id} for a in answers])
    (cell,) = service.critical_journeys(database_url, period="10d", end=END)
    assert cell["changed"] == {"nps": True, "csat": True, "ces": True}
    assert cell["scores"]["csat"]["few_answers"] is False


def test_without_an_earlier_scoring_every_row_is_the_first_period(database_url: str) -> None:
    with session_scope(database_url) as session:
        session.execute(insert(RiskScore), [_score("c1", "desire", 0.5, 100.0, _day(9, 30))])
    (cell,) = service.critical_journeys(database_url, period="10d", end=END)
    assert (cell["first_period"], cell["new_journey"]) == (True, False)
    assert cell["changed"] == {"nps": False, "csat": False, "ces": False}
