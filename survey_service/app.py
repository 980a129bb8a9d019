"""The survey service: ``create_app()`` builds the Flask app (gunicorn calls it)."""

from __future__ import annotations

from flask import Flask

import survey_service.demo
import survey_service.widget
from shared.settings import Settings
from shared.web import create_api
from survey_service import access, admin, privacy, public, webhooks_admin


def create_app(settings: Settings | None = None) -> Flask:
    """Build the survey service from ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    api = create_api(app, "Kundresa survey API", "1.0", settings)
    api.spec.components.security_scheme(
        "site_key",
        {"type": "apiKey", "in": "header", "name": access.SITE_KEY_HEADER},
    )
    access.install_rate_limit(app, settings)
    api.register_blueprint(public.blp, rate_limited=True)
    for blueprint in (admin.blp, privacy.blp, webhooks_admin.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(survey_service.widget.bp)
    if settings.demo_mode:
        app.register_blueprint(survey_service.demo.bp)
    return app
