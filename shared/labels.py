"""Words for every code a person may read: one place, in the reader's language.

Codes (``post_purchase``, ``bargain_hunter``, ``organic_search``, ``nb`` …) are what the data
stores; people read labels. A known code always has a label in every language of
``shared.i18n``; an unknown one (a shop's own category or segment) is shown as the shop wrote
it, with underscores as spaces, since that is data the shop entered.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.i18n import N_, gettext, language_name
from shared.surveys import ABANDONMENT_REASONS, reason_label

SURVEYS: dict[str, str] = {
    "post_purchase": N_("After purchase"),
    "relationship_nps": N_("Recommendation (NPS)"),
    "cart_abandonment": N_("Left cart"),
    "support_ces": N_("Support effort (CES)"),
}
SEGMENTS: dict[str, str] = {
    "bargain_hunter": N_("Bargain hunters"),
    "regular": N_("Regulars"),
    "premium": N_("Premium customers"),
    "business": N_("Business customers"),
    "none": N_("No segment"),
}
STAGES: dict[str, str] = {
    "awareness": N_("Awareness"),
    "interest": N_("Interest"),
    "desire": N_("Desire"),
    "purchase": N_("Purchase"),
    "loyalty": N_("Loyalty"),
    "advocacy": N_("Advocacy"),
}
CATEGORIES: dict[str, str] = {
    "fashion": N_("Fashion"),
    "electronics": N_("Electronics"),
    "home": N_("Home"),
    "beauty": N_("Beauty"),
    "sports": N_("Sports"),
    "none": N_("No category"),
}
CHANNELS: dict[str, str] = {
    "display": N_("display ads"),
    "paid_social": N_("paid social media"),
    "organic_social": N_("social media"),
    "organic_search": N_("organic search"),
    "paid_search": N_("search ads"),
    "email": N_("e-mail"),
    "newsletter": N_("newsletter"),
    "retargeting": N_("retargeting ads"),
    "direct": N_("direct visits"),
    "referral": N_("referrals"),
    "affiliate": N_("affiliate sites"),
    "pr": N_("press and PR"),
}
DEVICES: dict[str, str] = {
    "mobile": N_("mobile"),
    "desktop": N_("computer"),
    "tablet": N_("tablet"),
}
_KINDS: dict[str, Mapping[str, str]] = {
    "survey": SURVEYS,
    "segment": SEGMENTS,
    "stage": STAGES,
    "category": CATEGORIES,
    "channel": CHANNELS,
    "device": DEVICES,
}
KINDS: tuple[str, ...] = (*_KINDS, "language", "reason")


def humanised(code: str) -> str:
    return code.replace("_", " ")


def label(kind: str, code: object, locale: str, fallback: str | None = None) -> str:
    """The words for ``code`` of ``kind`` in ``locale``; ``fallback`` (e.g. a custom survey's
    own title) or the humanised code when it is not one we know."""
    if code is None or code == "":
        return ""
    code = str(code)
    if kind == "language":
        return language_name(code, locale)
    if kind == "reason":
        return reason_label(code, locale) if code in ABANDONMENT_REASONS else humanised(code)
    known = _KINDS[kind].get(code)
    if known is not None:
        return gettext(known, locale)
    return fallback or humanised(code)


def known_codes(kind: str) -> tuple[str, ...]:
    """The codes of ``kind`` that have a label (what the tests check in every language)."""
    if kind == "language":
        from shared.i18n import LOCALES

        return LOCALES
    if kind == "reason":
        return tuple(ABANDONMENT_REASONS)
    return tuple(_KINDS[kind])
