"""Importing order history and journey events from CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from shared.db.session import get_engine, session_scope
from shared.db.tables import Customer, JourneyEvent
from training.cli import import_group
from training.importers import CsvOptions, ImportFailed, import_events, import_orders

ORDERS = """\
customer_id,timestamp,amount,order_id,quantity,category
c1,2026-01-05T10:00:00,120.50,o-1,1,shoes
c1,2026-02-11T09:30:00,80,o-2,2,shoes
c2,2026-01-20,35.90,o-3,,books
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(database_url: str, table=JourneyEvent) -> int:
    with get_engine(database_url).connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_orders_become_purchases_of_new_customers(database_url, tmp_path):
    path = _write(tmp_path, "orders.csv", ORDERS)
    options = CsvOptions(columns={"product_category": "category", "order_id": "order_id",
                                  "quantity": "quantity"})  # fmt: skip
    report = import_orders(database_url, path, options)
    assert (report.rows, report.imported, report.bad, report.new_customers) == (3, 3, 0, 2)
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(
            select(JourneyEvent.customer_id, JourneyEvent.type, JourneyEvent.value,
                   JourneyEvent.order_id, JourneyEvent.product_category)
            .order_by(JourneyEvent.occurred_at)
        ).all()  # fmt: skip
    assert rows[0] == ("c1", "purchase", 120.5, "o-1", "shoes")
    assert {r.customer_id for r in rows} == {"c1", "c2"}
    assert _count(database_url, Customer) == 2


def test_reimporting_the_same_file_adds_nothing(database_url, tmp_path):
    without_ids = (
        "customer_id,timestamp,amount\nc1,2026-01-05,10\nc1,2026-01-05,10\nc2,2026-01-06,5\n"
    )
    path = _write(tmp_path, "orders.csv", without_ids)
    first = import_orders(database_url, path)
    assert first.imported == 3  # two identical orders on one day are two orders
    second = import_orders(database_url, path)
    assert (second.imported, second.already_present) == (0, 3)
    assert _count(database_url) == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(database_url, tmp_path):
    text = (
        "customer_id,timestamp,amount\n"
        "c1,2026-01-05,10\n"
        "c2,2026-13-40,12\n"
        "c3,2026-01-07,abc\n"
        ",2026-01-08,3\n"
        "c4,2026-01-09,7\n"
    )
    path = _write(tmp_path, "orders.csv", text)
    with pytest.raises(ImportFailed) as failed:
        import_orders(database_url, path)
    assert failed.value.errors == [
        "line 3: timestamp '2026-13-40' does not match ISO 8601 (2026-03-01T12:30:00)",
        "line 4: amount 'abc' is not a number",
        "line 5: customer id is empty",
    ]
    assert _count(database_url) == 0
    assert _count(database_url, Customer) == 0


def test_skip_bad_keeps_the_good_rows_and_lists_the_bad(database_url, tmp_path):
    text = "customer_id,timestamp,amount\nc1,2026-01-05,10\nc2,2026-01-06,ten\nc3,2026-01-07,3\n"
    report = import_orders(database_url, _write(tmp_path, "o.csv", text), skip_bad=True)
    assert (report.imported, report.bad) == (2, 1)
    assert report.errors == ["line 3: amount 'ten' is not a number"]
    assert _count(database_url) == 2


def test_column_mapping_date_format_and_delimiter(sqlite_url, tmp_path):
    text = "kund;datum;belopp\nk-1;05/01/2026 14:30;1 234,50\n"
    options = CsvOptions(
        columns={"customer_id": "kund", "timestamp": "datum", "amount": "belopp"},
        date_format="%d/%m/%Y %H:%M",
        delimiter=";",
    )
    report = import_orders(sqlite_url, _write(tmp_path, "o.csv", text), options)
    assert report.imported == 1
    with get_engine(sqlite_url).connect() as conn:
        value, at = conn.execute(select(JourneyEvent.value, JourneyEvent.occurred_at)).one()
    assert value == 1234.5
    assert (at.year, at.month, at.day, at.hour, at.minute) == (2026, 1, 5, 14, 30)


def test_a_missing_column_is_named(sqlite_url, tmp_path):
    path = _write(tmp_path, "o.csv", "customer,timestamp,amount\nc1,2026-01-01,1\n")
    with pytest.raises(ImportFailed) as failed:
        import_orders(sqlite_url, path)
    assert "column 'customer_id'" in failed.value.errors[0]
    assert failed.value.errors[0].startswith("line 1:")


def test_events_are_validated_against_the_journey_model(database_url, tmp_path):
    text = (
        "event_id,visitor_id,type,timestamp,channel,value,cart_id\n"
        "e1,v1,add_to_cart,2026-03-01T10:00:00Z,paid_search,50,k1\n"
        "e2,v1,teleport,2026-03-01T10:05:00Z,,,k1\n"
        "e3,v1,checkout_started,2026-03-01T10:06:00Z,carrier_pigeon,,k1\n"
    )
    path = _write(tmp_path, "events.csv", text)
    with pytest.raises(ImportFailed) as failed:
        import_events(database_url, path)
    assert failed.value.errors[0].startswith("line 3: type 'teleport' is not one of")
    assert len(failed.value.errors) == 1  # an unknown channel is no error: it is kept as other
    report = import_events(database_url, path, skip_bad=True)
    assert report.imported == 2 and report.other_channels == 1
    with session_scope(database_url) as session:
        channel = session.scalar(select(JourneyEvent.channel).where(JourneyEvent.event_id == "e3"))
    assert channel == "other"
    again = import_events(database_url, path, skip_bad=True)
    assert again.imported == 0 and again.already_present == 2


def test_import_command_prints_line_numbers_and_exits_nonzero(sqlite_url, tmp_path):
    path = _write(tmp_path, "o.csv", "id,when,sum\nc1,2026-01-01,1\nc2,2026-01-02,x\n")
    args = ["orders", str(path), "--customer-column", "id", "--time-column", "when",
            "--amount-column", "sum", "--database-url", sqlite_url]  # fmt: skip
    result = CliRunner().invoke(import_group, args)
    assert result.exit_code == 1
    assert "import: line 3: amount 'x' is not a number" in result.output
    assert "nothing was imported" in result.output
    result = CliRunner().invoke(import_group, [*args, "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 of 2 rows" in result.output


def test_imported_order_history_alone_trains_a_brand_switch_model(
    sqlite_url, shop_mlflow, tmp_path
):
    """A shop with only its order history (no surveys, no journey events) can still train."""
    import random
    from datetime import UTC, datetime, timedelta

    from training.train import train

    rng = random.Random(2)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    lines = ["customer,ordered_at,total"]
    for number in range(500):
        at = start + timedelta(days=rng.uniform(0, 200))
        mean_gap = rng.uniform(15, 60)
        leaves_after = rng.randint(1, 12)
        for _ in range(leaves_after):
            if at > start + timedelta(days=450):
                break
            lines.append(f"k{number},{at:%Y-%m-%d %H:%M},{rng.uniform(20, 200):.2f}")
            at += timedelta(days=rng.expovariate(1 / mean_gap))
    path = _write(tmp_path, "history.csv", "\n".join(lines) + "\n")
    options = CsvOptions(
        columns={"customer_id": "customer", "timestamp": "ordered_at", "amount": "total"},
        date_format="%Y-%m-%d %H:%M",
    )
    assert import_orders(sqlite_url, path, options).bad == 0

    result = train(sqlite_url, "brand_switch", tracking_uri=shop_mlflow.mlflow_uri, register=False)
    assert result.version is None
    assert result.metrics["roc_auc"] > 0.65


def test_declared_numeric_properties_of_events_are_imported(sqlite_url, tmp_path):
    text = (
        "visitor_id,type,timestamp,cart_id,page_value,price,discount,colour\n"
        "v1,product_view,2026-03-01T10:00:00Z,,2.5,49.9,,red\n"
        "v1,discount_shown,2026-03-01T10:01:00Z,,,,10,\n"
        "v1,exit_intent,2026-03-01T10:02:00Z,k1,,,,\n"
    )
    report = import_events(sqlite_url, _write(tmp_path, "events.csv", text))
    assert report.imported == 3
    with get_engine(sqlite_url).connect() as conn:
        rows = dict(conn.execute(select(JourneyEvent.type, JourneyEvent.properties)).all())
    assert rows["product_view"] == {"source": "import", "page_value": 2.5, "price": 49.9}
    assert rows["discount_shown"] == {"source": "import", "discount": 10.0}
    assert rows["exit_intent"] == {"source": "import"}  # undeclared columns are not kept
