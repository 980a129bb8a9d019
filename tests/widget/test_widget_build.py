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


def test_precompressed_copies_decode_to_the_built_widget() -> None:
    import brotli

    script = BUILT_FILE.read_bytes()
    gz = BUILT_FILE.with_name("widget.js.gz").read_bytes()
    br = BUILT_FILE.with_name("widget.js.br").read_bytes()
    assert gzip.decompress(gz) == script, "widget.js.gz is stale: run scripts/build-widget"
    assert brotli.decompress(br) == script, "widget.js.br is stale: run scripts/build-widget"
    assert len(br) < len(gz) < len(script)


def test_widget_js_is_chosen_by_accept_encoding_and_varies_on_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    client = create_app(make_settings(tmp_path, sqlite_url)).test_client()
    script = BUILT_FILE.read_bytes()
    etags = set()
    for accept, coding, body in [
        ("gzip, deflate, br", "br", BUILT_FILE.with_name("widget.js.br").read_bytes()),
        ("gzip", "gzip", BUILT_FILE.with_name("widget.js.gz").read_bytes()),
        ("br;q=0, gzip;q=0.5", "gzip", BUILT_FILE.with_name("widget.js.gz").read_bytes()),
        ("identity", None, script),
        ("", None, script),
    ]:
        response = client.get("/widget.js", headers={"Accept-Encoding": accept})
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding") == coding, accept
        assert response.data == body
        assert "Accept-Encoding" in response.headers["Vary"]
        etags.add(response.headers["ETag"])
    # One ETag per representation, so no cache mixes them up.
    assert len(etags) == 3


def test_the_versioned_widget_url_is_immutable_and_an_old_one_redirects(
    tmp_path: Path, sqlite_url: str
) -> None:
    import hashlib

    client = create_app(make_settings(tmp_path, sqlite_url)).test_client()
    version = hashlib.sha256(BUILT_FILE.read_bytes()).hexdigest()[:12]
    response = client.get(f"/widget.{version}.js", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in response.headers["Vary"]
    plain = client.get("/widget.js")
    assert "immutable" not in plain.headers["Cache-Control"]
    assert "max-age=3600" in plain.headers["Cache-Control"]
    old = client.get("/widget.0123456789ab.js")
    assert old.status_code == 302
    assert old.headers["Location"].endswith(f"/widget.{version}.js")
    assert "immutable" not in old.headers["Cache-Control"]
