"""Plain words for the reasons behind a risk score, with which way each pushes and what to do.

A reason is one feature of one prediction: its value, the model's typical value (the
reference row) and its contribution (how much the probability drops when the value is made
typical). The words only state the fact ("Has left 2 carts without buying", "No purchase for
140 days"), true whichever way the model weighs it; ``direction`` says which way it pushes
("up": raises the risk, "down": lowers it), from the sign of the contribution. A suggested
action comes only with a reason that raises the risk, and it fits the side the value is on
(few contacts via a channel is not answered with "don't spam").

Texts are msgids of the ``shared`` catalogue (``shared.i18n``), with plural forms wherever a
count is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

from shared.i18n import DEFAULT_LOCALE, LOCALES, N_, N_plural, gettext, language_of, ngettext
from shared.journey import CHANNELS
from shared.labels import label

__all__ = ["DEFAULT_LOCALE", "DIRECTIONS", "LOCALES", "REASONS", "Reason", "explain"]

DIRECTIONS: tuple[str, ...] = ("up", "down")
EFFECTS: dict[str, str] = {"up": N_("raises the risk"), "down": N_("lowers the risk")}


@dataclass(frozen=True)
class Reason:
    """How one feature is put into words.

    ``count``: a singular/plural pair with ``%(num)s`` (the value rounded to a whole number);
    ``none``: the text when that number is 0 or less ("Has never left a cart"); ``above`` and
    ``below``: texts with ``%(value)s`` for a value above / below the typical one (for
    ``boolean`` features: true / false); ``kind``: the label kind of a categorical value;
    ``action``: what to do when this reason raises the risk, ``action_below`` when it does so
    with a value below the typical one.
    """

    count: tuple[str, str] | None = None
    none: str | None = None
    above: str | None = None
    below: str | None = None
    boolean: bool = False
    kind: str | None = None
    action: str | None = None
    action_below: str | None = None


_WIN_BACK = N_("Send a personal win-back offer.")
_CALL = N_("Call the customer and ask what went wrong.")
_FIX_SUPPORT = N_("Close the open support case and confirm with the customer.")
_CART_HELP = N_("Send a cart reminder with clear shipping costs and delivery time.")
_NUDGE = N_("Send a personal message with something new.")
_WELCOME = N_("Welcome new customers with a personal follow-up.")
_RHYTHM = N_("Remind the customer at their usual buying time.")
_LOOKED_AT = N_("Recommend the products the visitor looked at.")
_TRUST = N_("Build trust: show reviews, returns and delivery terms.")
_CHECKOUT_HELP = N_("Offer help with payment or delivery.")
_TOO_MANY_CONTACTS = N_("Check how often we contact the customer; don't spam.")
_TOO_FEW_CONTACTS = N_("Reach out personally: we have hardly been in touch lately.")
_DEVICES = N_("Make sure the cart follows the customer across devices.")
_ASK_FEEDBACK = N_("Ask for feedback in a short personal message.")
_RETURNS = N_("Check what went wrong with the returned orders.")

REASONS: dict[str, Reason] = {
    # Brand switch: who the customer is and where they are.
    "segment": Reason(
        above=N_("In the segment %(value)s."),
        kind="segment",
        action=N_("Use the segment's retention playbook."),
    ),
    "main_category": Reason(
        above=N_("Mostly buys %(value)s."),
        kind="category",
        action=N_("Recommend related products in %(value)s."),
    ),
    "stage": Reason(
        above=N_("In the %(value)s stage of the journey."),
        kind="stage",
        action=N_("Help the customer to the next step of the journey."),
    ),
    "days_in_stage": Reason(
        count=N_plural("In the same stage for %(num)s day.", "In the same stage for %(num)s days."),
        none=N_("Reached this stage today."),
        action=N_("Reach out with a nudge to move on."),
    ),
    "recency_days": Reason(
        count=N_plural("No purchase for %(num)s day.", "No purchase for %(num)s days."),
        none=N_("Bought today."),
        action=_WIN_BACK,
    ),
    "frequency": Reason(
        count=N_plural("Has bought %(num)s time.", "Has bought %(num)s times."),
        none=N_("Has not bought anything yet."),
        action=N_("Offer a reason for the next purchase."),
    ),
    "monetary_total": Reason(
        above=N_("Has spent %(value)s in all, more than most."),
        below=N_("Has spent %(value)s in all, less than most."),
        action=N_("Give this valuable customer personal attention."),
        action_below=N_("Offer a reason for the next purchase."),
    ),
    "monetary_mean": Reason(
        above=N_("Large orders on average (%(value)s)."),
        below=N_("Small orders on average (%(value)s)."),
        action=N_("Suggest bundles that fit the customer."),
    ),
    "monetary_365d": Reason(
        above=N_("Spent %(value)s in the last year, more than most."),
        below=N_("Spent %(value)s in the last year, less than most."),
        action=N_("Give this valuable customer personal attention."),
        action_below=_WIN_BACK,
    ),
    "tenure_days": Reason(
        count=N_plural("A customer for %(num)s day.", "A customer for %(num)s days."),
        none=N_("Became a customer today."),
        action=N_("Thank a long-standing customer personally."),
        action_below=_WELCOME,
    ),
    "interval_mean_days": Reason(
        count=N_plural(
            "Usually %(num)s day between purchases.", "Usually %(num)s days between purchases."
        ),
        action=_RHYTHM,
    ),
    "interval_std_days": Reason(
        above=N_("Irregular buying rhythm."),
        below=N_("Regular buying rhythm."),
        action=_RHYTHM,
    ),
    "recency_ratio": Reason(
        above=N_("%(value)s× the usual time between purchases since the last one."),
        below=N_("Only %(value)s× the usual time between purchases since the last one."),
        action=_WIN_BACK,
        action_below=_RHYTHM,
    ),
    "overdue_days": Reason(
        count=N_plural(
            "%(num)s day past the usual time of the next purchase.",
            "%(num)s days past the usual time of the next purchase.",
        ),
        none=N_("Not yet past the usual time of the next purchase."),
        action=_WIN_BACK,
        action_below=_RHYTHM,
    ),
    "first_purchase_days": Reason(
        count=N_plural("First bought %(num)s day ago.", "First bought %(num)s days ago."),
        none=N_("First bought today."),
        action=_WIN_BACK,
        action_below=_WELCOME,
    ),
    "is_repeat_buyer": Reason(
        above=N_("Has bought more than once."),
        below=N_("Has bought only once."),
        boolean=True,
        action=N_("Offer a reason for the next purchase."),
        action_below=N_("Give a reason for a second purchase, e.g. a follow-up on the first."),
    ),
    "days_since_last_event": Reason(
        count=N_plural(
            "Last visit or contact %(num)s day ago.", "Last visit or contact %(num)s days ago."
        ),
        none=N_("Visited or was in contact today."),
        action=_NUDGE,
    ),
    "events_30d": Reason(
        count=N_plural("%(num)s event in the last 30 days.", "%(num)s events in the last 30 days."),
        none=N_("No activity in the last 30 days."),
        action=N_("Ask whether the customer found what they were looking for."),
        action_below=_NUDGE,
    ),
    "touchpoints_30d": Reason(
        count=N_plural(
            "%(num)s marketing contact in 30 days.", "%(num)s marketing contacts in 30 days."
        ),
        none=N_("No marketing contact in 30 days."),
        action=_TOO_MANY_CONTACTS,
        action_below=_TOO_FEW_CONTACTS,
    ),
    "touchpoints_90d": Reason(
        count=N_plural(
            "%(num)s marketing contact in 90 days.", "%(num)s marketing contacts in 90 days."
        ),
        none=N_("No marketing contact in 90 days."),
        action=_TOO_MANY_CONTACTS,
        action_below=_TOO_FEW_CONTACTS,
    ),
    "carts_added_90d": Reason(
        count=N_plural("Filled %(num)s cart in 90 days.", "Filled %(num)s carts in 90 days."),
        none=N_("Filled no cart in 90 days."),
        action=_CART_HELP,
        action_below=_NUDGE,
    ),
    "carts_abandoned_total": Reason(
        count=N_plural(
            "Has left %(num)s cart without buying.", "Has left %(num)s carts without buying."
        ),
        none=N_("Has never left a cart without buying."),
        action=_CART_HELP,
        action_below=_NUDGE,
    ),
    "carts_abandoned_90d": Reason(
        count=N_plural(
            "Left %(num)s cart in the last 90 days.", "Left %(num)s carts in the last 90 days."
        ),
        none=N_("Left no cart in the last 90 days."),
        action=_CART_HELP,
        action_below=_NUDGE,
    ),
    "abandon_reason_last": Reason(
        above=N_("Last left a cart because: %(value)s."),
        kind="reason",
        action=N_("Answer the reason the customer gave."),
    ),
    "csat_last": Reason(
        above=N_("Latest satisfaction answer: %(value)s of 5."),
        action=_CALL,
    ),
    "csat_mean": Reason(
        above=N_("Average satisfaction: %(value)s of 5."),
        action=_CALL,
    ),
    "ces_last": Reason(
        above=N_("Latest ease answer: %(value)s of 7 (higher is easier)."),
        action=N_("Ask what was hard and fix it for them."),
    ),
    "ces_mean": Reason(
        above=N_("Average ease: %(value)s of 7 (higher is easier)."),
        action=N_("Ask what was hard and fix it for them."),
    ),
    "nps_last": Reason(
        above=N_("Latest recommendation score: %(value)s of 10."),
        action=_CALL,
    ),
    "nps_mean": Reason(
        above=N_("Average recommendation score: %(value)s of 10."),
        action=_CALL,
    ),
    "is_detractor": Reason(
        above=N_("A detractor: gave a low recommendation score."),
        below=N_("Not a detractor."),
        boolean=True,
        action=_CALL,
    ),
    "responses_total": Reason(
        count=N_plural("Has answered %(num)s survey.", "Has answered %(num)s surveys."),
        none=N_("Has never answered a survey."),
        action=_ASK_FEEDBACK,
    ),
    "support_contacts_total": Reason(
        count=N_plural(
            "Has contacted support %(num)s time.", "Has contacted support %(num)s times."
        ),
        none=N_("Has never contacted support."),
        action=_FIX_SUPPORT,
        action_below=_ASK_FEEDBACK,
    ),
    "support_contacts_90d": Reason(
        count=N_plural(
            "Contacted support %(num)s time in 90 days.",
            "Contacted support %(num)s times in 90 days.",
        ),
        none=N_("No support contact in 90 days."),
        action=_FIX_SUPPORT,
        action_below=_ASK_FEEDBACK,
    ),
    "support_unresolved_90d": Reason(
        count=N_plural(
            "%(num)s support case left unresolved.", "%(num)s support cases left unresolved."
        ),
        none=N_("No unresolved support cases."),
        action=_FIX_SUPPORT,
        action_below=_ASK_FEEDBACK,
    ),
    "refunds_total": Reason(
        count=N_plural("Has asked for %(num)s refund.", "Has asked for %(num)s refunds."),
        none=N_("Has never asked for a refund."),
        action=_RETURNS,
        action_below=_ASK_FEEDBACK,
    ),
    "refunds_365d": Reason(
        count=N_plural("%(num)s refund in the last year.", "%(num)s refunds in the last year."),
        none=N_("No refund in the last year."),
        action=_RETURNS,
        action_below=_ASK_FEEDBACK,
    ),
    "advocacy_actions": Reason(
        count=N_plural(
            "Has reviewed or referred us %(num)s time.",
            "Has reviewed or referred us %(num)s times.",
        ),
        none=N_("Has never reviewed or referred us."),
        action=N_("Thank the customer and invite a review."),
    ),
    "devices": Reason(
        count=N_plural("Shops on %(num)s device.", "Shops on %(num)s devices."),
        action=_DEVICES,
    ),
    "is_multi_device": Reason(
        above=N_("Switches between devices."),
        below=N_("Uses a single device."),
        boolean=True,
        action=_DEVICES,
    ),
    # Cart abandonment.
    "product_category": Reason(
        above=N_("A cart with %(value)s."), kind="category", action=_CART_HELP
    ),
    "device": Reason(
        above=N_("Shopping on a %(value)s."),
        kind="device",
        action=N_("Check that checkout works well on this device."),
    ),
    "channel": Reason(above=N_("Came via %(value)s."), kind="channel", action=_CART_HELP),
    "cart_value": Reason(
        above=N_("A large cart (%(value)s)."),
        below=N_("A small cart (%(value)s)."),
        action=N_("Show the free-shipping threshold and payment options."),
    ),
    "cart_items": Reason(
        count=N_plural("%(num)s item in the cart.", "%(num)s items in the cart."),
        action=_CART_HELP,
    ),
    "minutes_open": Reason(
        count=N_plural(
            "The cart was opened %(num)s minute ago.", "The cart was opened %(num)s minutes ago."
        ),
        none=N_("The cart was opened less than a minute ago."),
        action=_CART_HELP,
    ),
    "minutes_idle": Reason(
        count=N_plural(
            "Nothing has happened in the cart for %(num)s minute.",
            "Nothing has happened in the cart for %(num)s minutes.",
        ),
        none=N_("The cart was changed less than a minute ago."),
        action=_CART_HELP,
    ),
    "checkout_started": Reason(
        above=N_("Started checkout but has not finished."),
        below=N_("Has not started checkout."),
        boolean=True,
        action=_CHECKOUT_HELP,
    ),
    "minutes_in_checkout": Reason(
        count=N_plural("In checkout for %(num)s minute.", "In checkout for %(num)s minutes."),
        none=N_("Reached checkout less than a minute ago."),
        action=_CHECKOUT_HELP,
    ),
    "session_depth": Reason(
        count=N_plural(
            "%(num)s event in the visit before the cart.",
            "%(num)s events in the visit before the cart.",
        ),
        action=_LOOKED_AT,
    ),
    "session_minutes": Reason(
        count=N_plural("A visit of %(num)s minute.", "A visit of %(num)s minutes."),
        none=N_("A visit of less than a minute."),
        action=_LOOKED_AT,
    ),
    "session_pages": Reason(
        count=N_plural("%(num)s page in this visit.", "%(num)s pages in this visit."),
        action=_LOOKED_AT,
    ),
    "session_product_views": Reason(
        count=N_plural(
            "Looked at %(num)s product in this visit.", "Looked at %(num)s products in this visit."
        ),
        none=N_("Looked at no product page in this visit."),
        action=_LOOKED_AT,
    ),
    "minutes_on_product_pages": Reason(
        count=N_plural(
            "Spent %(num)s minute on product pages.", "Spent %(num)s minutes on product pages."
        ),
        none=N_("Spent less than a minute on product pages."),
        action=_LOOKED_AT,
    ),
    "returning_visitor": Reason(
        above=N_("Has visited the shop before."),
        below=N_("First visit to the shop."),
        boolean=True,
        action=_LOOKED_AT,
        action_below=_TRUST,
    ),
    "discount_shown": Reason(
        above=N_("Was shown a discount in this visit."),
        below=N_("Was shown no discount in this visit."),
        boolean=True,
        action=N_("Remind the visitor of the discount before it ends."),
        action_below=N_("Consider a small discount or free shipping."),
    ),
    "session_page_value_sum": Reason(
        above=N_("Visited high-value pages in this visit (%(value)s)."),
        below=N_("Visited low-value pages in this visit (%(value)s)."),
        action=_LOOKED_AT,
    ),
    "session_price_max": Reason(
        above=N_("Looked at expensive products (up to %(value)s)."),
        below=N_("Looked at inexpensive products (up to %(value)s)."),
        action=_CART_HELP,
    ),
    "past_purchases": Reason(
        count=N_plural("Has bought %(num)s time before.", "Has bought %(num)s times before."),
        none=N_("Has never bought before."),
        action=_CART_HELP,
        action_below=_TRUST,
    ),
    "past_abandonments": Reason(
        count=N_plural("Has left %(num)s cart before.", "Has left %(num)s carts before."),
        none=N_("Has never left a cart before."),
        action=_CART_HELP,
        action_below=_TRUST,
    ),
    "days_since_last_purchase": Reason(
        count=N_plural("Last purchase %(num)s day ago.", "Last purchase %(num)s days ago."),
        none=N_("Bought today."),
        action=_CART_HELP,
    ),
}
# Touchpoints per channel: the channel is a label (``shared.labels``), filled in when shown.
_CHANNEL_CONTACTS = Reason(
    count=N_plural(
        "%(num)s contact via %(channel)s in 90 days.",
        "%(num)s contacts via %(channel)s in 90 days.",
    ),
    none=N_("No contact via %(channel)s in 90 days."),
    action=_TOO_MANY_CONTACTS,
    action_below=_TOO_FEW_CONTACTS,
)
for _channel in CHANNELS:
    REASONS[f"tp_{_channel}_90d"] = _CHANNEL_CONTACTS

_FALLBACK = Reason(
    above=N_("%(feature)s is higher than usual (%(value)s)."),
    below=N_("%(feature)s is lower than usual (%(value)s)."),
    action=N_("Look at the customer's timeline."),
)

# What a reason says when the customer has no value at all (NaN: never answered, never bought).
_MISSING: dict[str, str] = {
    **dict.fromkeys(
        ("csat_last", "csat_mean", "ces_last", "ces_mean", "nps_last", "nps_mean"),
        N_("Has not answered our satisfaction surveys."),
    ),
    **dict.fromkeys(
        (
            "recency_days",
            "days_since_last_purchase",
            "monetary_mean",
            "monetary_365d",
            "first_purchase_days",
        ),
        N_("Has not bought anything yet."),
    ),
    **dict.fromkeys(
        ("interval_mean_days", "interval_std_days", "recency_ratio", "overdue_days"),
        N_("Has bought only once: no buying rhythm yet."),
    ),
    "minutes_in_checkout": N_("Has not started checkout."),
    "abandon_reason_last": N_("Has not told us why a cart was left."),
}
_MISSING_FALLBACK = N_("Nothing known yet about %(feature)s.")


def is_missing(value: Any) -> bool:
    """None, NaN, and the feature builder's ``"none"`` for an absent category."""
    return value is None or value == "none" or (isinstance(value, float) and value != value)


def _number(value: Any, locale: str) -> str:
    """A number as the reader writes it: whole from 10 up, else one decimal ("0,5" in sv)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value).replace("_", " ")
    pattern = "#,##0" if abs(value) >= 10 or value == int(value) else "#,##0.0"
    return format_decimal(value, format=pattern, locale=locale)


def is_above(value: Any, reference: Any) -> bool:
    """Whether a number is at or above the typical one (categories count as "above")."""
    if isinstance(value, int | float) and isinstance(reference, int | float):
        return not value < reference
    return True


def push(contribution: float | None) -> str:
    """``up`` when the value raises the risk; reasons stored before the direction was recorded
    were all pushes towards risk."""
    return "down" if contribution is not None and contribution < 0 else "up"


def _feature_words(feature: str) -> str:
    return feature.replace("_", " ")


def _text(feature: str, reason: Reason, value: Any, reference: Any, locale: str) -> str:
    extra = {"feature": _feature_words(feature)}
    if feature.startswith("tp_") and feature.endswith("_90d"):
        extra["channel"] = label("channel", feature[3:-4], locale)
    if is_missing(value):
        return gettext(_MISSING.get(feature, _MISSING_FALLBACK), locale, **extra)
    if reason.count is not None and isinstance(value, int | float):
        n = int(round(float(value)))
        if n <= 0 and reason.none:
            return gettext(reason.none, locale, **extra)
        return ngettext(reason.count, n, locale, **extra)
    above = _on_upper_side(reason, value, reference)
    template = reason.above if above or reason.below is None else reason.below
    shown = label(reason.kind, value, locale) if reason.kind else _number(value, locale)
    return gettext(template or _FALLBACK.above or "", locale, value=shown, **extra)


def _on_upper_side(reason: Reason, value: Any, reference: Any) -> bool:
    """True for a yes (boolean features) or a value at or above the typical one."""
    if reason.boolean:
        return isinstance(value, int | float) and float(value) >= 0.5
    return is_above(value, reference)


def _action(reason: Reason, value: Any, reference: Any, locale: str) -> str | None:
    below = not is_missing(value) and not _on_upper_side(reason, value, reference)
    template = reason.action_below if below and reason.action_below else reason.action
    if template is None:
        return None
    shown = label(reason.kind, value, locale) if reason.kind and not is_missing(value) else ""
    return gettext(template, locale, value=shown)


def explain(
    feature: str,
    value: Any,
    reference: Any,
    locale: str = DEFAULT_LOCALE,
    contribution: float | None = None,
) -> dict[str, Any]:
    """``{"text", "direction", "effect", "action"}`` for one reason in ``locale``.

    ``action`` is None for a reason that lowers the risk: nothing needs doing about it.
    """
    locale = language_of(locale)
    reason = REASONS.get(feature, _FALLBACK)
    way = push(contribution)
    return {
        "text": _text(feature, reason, value, reference, locale),
        "direction": way,
        "effect": gettext(EFFECTS[way], locale),
        "action": _action(reason, value, reference, locale) if way == "up" else None,
    }
