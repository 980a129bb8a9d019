"""``kundresa export ... --format parquet``: Parquet by day that re-imports to the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
from click.testing import CliRunner
from sqlalchemy import select

from kundresa.cli import main
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import JourneyEvent, Response
from tests.conftest import make_sqlite_url

END = datetime(2026, 10, 1, tzinfo=UTC)


def _events(url: str) -> list[tuple]:
    with session_scope(url) as session:
        rows = session.execute(select(JourneyEvent).order_by(JourneyEvent.event_id)).scalars()
        return [
            (e.event_id, e.customer_id, e.visitor_id, e.type, e.stage, e.channel,
             e.product_category, e.value, e.cart_id, e.order_id, e.device,
             e.occurred_at, e.properties)
            for e in rows
        ]  # fmt: skip


def _responses(url: str) -> list[tuple]:
    with session_scope(url) as session:
        rows = session.execute(select(Response).order_by(Response.response_id)).scalars()
        return [
            (r.response_id, r.survey_key, r.customer_id, r.visitor_id, r.stage, r.cart_id,
             r.order_id, r.locale, r.answers, r.nps, r.csat, r.ces, r.reason, r.comment,
             r.submitted_at)
            for r in rows
        ]  # fmt: skip


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_export_re_imports_to_the_same_rows(tmp_path: Path) -> None:
    from training.synth import generate

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = make_sqlite_url(tmp_path / "a")
    target = make_sqlite_url(tmp_path / "b")
    generate(source, customers=25, days=90, seed=3, end=END, progress=False)
    folder = tmp_path / "export"
    _invoke("export", "events", "orders", "responses", "--format", "parquet", str(folder),
            "--database-url", source)  # fmt: skip
    days = sorted(p.name for p in (folder / "events").iterdir())
    assert days and all(d.startswith("day=") for d in days)
    assert ds.dataset(folder / "events", partitioning="hive").count_rows() == len(_events(source))

    _invoke("import", "events", str(folder / "events"), "--database-url", target)
    _invoke("import", "responses", str(folder / "responses"), "--database-url", target)
    assert _events(target) == _events(source)
    assert _responses(target) == _responses(source)
    # Importing the same export again adds nothing.
    _invoke("import", "events", str(folder / "events"), "--database-url", target)
    assert len(_events(target)) == len(_events(source))
    dispose_engines()


def test_orders_export_in_the_order_importers_columns(tmp_path: Path) -> None:
    from training.synth import generate

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = make_sqlite_url(tmp_path / "a")
    target = make_sqlite_url(tmp_path / "b")
    generate(source, customers=15, days=60, seed=5, end=END, progress=False)
    folder = tmp_path / "export"
    _invoke("export", "orders", str(folder), "--database-url", source, "--until", "2026-09-15")
    _invoke("import", "orders", str(folder / "orders"), "--database-url", target)

    def purchases(url: str) -> list[tuple]:
        with session_scope(url) as session:
            return sorted(
                session.execute(
                    select(
                        JourneyEvent.customer_id, JourneyEvent.occurred_at, JourneyEvent.value,
                        JourneyEvent.product_category,
                    ).where(JourneyEvent.type == "purchase", JourneyEvent.customer_id.is_not(None),
                            JourneyEvent.occurred_at < datetime(2026, 9, 15, tzinfo=UTC))
                ).all()
            )  # fmt: skip

    assert purchases(target) == purchases(source) != []
    dispose_engines()
