"""The embeddable survey widget: ``/widget.js``, one script tag for a shop's pages (issue 5).

It is served precompressed (brotli or gzip, by Accept-Encoding, from the ``.br``/``.gz`` files
the build writes) at two addresses: ``/widget.js`` with a short cache, which shops embed, and
``/widget.<content hash>.js`` cached for a year as immutable (issue 16).

The JavaScript lives in ``src/`` and is built with esbuild (``scripts/build-widget``) into
``static/widget.js``, which is committed: a Python user needs no Node at run time. The built
file's header holds the sha256 of the sources, so a test can tell a stale build without Node.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, redirect, request, url_for

bp = Blueprint("widget", __name__)

WIDGET_DIR = Path(__file__).resolve().parent
BUILT_FILE = WIDGET_DIR / "static" / "widget.js"
# Besides src/, what changes the build: the build script and the pinned esbuild.
_HASHED_FILES = ("build.mjs", "package.json", "package-lock.json")
_HEADER = re.compile(rb"^/\*! Kundresa survey widget\. .* sha256:([0-9a-f]{64}) \*/")
# /widget.js has no version in it (shops embed it), so caches revalidate after an hour (cheap:
# ETag → 304). /widget.<hash>.js names one build's content: it never changes, cache it a year.
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_LENGTH = 12


def source_digest() -> str:
    """The sha256 of the widget's sources, the same recipe as ``sourceDigest`` in build.mjs."""
    files = sorted(
        [
            p.relative_to(WIDGET_DIR).as_posix()
            for p in (WIDGET_DIR / "src").rglob("*")
            if p.is_file()
        ]
        + list(_HASHED_FILES)
    )
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0")
        digest.update((WIDGET_DIR / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def built_digest(script: bytes) -> str | None:
    """The source digest recorded in a built widget's header, or None when it has none."""
    match = _HEADER.match(script)
    return match.group(1).decode() if match else None


@dataclass(frozen=True)
class BuiltWidget:
    """The built script and its precompressed copies, read once per build (by file time)."""

    identity: bytes
    encoded: dict[str, bytes]  # content coding ("br", "gzip") → that file's bytes
    version: str  # the script's content hash: the versioned URL's name


_cache: dict[str, tuple[float, BuiltWidget]] = {}


def built_widget() -> BuiltWidget:
    stamp = BUILT_FILE.stat().st_mtime
    cached = _cache.get("widget")
    if cached and cached[0] == stamp:
        return cached[1]
    script = BUILT_FILE.read_bytes()
    encoded = {}
    gz, br = (BUILT_FILE.with_name(BUILT_FILE.name + suffix) for suffix in (".gz", ".br"))
    # The build writes all three files together; copies from another build would serve other
    # code, so they are used only when the gzip copy decodes to this script (checking the
    # brotli one would need a brotli decoder at run time; tests/widget checks it).
    if gz.exists() and gzip.decompress(gz.read_bytes()) == script:
        encoded["gzip"] = gz.read_bytes()
        if br.exists():
            encoded["br"] = br.read_bytes()
    widget = BuiltWidget(script, encoded, hashlib.sha256(script).hexdigest()[:VERSION_LENGTH])
    _cache["widget"] = (stamp, widget)
    return widget


def versioned_url() -> str:
    """The widget's address with its content hash, cacheable for a year."""
    return url_for("widget.widget_versioned", version=built_widget().version)


def _choose_coding(widget: BuiltWidget) -> str | None:
    """The best coding the client accepts (q > 0) that we have precompressed, else None."""
    accepted = request.accept_encodings
    for coding in ("br", "gzip"):
        if coding in widget.encoded and accepted.quality(coding) > 0:
            return coding
    return None


def _serve(cache_control: str) -> Response:
    widget = built_widget()
    coding = _choose_coding(widget)
    body = widget.encoded[coding] if coding else widget.identity
    response = Response(body, mimetype="text/javascript")
    if coding:
        response.headers["Content-Encoding"] = coding
    response.vary.add("Accept-Encoding")
    # One ETag per representation: a cache must not answer a gzip request with brotli bytes.
    response.set_etag(f"{widget.version}-{coding or 'identity'}")
    response.headers["Cache-Control"] = cache_control
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Any shop may load it; it is public and carries no secrets.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@bp.get("/widget.js")
def widget_js() -> Response:
    return _serve(CACHE_CONTROL)


@bp.get("/widget.<version>.js")
def widget_versioned(version: str) -> Response:
    if version != built_widget().version:
        # An address from an older build: send the browser to today's, briefly cached, so an
        # old embed keeps working and never gets old code under a new name.
        response = redirect(versioned_url(), code=302)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
    return _serve(IMMUTABLE)
