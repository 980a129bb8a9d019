"""How numbers, dates and domain words look on the dashboard, in the user's language."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_skeleton
from flask import Flask, g
from flask_babel import (
    format_currency,
    format_date,
    format_decimal,
    format_percent,
    format_time,
    get_locale,
    to_user_timezone,
)
from flask_babel import lazy_gettext as _l

from shared import labels as code_labels
from shared.currency import configured_currency
from shared.risk_scale import probability_text
from shared.tasks import TASKS
from shared.web import current_settings

STAGE_LABELS = {
    "awareness": _l("Awareness"),
    "interest": _l("Interest"),
    "desire": _l("Desire"),
    "purchase": _l("Purchase"),
    "loyalty": _l("Loyalty"),
    "advocacy": _l("Advocacy"),
}
BAND_LABELS = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}
STATUS_LABELS = {
    "open": _l("Taken"),
    "contacted": _l("Contacted"),
    "resolved": _l("Resolved"),
    None: _l("Not taken"),
    "": _l("Not taken"),
}
PERIOD_LABELS = {
    "30d": _l("Last 30 days"),
    "90d": _l("Last 90 days"),
    "365d": _l("Last 12 months"),
    "all": _l("All time"),
}
LEVEL_LABELS = {
    "high": _l("Critical"),
    "medium": _l("Watch"),
    "low": _l("Healthy"),
    "none": _l("No data"),
}
# Each task's title, translated. The titles are marked here too, so that the message
# extractor finds them (it does not read shared.tasks).
_TASK_TITLES = (_l("Brand switch"), _l("Cart abandonment"))
TASK_LABELS = {name: _l(task.title) for name, task in TASKS.items()}
EVENT_LABELS = {
    "page_view": _l("Visited the site"),
    "touchpoint": _l("Saw the brand"),
    "product_view": _l("Viewed a product"),
    "add_to_cart": _l("Added to cart"),
    "remove_from_cart": _l("Removed from cart"),
    "checkout_started": _l("Started checkout"),
    "purchase": _l("Bought"),
    "cart_abandoned": _l("Abandoned a cart"),
    "support_contact": _l("Contacted support"),
    "refund": _l("Got a refund"),
    "review": _l("Wrote a review"),
    "referral": _l("Referred someone"),
    "newsletter_signup": _l("Signed up for the newsletter"),
    "identify": _l("Signed in"),
    "response": _l("Answered a survey"),
}


def label(mapping: dict, key: object) -> str:
    """The translated label, or the key itself made readable when there is none."""
    found = mapping.get(key)
    if found is not None:
        return str(found)
    return str(key or "—").replace("_", " ").capitalize()


def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return format_percent(value, format="#,##0" + ("." + "0" * digits if digits else "") + " %")


def probability(value: float | None) -> str:
    """A predicted probability to the precision it has: "37 %", "< 1 %", "> 99 %"."""
    return probability_text(value, str(get_locale() or "en"))


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""))


def money(value: float | None, currency: str | None = None) -> str:
    """An amount in the site's currency, whole units, as the reader writes it: "473 725 kr"."""
    if value is None:
        return "—"
    code = currency or site_currency()
    locale = get_locale()
    pattern = locale.currency_formats["standard"].pattern if locale else "¤#,##0"
    # Whole units: the patterns carry the currency's decimals, which say nothing at this scale.
    whole = pattern.split(";")[0].replace(".00", "")
    return format_currency(value, code, format=whole, currency_digits=False)


def site_currency() -> str:
    """The currency of the site's prices (``sites.currency``), read once per request."""
    if "site_currency" not in g:
        g.site_currency = configured_currency(current_settings().database_url)
    return g.site_currency


METRIC_LABELS = {
    "roc_auc": _l("ROC-AUC (ranking, 0.5 = chance)"),
    "pr_auc": _l("PR-AUC (precision at recall)"),
    "brier": _l("Brier score (lower is better)"),
    "log_loss": _l("Log loss (lower is better)"),
    "lift_top_decile": _l("Lift in the riskiest tenth"),
    "positive_rate": _l("Positive rate"),
    "rows": _l("Rows"),
    "base_rate_train": _l("Base rate, training"),
    "base_rate_validation": _l("Base rate, validation"),
    "base_rate_test": _l("Base rate, test"),
}


def signed(value: float | None, digits: int = 0) -> str:
    """A change with its sign: +3, −1.5."""
    if value is None:
        return "—"
    text = number(abs(value), digits)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


DATE_STYLES = ("short", "medium", "long")


def when(value: datetime | date | None, fmt: str = "medium") -> str:
    """One date style everywhere ("4 dec. 2026", "Dec 4, 2026, 9:05 PM"): the named styles
    all give it; explicit patterns (chart axes: "MMM d") are kept."""
    if value is None:
        return "—"
    if fmt not in DATE_STYLES:
        return format_date(value, fmt)
    locale = get_locale() or "en"
    if isinstance(value, datetime):
        local = to_user_timezone(value)
        day = format_skeleton("yMMMd", local, locale=locale)
        joined = str(locale.datetime_formats["medium"])
        return joined.replace("{1}", day).replace("{0}", format_time(local, "short"))
    return format_skeleton("yMMMd", value, locale=locale)


def code_label(code: object, kind: str) -> str:
    """The words for a code of ``kind`` (survey, segment, category, channel, language, …);
    a shop's own survey is called by its own title in the reader's language."""
    locale = str(get_locale() or "en")
    fallback = _survey_titles(locale).get(str(code)) if kind == "survey" else None
    return code_labels.label(kind, code, locale, fallback=fallback) or "—"


def _survey_titles(locale: str) -> dict[str, str]:
    """Each survey's own title in ``locale`` (else English, else its name), once per request."""
    if "survey_titles" not in g:
        from sqlalchemy import select

        from shared.db.session import session_scope
        from shared.db.tables import Survey

        with session_scope(current_settings().database_url) as session:
            rows = session.execute(select(Survey.key, Survey.name, Survey.texts)).all()
        titles = {}
        for key, name, texts in rows:
            texts = texts or {}
            words = (texts.get(locale) or texts.get("en") or {}).get("title") or name
            if words:
                titles[key] = str(words)
        g.survey_titles = titles
    return g.survey_titles


def install_filters(app: Flask) -> None:
    """Make the formatters available to the templates (labellers also as functions)."""
    labellers = {
        "stage_label": lambda key: label(STAGE_LABELS, key),
        "band_label": lambda key: label(BAND_LABELS, key),
        "status_label": lambda key: label(STATUS_LABELS, key),
        "task_label": lambda key: label(TASK_LABELS, key),
        "event_label": lambda key: label(EVENT_LABELS, key),
        "period_label": lambda key: label(PERIOD_LABELS, key),
        "level_label": lambda key: label(LEVEL_LABELS, key),
        "metric_label": lambda key: label(METRIC_LABELS, key),
        "code_label": code_label,
        "segment_label": lambda key: code_label(key, "segment"),
        "category_label": lambda key: code_label(key, "category"),
        "channel_label": lambda key: code_label(key, "channel"),
        "survey_label": lambda key: code_label(key, "survey"),
        "language_label": lambda key: code_label(key, "language"),
        "device_label": lambda key: code_label(key, "device"),
    }
    app.jinja_env.filters.update(
        percent=percent,
        probability=probability,
        number=number,
        money=money,
        signed=signed,
        when=when,
        **labellers,
    )
    app.jinja_env.globals.update(labellers)
