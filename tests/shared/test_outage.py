"""A database outage answers 503 with Retry-After in the one error format, is logged once when
it starts and once when it ends (no traceback per request), and SQL parameters never reach a
log or an answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from shared.auth import auth
from shared.db.reachability import REACHABILITY, Reachability, is_outage
from shared.db.session import dispose_engines, get_engine
from shared.web import StrictBlueprint, create_api, current_settings, db_session
from tests.conftest import make_settings
from tests.ports import free_port


def _app(tmp_path: Path, database_url: str, **overrides: object) -> Flask:
    app = Flask(__name__)
    api = create_api(
        app, "Outage test API", "1.0", make_settings(tmp_path, database_url, **overrides)
    )
    blp = StrictBlueprint("outage", __name__, url_prefix="/outage")

    @blp.route("/query", methods=["GET"])
    def query():
        return {"one": db_session().execute(text("SELECT :secret"), {"secret": 1}).scalar()}

    @blp.route("/raw", methods=["GET"])
    def raw():
        # As the survey service's write path does: the driver's own error, unwrapped.
        get_engine(current_settings().database_url).raw_connection().close()
        return {}

    @blp.route("/secret", methods=["GET"])
    @auth("admin")
    def secret():
        return {}

    api.register_blueprint(blp)
    return app


@pytest.fixture
def unreachable_url() -> Iterator[str]:
    """A PostgreSQL URL on a loopback port nobody listens on: connecting is refused at once."""
    yield f"postgresql://kundresa:hunter2@127.0.0.1:{free_port()}/nowhere"
    dispose_engines()


@pytest.fixture(autouse=True)
def _reachable_again() -> Iterator[None]:
    REACHABILITY._down = False
    yield
    REACHABILITY._down = False


def test_an_unreachable_database_answers_503_with_retry_after_logged_once(
    tmp_path: Path, unreachable_url: str, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = _app(tmp_path, unreachable_url, outage_retry_after_seconds=7).test_client()
    caplog.set_level(logging.INFO)
    answers = [client.get("/outage/query") for _ in range(3)]
    answers.append(client.get("/outage/raw"))
    answers.append(client.get("/outage/secret", headers={"Authorization": "Bearer kr_x"}))
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "7"
        body = answer.get_json()
        assert body["code"] == 503 and "retry" in body["message"]
        assert "hunter2" not in answer.get_data(as_text=True)
    logged = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert "database unreachable" in logged[0].getMessage()
    assert logged[0].exc_info is None, "no traceback per outage, let alone per request"

    # A connection to a database that answers ends the outage, in one line.
    caplog.clear()
    healthy = _app(tmp_path, sqlite_url).test_client()
    assert healthy.get("/outage/query").status_code == 200
    assert healthy.get("/outage/query").status_code == 200
    back = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert back == ["database reachable again"]


def test_readyz_is_503_without_details_while_the_database_is_unreachable(
    tmp_path: Path, unreachable_url: str
) -> None:
    client = _app(tmp_path, unreachable_url).test_client()
    answer = client.get("/readyz", headers={"Authorization": "Bearer kr_x"})
    assert answer.status_code == 503 and answer.get_json() == {"status": "not ready"}


def test_a_query_error_that_is_no_outage_stays_a_500(tmp_path: Path, sqlite_url: str) -> None:
    app = _app(tmp_path, sqlite_url)
    blp = StrictBlueprint("broken", __name__, url_prefix="/broken")

    @blp.route("/", methods=["GET"])
    def broken():
        db_session().execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "personal"})

    app.register_blueprint(blp)
    answer = app.test_client().get("/broken/")
    assert answer.status_code == 500
    assert "personal" not in answer.get_data(as_text=True)


def test_engines_hide_sql_parameters(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    with pytest.raises(Exception) as raised, engine.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "personal"})
    assert "personal" not in str(raised.value)
    assert engine.hide_parameters


def test_reachability_logs_each_change_once(caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy.exc import OperationalError

    state = Reachability()
    error = OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    assert is_outage(error)
    caplog.set_level(logging.INFO, logger="shared.db.reachability")
    state.regained()
    for _ in range(5):
        state.lost(error)
    for _ in range(5):
        state.regained()
    state.lost(error)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("database unreachable") and "refused" in messages[0]
    assert messages[1] == "database reachable again"
    assert state.down
