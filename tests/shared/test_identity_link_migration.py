"""Migration 0004 starts the link history from the current links and keeps old audit lines."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from shared.db.migrate import downgrade, upgrade
from shared.db.session import dispose_engines, normalise_url
from tests.shared.test_migrations import empty_database  # noqa: F401  (the fixture)


def _run(url: str, *statements: str) -> list[tuple]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as connection:
            result = [connection.execute(text(s)) for s in statements][-1]
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_each_current_link_becomes_one_open_link(empty_database: str) -> None:  # noqa: F811
    upgrade(empty_database, "0002")
    _run(
        empty_database,
        "INSERT INTO customers (id, consent, created_at) VALUES ('c-1', false, '2026-11-01')",
        "INSERT INTO identities (visitor_id, customer_id, linked_at) "
        "VALUES ('phone', 'c-1', '2026-11-02 10:00:00')",
        "INSERT INTO privacy_requests (customer_id, kind, requested_by, created_at) "
        "VALUES ('c-1', 'export', 'admin', '2026-11-03')",
    )
    dispose_engines()
    upgrade(empty_database, "0004")
    links = _run(
        empty_database,
        "SELECT visitor_id, customer_id, unlinked_at IS NULL FROM identity_links",
    )
    assert links == [("phone", "c-1", True)]
    requests = _run(empty_database, "SELECT customer_id, customer_digest FROM privacy_requests")
    assert requests == [("c-1", None)]
    dispose_engines()
    downgrade(empty_database, "0002")
    assert _run(empty_database, "SELECT customer_id FROM privacy_requests") == [("c-1",)]
