"""The committed widget build: fresh, small, and served with caching headers; the demo shop
only in demo mode, on its own origin. No browser and no Node needed."""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Site
from survey_service.app import create_app
from survey_service.widget import BUILT_FILE, built_digest, source_digest
from tests.conftest import make_settings

MAX_GZIPPED_BYTES = 15 * 1024


def test_built_widget_matches_its_sources() -> None:
    recorded = built_digest(BUILT_FILE.read_bytes())
    assert recorded is not None, f"{BUILT_FILE} has no source digest header"
    assert recorded == source_digest(), (
        "survey_service/widget/static/widget.js is stale: run scripts/build-widget and commit it"
    )


def test_built_widget_is_under_15_kb_minified_and_gzipped() -> None:
    script = BUILT_FILE.read_bytes()
    size = len(gzip.compress(script, compresslevel=9))
    assert size < MAX_GZIPPED_BYTES, (
        f"widget.js is {size} bytes gzipped (limit {MAX_GZIPPED_BYTES})"
    )
    assert script.count(b"\n") <= 2, "widget.js does not look minified"


def test_widget_js_is_served_with_caching_headers_and_revalidates(
    tmp_path: Path, sqlite_url: str
) -> None:
    client = create_app(make_settings(tmp_path, sqlite_url)).test_client()
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.data == BUILT_FILE.read_bytes()
    assert "max-age=" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    again = client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_demo_shop_exists_only_in_demo_mode(tmp_path: Path, sqlite_url: str) -> None:
    plain = create_app(make_settings(tmp_path, sqlite_url)).test_client()
    assert plain.get("/demo/shop").status_code == 404
    demo = create_app(make_settings(tmp_path, sqlite_url, demo_mode=True)).test_client()
    page = demo.get("/demo/shop")
    assert page.status_code == 200
    assert b'src="/widget.js"' in page.data


def test_demo_shop_allows_the_origin_it_is_served_from(tmp_path: Path, sqlite_url: str) -> None:
    client = create_app(make_settings(tmp_path, sqlite_url, demo_mode=True)).test_client()
    for path in ("/demo/shop", "/demo/shop/cart", "/demo/shop/checkout", "/demo/shop/confirmation"):
        assert client.get(path, base_url="http://127.0.0.1:8123").status_code == 200
    client.get("/demo/shop", base_url="http://shop.example:9000")
    with session_scope(sqlite_url) as session:
        sites = session.scalars(select(Site).where(Site.name == "Demo shop")).all()
        assert len(sites) == 1
        assert sites[0].allowed_origins == ["http://127.0.0.1:8123", "http://shop.example:9000"]
        key = sites[0].site_key
    assert f'data-site-key="{key}"'.encode() in client.get("/demo/shop").data
    assert client.get("/demo/shop/nowhere").status_code == 404
