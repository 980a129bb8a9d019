"""How numbers, dates and domain words look on the dashboard, in the user's language."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_babel import format_date, format_datetime, format_decimal, format_percent, get_locale
from flask_babel import lazy_gettext as _l

from shared.risk_scale import probability_text
from shared.tasks import TASKS

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


def money(value: float | None) -> str:
    return number(value, 0)


def signed(value: float | None, digits: int = 0) -> str:
    """A change with its sign: +3, −1.5."""
    if value is None:
        return "—"
    text = number(abs(value), digits)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def when(value: datetime | date | None, fmt: str = "short") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value, fmt)
    return format_date(value, fmt)


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
