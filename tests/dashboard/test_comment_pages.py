"""The feedback page's comments are paged by signed cursors, like every other list, and the
satisfaction figures beside them are the ones of shared.metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from model_service.dashboard.feedback_figures import (
    FeedbackFilter,
    feedback_by_stage,
    search_comments,
)
from shared import metrics
from shared.db.session import session_scope
from shared.db.tables import Response, Survey

START = datetime(2026, 10, 1, tzinfo=UTC)
SCORES = [(10, 5, 7), (9, 4, 6), (8, 3, 2), (6, 1, 1), (0, 2, None), (None, 4, 5), (3, None, 4)]


def _seed(database_url: str, n: int) -> None:
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
        session.add_all(
            Response(
                response_id=f"r-{i:03d}",
                survey_id=survey_id,
                survey_key="post_purchase",
                customer_id=f"c-{i}",
                stage="purchase",
                answers={},
                nps=SCORES[i % len(SCORES)][0],
                csat=SCORES[i % len(SCORES)][1],
                ces=SCORES[i % len(SCORES)][2],
                comment=f"comment {i}",
                body_hash=f"h{i}",
                # Pairs share a moment: the response id breaks the tie.
                submitted_at=START + timedelta(hours=i // 2),
            )
            for i in range(n)
        )


@pytest.fixture
def app_context():
    app = Flask(__name__)
    app.secret_key = "test"
    with app.app_context():
        yield


def test_comments_page_by_signed_cursor_and_a_forged_one_shows_the_first_page(
    database_url: str, app_context
) -> None:
    _seed(database_url, 35)
    flt = FeedbackFilter(period="all")
    seen, cursor = [], None
    with session_scope(database_url) as session:
        while True:
            page = search_comments(session, None, flt, cursor, limit=10)
            seen += [row.response_id for row in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"r-{i:03d}" for i in reversed(range(35))]
        first = search_comments(session, None, flt, None, limit=10)
        for forged in ("2026-10-01T00:00:00+00:00|r-020", first.next_cursor[:-1] + "x"):
            page = search_comments(session, None, flt, forged, limit=10)
            assert [row.response_id for row in page.rows] == [r.response_id for r in first.rows]


def test_feedback_figures_are_the_shared_definitions(database_url: str) -> None:
    _seed(database_url, 14)
    with session_scope(database_url) as session:
        (row,) = feedback_by_stage(session, FeedbackFilter(period="all"))
    answers = [SCORES[i % len(SCORES)] for i in range(14)]
    assert row["nps"] == metrics.nps([a[0] for a in answers])
    assert row["csat"] == metrics.csat([a[1] for a in answers])
    assert row["ces"] == metrics.ces([a[2] for a in answers])
    assert row["responses"] == 14
