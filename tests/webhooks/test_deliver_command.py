"""``kundresa webhooks deliver``: one round of fan-out and sending, from the command line."""

from __future__ import annotations

from click.testing import CliRunner

from kundresa.cli import main
from shared.db.session import session_scope
from shared.outbox import enqueue
from shared.webhooks.endpoints import create_endpoint
from tests.webhooks.test_delivery import sqlite_only


@sqlite_only
def test_deliver_sends_what_is_due_once(settings, receivers, tmp_path) -> None:
    receiver = receivers()
    create_endpoint(settings, url=receiver.url, events=["model.promoted"], created_by="a")
    with session_scope(settings.database_url) as session:
        enqueue(session, "model.promoted", {"task": "t", "version": "5"})
    env = {
        "DATABASE_URL": settings.database_url,
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": settings.secret_key,
        "KUNDRESA_WEBHOOKS_ALLOW_PRIVATE": "1",
    }
    first = CliRunner().invoke(main, ["webhooks", "deliver"], env=env)
    assert first.exit_code == 0, first.output
    assert "deliveries made 1, attempts 1: delivered 1" in first.output
    again = CliRunner().invoke(main, ["webhooks", "deliver"], env=env)
    assert "attempts 0" in again.output
    assert len(receiver.received) == 1


def test_the_worker_finds_deliver_due_where_it_looks() -> None:
    """kundresa/scheduled.py looks up ``deliver_due`` on the ``shared.webhooks`` package."""
    import importlib

    from shared.webhooks.delivery import deliver_due

    assert getattr(importlib.import_module("shared.webhooks"), "deliver_due", None) is deliver_due
