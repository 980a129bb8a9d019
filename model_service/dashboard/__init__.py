"""The support dashboard under ``/dashboard`` — see issue 6.

Server-rendered pages for support agents and CX leads: at-risk customers and open carts,
the customer page with follow-ups, critical journeys, the journey map, feedback and models.
Sign-in is by e-mail and password (Flask-Login sessions); every form carries its own CSRF token
(Flask-WTF ``FlaskForm``) so the JSON API, which uses bearer tokens, is untouched.
"""

from pathlib import Path

from flask import Blueprint, Flask

from shared.web import settings_of

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

TRANSLATIONS = Path(__file__).parent / "translations"


def init_dashboard(app: Flask) -> None:
    """Register the dashboard (sign-in, CSRF, translations) on the model service app."""
    from flask_babel import Babel

    from model_service.dashboard import (  # noqa: F401 — importing registers the views
        customers,
        feedback,
        journeys,
        models_page,
        security,
        survey_editor,
        survey_performance,
        webhooks_page,
    )
    from model_service.dashboard.formatting import install_filters
    from model_service.dashboard.sign_in import login_manager, select_locale

    settings = settings_of(app)
    settings.check_secret_key()
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret_key
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        # A token per session, not per hour: an agent keeps the page open all day.
        WTF_CSRF_TIME_LIMIT=None,
    )
    login_manager.init_app(app)
    Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(TRANSLATIONS),
    )
    install_filters(app)
    app.register_blueprint(bp)
