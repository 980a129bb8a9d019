"""The survey editor (admin role only): list surveys, write and translate one, set its trigger,
sampling and cadence, preview it as the widget draws it, publish, pause or archive it, and set
the sites' fatigue limits.

Surveys are saved and validated by ``shared.survey_definitions``, the same use cases as the
admin API's. The preview is the real widget (the survey service's built ``widget.js``) drawing
the draft: ``static/survey_preview.js`` answers the widget's API calls from the localized draft
written into the page, so nothing is sent to the survey service and no answer is stored.
"""

from __future__ import annotations

import importlib.util
import json
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import HiddenField

from model_service.dashboard import bp
from model_service.dashboard.security import CONTENT_SECURITY_POLICY
from model_service.dashboard.survey_editor_form import (
    CHOICES,
    LOCALE_FIELDS,
    EditorForm,
    definition_from_form,
    errors_by_field,
    form_from_survey,
    is_choice,
    is_scale,
)
from shared import site_settings, survey_definitions
from shared.errors import Conflict, Invalid, KundresaError, NotFound
from shared.schemas.sites import FATIGUE_FIELDS
from shared.schemas.surveys import SURVEY_ACTIONS, SURVEY_KEY
from shared.survey_texts import localize
from shared.surveys import CHROME_TEXTS, LOCALES
from shared.web import current_settings, flatten_errors

# The widget's styles live in a <style> inside its shadow root and on its host element: the
# preview page alone lets inline styles apply, so the dialog looks as it will on a shop.
PREVIEW_CSP = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
LOCALE_NAMES = {"en": "English", "sv": "Svenska", "da": "Dansk", "nb": "Norsk bokmål"}


SURVEY_STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "paused": _l("Paused"),
    "archived": _l("Archived"),
}
SURVEY_ACTION_LABELS = {"publish": _l("Publish"), "pause": _l("Pause"), "archive": _l("Archive")}
# What may be done to a survey in each status (archived: published again, which restores it).
ACTIONS_BY_STATUS = {
    "draft": ("publish", "archive"),
    "published": ("pause", "archive"),
    "paused": ("publish", "archive"),
    "archived": ("publish",),
}


def _status_words() -> dict[str, Any]:
    """What the survey templates use to word statuses and actions."""
    return {
        "survey_status_label": lambda status: str(SURVEY_STATUS_LABELS[status]),
        "survey_action_label": lambda action: str(SURVEY_ACTION_LABELS[action]),
        "survey_actions_for": lambda status: ACTIONS_BY_STATUS[status],
    }


class CsrfForm(FlaskForm):
    """Every editor form: the fields are read by ``survey_editor_form``; this checks CSRF."""


class StatusForm(FlaskForm):
    action = HiddenField()


def admin_required(view):
    """Signed in, and an admin: support agents get 403 (and no menu entry)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any):
        if getattr(current_user, "role", None) != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _check_csrf(form: FlaskForm) -> None:
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        raise CSRFError(form.errors["csrf_token"][0])


def _database_url() -> str:
    return current_settings().database_url


def _survey_or_404(key: str) -> dict[str, Any]:
    if SURVEY_KEY.regex.match(key) is None:
        abort(404)
    try:
        return survey_definitions.get_survey(_database_url(), key)
    except NotFound:
        abort(404)


@bp.get("/surveys")
@admin_required
def surveys():
    show_archived = request.args.get("archived") == "1"
    rows = survey_definitions.list_surveys(_database_url(), include_archived=show_archived)
    return render_template(
        "dashboard/surveys.html",
        surveys=rows,
        show_archived=show_archived,
        status_form=StatusForm(),
        sites=site_settings.list_sites(_database_url()),
        site_form=CsrfForm(),
        fatigue_fields=FATIGUE_FIELDS,
        fatigue_labels=_fatigue_labels(),
        locales=LOCALES,
        **_status_words(),
    )


def _fatigue_labels() -> dict[str, str]:
    return {
        "global_cooldown_shown_days": _("Days after any survey was shown"),
        "global_cooldown_answered_days": _("Days after any survey was answered"),
        "max_surveys_per_period": _("Surveys per person per period"),
        "period_days": _("Period (days)"),
    }


def _editor(form: EditorForm, survey: dict[str, Any] | None, status: int = 200):
    return (
        render_template(
            "dashboard/survey_editor.html",
            form=form,
            survey=survey,
            csrf_form=CsrfForm(),
            status_form=StatusForm(),
            choices=CHOICES,
            locales=LOCALES,
            locale_names=LOCALE_NAMES,
            locale_fields=LOCALE_FIELDS,
            locale_field_labels=_locale_field_labels(),
            is_choice=is_choice,
            is_scale=is_scale,
            **_status_words(),
        ),
        status,
    )


def _locale_field_labels() -> dict[str, str]:
    return {
        "title": _("Title"),
        "intro": _("Introduction"),
        "submit": _("Send button"),
        "thanks": _("Thank-you text"),
        "close": _("Close button"),
    }


def _localized_all(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    key = definition.get("key") or "preview"
    return {
        locale: localize(
            key,
            definition.get("kind", "custom"),
            definition["questions"],
            definition["texts"],
            locale,
        )
        for locale in LOCALES
    }


def _preview(definition: dict[str, Any], locale: str, back: str):
    """The draft drawn by the real widget, in ``locale``; another locale re-posts the draft."""
    locale = locale if locale in LOCALES else "en"
    body = render_template(
        "dashboard/survey_preview.html",
        survey_key=definition.get("key") or "preview",
        name=definition.get("name") or definition.get("key") or _("New survey"),
        locale=locale,
        locales=LOCALES,
        locale_names=LOCALE_NAMES,
        localized=_localized_all(definition),
        definition_json=json.dumps(definition, ensure_ascii=False),
        csrf_form=CsrfForm(),
        back=back,
    )
    response = Response(body)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


def _save_or_preview(survey: dict[str, Any] | None):
    """The editor's POST: read the form, validate the draft as the admin API would, then save
    it (a new survey starts as a draft) or show its preview."""
    _check_csrf(CsrfForm())
    parsed = definition_from_form(request.form, survey["texts"] if survey else None)
    definition = parsed.definition
    if survey is not None:
        definition["key"] = survey["key"]
    errors = survey_definitions.validation_errors(definition)
    if errors or parsed.form.errors:
        parsed.form.errors.update(errors_by_field(errors, parsed.paths))
        flash(_("The survey was not saved: see the fields marked below."), "error")
        return _editor(parsed.form, survey, 422)
    back = (
        url_for("dashboard.survey_edit", key=survey["key"])
        if survey
        else url_for("dashboard.survey_new")
    )
    if request.form.get("do") == "preview":
        return _preview(definition, request.form.get("preview_locale", "en"), back)
    try:
        if survey is None:
            saved = survey_definitions.create_survey(
                _database_url(), {**definition, "active": False}
            )
        else:
            patch = {k: v for k, v in definition.items() if k != "key"}
            saved = survey_definitions.update_survey(_database_url(), survey["key"], patch)
    except (Conflict, Invalid) as refusal:
        parsed.form.errors.update(errors_by_field(refusal.errors, parsed.paths))
        flash(_("The survey was not saved: see the fields marked below."), "error")
        return _editor(parsed.form, survey, 422)
    flash(_("Saved."), "success")
    return redirect(url_for("dashboard.survey_edit", key=saved["key"]))


@bp.route("/surveys/new", methods=["GET", "POST"])
@admin_required
def survey_new():
    if request.method == "POST":
        return _save_or_preview(None)
    blank = {
        "kind": "custom",
        "sampling_rate": 1.0,
        "cooldown_days": 30,
        "texts": {locale: dict(CHROME_TEXTS[locale]) for locale in LOCALES},
    }
    return _editor(form_from_survey(blank), None)


@bp.route("/surveys/<key>/edit", methods=["GET", "POST"])
@admin_required
def survey_edit(key: str):
    survey = _survey_or_404(key)
    if request.method == "POST":
        return _save_or_preview(survey)
    return _editor(form_from_survey(survey), survey)


@bp.get("/surveys/<key>/preview")
@admin_required
def survey_preview(key: str):
    survey = _survey_or_404(key)
    definition = {k: survey[k] for k in ("key", "kind", "name", "questions", "texts")}
    back = url_for("dashboard.survey_edit", key=key)
    return _preview(definition, request.args.get("locale", "en"), back)


@bp.post("/surveys/preview")
@admin_required
def survey_preview_draft():
    """Another locale of a draft shown in the preview: the draft comes back as JSON and is
    validated again (it went through the browser)."""
    _check_csrf(CsrfForm())
    try:
        definition = json.loads(request.form.get("definition", ""))
    except ValueError:
        abort(400)
    if not isinstance(definition, dict) or survey_definitions.validation_errors(definition):
        abort(400)
    back = request.form.get("back", "")
    if not back.startswith("/dashboard/surveys/"):
        back = url_for("dashboard.surveys")
    return _preview(definition, request.form.get("locale", "en"), back)


@bp.post("/surveys/<key>/status")
@admin_required
def survey_status(key: str):
    form = StatusForm()
    _check_csrf(form)
    action = form.action.data
    if action not in SURVEY_ACTIONS:
        abort(400)
    _survey_or_404(key)
    saved = survey_definitions.change_status(_database_url(), key, action)
    flash(
        {
            "publish": _("%(key)s is published: shops may offer it now.", key=key),
            "pause": _("%(key)s is paused: no one is offered it.", key=key),
            "archive": _(
                "%(key)s is archived: hidden and never offered; its answers are kept.", key=key
            ),
        }[action],
        "success",
    )
    if saved["status"] == "archived" or request.form.get("next") == "list":
        return redirect(url_for("dashboard.surveys"))
    return redirect(url_for("dashboard.survey_edit", key=key))


@bp.post("/sites/<name>/fatigue")
@admin_required
def site_fatigue(name: str):
    _check_csrf(CsrfForm())
    changes = {
        f: request.form[f].strip() for f in FATIGUE_FIELDS if request.form.get(f, "").strip()
    }
    try:
        site_settings.update_fatigue(_database_url(), name, changes)
    except NotFound:
        abort(404)
    except KundresaError as refusal:
        labels = _fatigue_labels()
        for field, messages in flatten_errors(refusal.errors).items():
            flash(f"{name} · {labels.get(field, field)}: {' '.join(messages)}", "error")
        return redirect(url_for("dashboard.surveys") + "#sites")
    flash(_("Fatigue limits of %(name)s saved.", name=name), "success")
    return redirect(url_for("dashboard.surveys") + "#sites")


def _built_widget() -> Path:
    """The survey service's built widget, found as a package resource (the dashboard may not
    import the survey service, and must not keep a copy that could drift)."""
    spec = importlib.util.find_spec("survey_service.widget")
    if spec is None or not spec.submodule_search_locations:
        abort(404)
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "widget.js"


@bp.get("/surveys/widget.js")
@admin_required
def survey_widget_js():
    return Response(_built_widget().read_bytes(), mimetype="text/javascript")
