"""What every Flask app of Kundresa has in common: the OpenAPI-documented API object, one error
format, the settings extension, a database session per request, body-size limits, health and
readiness probes, Prometheus metrics and JSON logs.

One error format everywhere: ``{"code": 422, "message": "...", "errors": {"field": ["..."]}}``,
where nested fields are dotted (``events.3.occurred_at``) so a user can find the culprit. The
OpenAPI document describes that body (``ErrorSchema``), and the domain's refusals
(``shared.errors``) become status codes here and nowhere else (``STATUS``).

Failure tells the client what to do: a database that cannot be reached is 503 with
``Retry-After`` (logged once per outage, ``shared.db.reachability``), a body that is not JSON
415, and the token is checked before the body (``shared.auth.install_authentication``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from http import HTTPStatus
from typing import Any

import swagger_ui_bundle
from flask import Blueprint as FlaskBlueprint
from flask import Flask, current_app, g, jsonify
from flask_smorest import Api, Blueprint, abort
from flask_smorest.response import ResponseMixin
from marshmallow import RAISE, Schema, fields
from sqlalchemy import text
from sqlalchemy.orm import Session
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.api_doc import SchemaRulesPlugin, dict_size, document_edges
from shared.db.reachability import REACHABILITY, is_outage
from shared.db.session import get_engine, session_factory
from shared.errors import Conflict, Invalid, KundresaError, NotFound
from shared.observability import configure_logging, install_metrics
from shared.settings import Settings

log = logging.getLogger(__name__)

# Webargs reports errors by location ({"json": {...}}); users care about the field only.
_LOCATIONS = {"json", "query", "querystring", "form", "headers", "files", "view_args", "path"}


class StrictParser(FlaskParser):
    """Unknown query parameters are refused like unknown body fields."""

    # None defers to each schema's Meta.unknown, which is RAISE for every request schema.
    DEFAULT_UNKNOWN_BY_LOCATION = {
        location: None for location in FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION
    }

    def _raw_load_json(self, req):  # noqa: ANN001, ANN202
        if not is_json_request(req) and (req.content_length or req.mimetype):
            # webargs would read such a body as absent and answer 422 "field required".
            abort(
                415,
                message="Send the body as JSON (Content-Type: application/json).",
                errors={"Content-Type": [f"{req.mimetype or 'none'} is not JSON."]},
            )
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, message="The JSON body is nested too deeply.")


class StrictBlueprint(Blueprint):
    """The blueprint every API of Kundresa uses: strict argument parsing."""

    ARGUMENTS_PARSER = StrictParser()


class ErrorSchema(Schema):
    """The body of every error answer (what ``error_response`` sends)."""

    class Meta:
        unknown = RAISE

    code = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    message = fields.String(required=True, metadata={"description": "What went wrong, for people."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Messages per culprit field; nested fields are dotted "
            "(events.3.occurred_at). Absent when no single field is to blame."
        },
    )


class KundresaApi(Api):
    """flask-smorest's ``Api`` documenting the error body the app really sends, and the
    answers every operation may give (``shared.api_doc.document_edges``)."""

    ERROR_SCHEMA = ErrorSchema

    # Set while a rate-limited blueprint is documented (read by api_doc.document_edges).
    documenting_rate_limit = False

    def register_blueprint(
        self, blp: Blueprint, *, rate_limited: bool = False, **options: Any
    ) -> None:
        """``rate_limited``: the blueprint's operations may answer 429 (documented)."""
        # Blueprints are module objects registered in many apps (tests): add the callback once.
        if document_edges not in blp._prepare_doc_cbks:
            blp._prepare_doc_cbks.append(document_edges)
        self.documenting_rate_limit = rate_limited
        try:
            super().register_blueprint(blp, **options)
        finally:
            self.documenting_rate_limit = False


# The one place a refusal of the domain becomes an HTTP status code.
STATUS: dict[type[KundresaError], int] = {Invalid: 422, NotFound: 404, Conflict: 409}

EXTENSION = "kundresa"


class KundresaExtension:
    """The app's settings, kept as Flask extensions keep their state, and the teardown that
    closes the request's database session (see ``db_session``)."""

    def __init__(self, app: Flask | None = None, settings: Settings | None = None) -> None:
        self.settings: Settings | None = None
        if app is not None and settings is not None:
            self.init_app(app, settings)

    def init_app(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        app.extensions[EXTENSION] = self
        app.teardown_appcontext(_close_db_session)


def settings_of(app: Flask) -> Settings:
    """The settings ``app`` was made with (for set-up code that runs outside a request)."""
    return app.extensions[EXTENSION].settings


def current_settings() -> Settings:
    """The settings of the app handling this request (set once by ``create_api``)."""
    return settings_of(current_app)


def db_session() -> Session:
    """The request's SQLAlchemy session: opened on first use, closed when the request ends.

    Use cases commit explicitly; what a request leaves uncommitted is rolled back at close.
    """
    session = g.get("db_session")
    if session is None:
        session = g.db_session = session_factory(current_settings().database_url)()
    return session


def _close_db_session(_error: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


# Documents alternative responses for decorators that belong to no one blueprint.
RESPONSE_DOCS = ResponseMixin()


def refuses(
    error: type[KundresaError], message: str, errors: Mapping[str, Sequence[str]] | None = None
) -> Callable:
    """Decorator for views: the view may answer ``error`` (documented with ``message``), and
    where the use case raised it without words of its own, ``message`` and ``errors`` say what
    the refusal means to this caller."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except error as refusal:
                if refusal.message is None:
                    refusal.message = message
                    if not refusal.errors and errors:
                        refusal.errors = dict(errors)
                raise

        return RESPONSE_DOCS.alt_response(
            _status_of(error), schema=ErrorSchema, description=message
        )(wrapped)

    return decorate


def _status_of(error: type[KundresaError]) -> int:
    for kind in error.__mro__:
        if kind in STATUS:
            return STATUS[kind]
    raise TypeError(f"{error.__name__} has no HTTP status in shared.web.STATUS")


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"json": {"events": {3: {"type": ["..."]}}}}`` → ``{"events.3.type": ["..."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name = str(key)
            if not prefix and name in _LOCATIONS:
                child = prefix
            elif name == "_schema":
                child = prefix or "_schema"
            else:
                child = f"{prefix}.{name}" if prefix else name
            for field, messages in flatten_errors(value, child).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(errors, list | tuple):
        if all(isinstance(item, str) for item in errors):
            flat[prefix or "_schema"] = [str(item) for item in errors]
        else:
            for item in errors:
                for field, messages in flatten_errors(item, prefix).items():
                    flat.setdefault(field, []).extend(messages)
    else:
        flat[prefix or "_schema"] = [str(errors)]
    return flat


def error_response(code: int, message: str, errors: Mapping[str, Any] | None = None):
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = flatten_errors(errors)
    return jsonify(body), code


def _handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    errors = data.get("messages") or data.get("errors")
    message = data.get("message") or error.description or error.name
    if error.code == 422 and not data.get("message"):
        message = "The request is not valid."
    response, code = error_response(error.code or 500, str(message), errors)
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response, code


def _handle_refusal(error: KundresaError):
    code = _status_of(type(error))
    default = "The request is not valid." if code == 422 else HTTPStatus(code).phrase + "."
    return error_response(code, error.message or default, error.errors)


def _handle_unexpected(error: Exception):
    if is_outage(error):
        return _answer_outage(error)
    # Never leak internals: log the trace server-side, answer with the one error format.
    log.exception("unhandled error")
    return error_response(500, "Internal error; it has been logged.")


def _answer_outage(error: Exception):
    # One log line per outage (REACHABILITY), not a traceback per request.
    REACHABILITY.lost(error)
    response, code = error_response(503, "The database is unreachable; please retry shortly.")
    response.headers["Retry-After"] = str(current_settings().outage_retry_after_seconds)
    return response, code


def create_api(
    app: Flask,
    title: str,
    version: str,
    settings: Settings,
    readiness_checks: Mapping[str, Callable[[], object]] | None = None,
) -> Api:
    """Configure ``app`` with the shared plumbing and return its flask-smorest ``Api``."""
    app.config.setdefault("API_TITLE", title)
    app.config.setdefault("API_VERSION", version)
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # Swagger UI from the swagger-ui-bundle package, served by us: the docs need no CDN.
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/docs/assets/")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if settings.trusted_proxies > 0:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    KundresaExtension(app, settings)
    configure_logging()
    api = KundresaApi(
        app,
        spec_kwargs={
            "info": {"description": f"{title} of Kundresa."},
            "extra_plugins": [SchemaRulesPlugin()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(dict_size)
    api.spec.components.security_scheme(
        "bearer",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (kundresa tokens create).",
        },
    )
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(KundresaError, _handle_refusal)
    app.register_error_handler(Exception, _handle_unexpected)
    # shared.auth builds on this module; its hooks are installed once the app exists.
    from shared.auth import install_authentication

    install_authentication(app)
    install_metrics(app)
    _install_probes(app, settings, readiness_checks or {})
    app.register_blueprint(
        FlaskBlueprint(
            "docs_assets",
            __name__,
            static_folder=swagger_ui_bundle.swagger_ui_path,
            static_url_path="/docs/assets",
        )
    )
    return api


class NotReady(Exception):  # noqa: N818 - a verdict, raised by readiness checks
    """Raised by a readiness check: not ready, for the reasons in ``details``."""

    def __init__(self, details: object) -> None:
        super().__init__("not ready")
        self.details = details


# Who may read why a service is (not) ready: the MLflow URI, errors and versions are internals.
READINESS_DETAIL_ROLES = ("admin", "support")


def _install_probes(
    app: Flask, settings: Settings, checks: Mapping[str, Callable[[], object]]
) -> None:
    """``/healthz``: the process answers. ``/readyz``: 200 once the database answers and every
    check returns (a check raises ``NotReady`` or fails otherwise: 503); the reasons only to a
    bearer of an admin or support token, everyone else learns ready or not ready."""

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        from shared.auth import bearer_may

        report: dict[str, Any] = {}
        ready = True
        try:
            with get_engine(settings.database_url).connect() as connection:
                connection.execute(text("SELECT 1"))
            report["database"] = "ok"
        except Exception as exc:  # a probe reports, it does not raise
            ready = False
            report["database"] = f"unreachable: {type(exc).__name__}"
        for name, check in checks.items():
            try:
                report[name] = check()
            except NotReady as verdict:
                ready = False
                report[name] = verdict.details
            except Exception as exc:
                ready = False
                report[name] = f"failed: {exc}"
        status = "ready" if ready else "not ready"
        body = {"status": status}
        # Without the database no token can be checked: then no one gets the details.
        if report["database"] == "ok" and bearer_may(*READINESS_DETAIL_ROLES):
            body = {**report, "status": status}
        return jsonify(body), 200 if ready else 503
