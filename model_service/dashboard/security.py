"""Response headers and error pages of the dashboard.

A strict Content-Security-Policy is the second wall behind Jinja's autoescaping: even if hostile
text ever reached the page as markup, no inline script or foreign source would run. Pages carry
personal data, so browsers and proxies must not cache them.
"""

from __future__ import annotations

import logging

from flask import abort, render_template, request
from flask_login import login_required
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound

from model_service.dashboard import bp

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@bp.before_request
def _refuse_nul_characters():
    """PostgreSQL cannot store or compare text holding NUL; no person types one. Refuse it
    here once, rather than let it reach a query as a 500."""
    values = [request.path, *request.args.values(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400)


@bp.after_request
def _secure_headers(response):
    # A view may narrow or widen it for its own page (the survey editor's widget preview).
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<path:unknown>")
@login_required
def unknown_page(unknown: str):
    raise NotFound()


@bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError):
    return render_template("dashboard/error.html", code=400, csrf=True), 400


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    code = error.code or 500
    return render_template("dashboard/error.html", code=code), code


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("dashboard error")
    return render_template("dashboard/error.html", code=500), 500
