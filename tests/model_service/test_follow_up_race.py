"""Agents taking the same customer at the same moment: the database lets exactly one win."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, insert, select

from model_service.app import create_app
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import Customer, FollowUp
from tests.conftest import make_settings
from tests.model_service.conftest import auth

TAKERS = 12


def test_parallel_takes_give_one_follow_up_and_409_for_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    with session_scope(database_url) as session:
        session.execute(insert(Customer), [{"id": "c-race"}])
    app = create_app(make_settings(tmp_path, database_url), start_polling=False)
    app.testing = True
    headers = auth(create_token(database_url, "agents", "support"))
    start = threading.Barrier(TAKERS)
    codes: list[int] = []

    def take() -> None:
        client = app.test_client()
        start.wait()
        response = client.post(
            "/v1/follow-ups",
            json={"customer_id": "c-race", "task": "brand_switch"},
            headers=headers,
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=take) for _ in range(TAKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(codes) == [201] + [409] * (TAKERS - 1)
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(FollowUp)) == 1
