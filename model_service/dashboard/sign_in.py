"""Sign-in, sign-out and the interface language of the dashboard.

The session cookie holds the user's id and session version (``DashboardUser.get_id``); each
request loads the user only while that version is current, so signing out ends the session
everywhere, not only in the browser that asked. The lock-out rule is in ``users.authenticate``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)

from model_service.dashboard import bp
from model_service.dashboard.formatting import when
from model_service.dashboard.forms import LanguageForm, SignInForm, SignOutForm
from model_service.dashboard.navigation import nav_for
from model_service.dashboard.users import (
    SignedInUser,
    authenticate,
    end_sessions,
    load_user,
    set_user_locale,
)
from shared.i18n import LOCALES, best_locale, locale_names
from shared.web import current_settings

# The interface languages are shared.i18n's; each is named in its own language in the switch.
LOCALE_NAMES: dict[str, str] = locale_names(LOCALES)

login_manager = LoginManager()
login_manager.login_view = "dashboard.sign_in"
login_manager.login_message = None  # the sign-in page says what to do; no extra banner


class DashboardUser(UserMixin):
    """The signed-in user as Flask-Login sees it."""

    def __init__(self, user: SignedInUser) -> None:
        self.user = user
        self.id = user.id
        self.email = user.email
        self.role = user.role
        self.locale = user.locale

    def get_id(self) -> str:
        # What Flask-Login keeps in the cookie: a cookie of an older version is refused.
        return f"{self.user.id}.{self.user.session_version}"


@login_manager.user_loader
def _load(session_id: str) -> DashboardUser | None:
    user_id, _dot, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = load_user(current_settings().database_url, int(user_id), int(version))
    return DashboardUser(user) if user else None


def select_locale() -> str:
    """The user's choice (this session, then their profile), else the browser's language."""
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    return best_locale(request.accept_languages)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send agents elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/dashboard"):
            return target
    return url_for("dashboard.at_risk")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm()
    error = None
    status = 200
    if form.validate_on_submit():
        settings = current_settings()
        result = authenticate(
            settings.database_url,
            form.email.data,
            form.password.data,
            address=request.remote_addr or "-",
            max_failed=settings.max_failed_logins,
            lockout_minutes=settings.lockout_minutes,
        )
        if result.outcome == "ok":
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(DashboardUser(result.user))
            return redirect(_safe_next(request.args.get("next")))
        if result.outcome == "locked":
            error = _(
                "Too many failed sign-ins. The account is locked until %(time)s.",
                time=when(result.locked_until),
            )
            status = 429
        else:
            error = _("The e-mail or password is wrong.")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("dashboard/sign_in.html", form=form, error=error), status


@bp.post("/sign-out")
@login_required
def sign_out():
    form = SignOutForm()
    if not form.validate_on_submit():
        return render_template("dashboard/error.html", code=400), 400
    end_sessions(current_settings().database_url, current_user.user.id)
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("dashboard.sign_in"))


@bp.post("/language")
@login_required
def change_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return render_template("dashboard/error.html", code=400), 400
    session["locale"] = form.locale.data
    set_user_locale(current_settings().database_url, current_user.id, form.locale.data)
    return redirect(_safe_next(form.next.data))


@bp.context_processor
def _layout_context() -> dict:
    """What the layout needs on every page: the account forms and the active menu entry."""
    from flask_babel import get_locale

    return {
        "language_form": LanguageForm(),
        "sign_out_form": SignOutForm(),
        "current_locale": lambda: str(get_locale() or "en"),
        "locale_names": LOCALE_NAMES,
        "active": request.endpoint,
        "nav": nav_for(getattr(current_user, "role", None)),
    }
