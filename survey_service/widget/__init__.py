"""The embeddable survey widget: ``/widget.js``, one script tag for a shop's pages (issue 5).

The JavaScript lives in ``src/`` and is built with esbuild (``scripts/build-widget``) into
``static/widget.js``, which is committed: a Python user needs no Node at run time. The built
file's header holds the sha256 of the sources, so a test can tell a stale build without Node.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Blueprint, Response, request

bp = Blueprint("widget", __name__)

WIDGET_DIR = Path(__file__).resolve().parent
BUILT_FILE = WIDGET_DIR / "static" / "widget.js"
# Besides src/, what changes the build: the build script and the pinned esbuild.
_HASHED_FILES = ("build.mjs", "package.json", "package-lock.json")
_HEADER = re.compile(rb"^/\*! Kundresa survey widget\. .* sha256:([0-9a-f]{64}) \*/")
# The URL has no version in it, so caches revalidate after an hour (cheap: ETag → 304).
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"


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


def _built_script() -> tuple[bytes, str]:
    script = BUILT_FILE.read_bytes()
    return script, hashlib.sha256(script).hexdigest()[:32]


@bp.get("/widget.js")
def widget_js() -> Response:
    script, etag = _built_script()
    response = Response(script, mimetype="text/javascript")
    response.set_etag(etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Any shop may load it; it is public and carries no secrets.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)
