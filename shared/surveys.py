"""The built-in survey templates, with texts in English, Swedish, Danish and Norwegian (Bokmål).

A survey is stored as two JSON documents: ``questions`` (what is asked and what an answer may
be, independent of language) and ``texts`` (every word shown, per locale). The scored question
ids ``nps``, ``csat``, ``ces``, ``reason`` and ``comment`` are the ones the service copies into
the response columns that metrics and features read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Survey

LOCALES: tuple[str, ...] = ("en", "sv", "da", "nb")
DEFAULT_LOCALE = "en"
QUESTION_TYPES: tuple[str, ...] = ("nps", "csat", "ces", "single_choice", "multi_choice", "text")
# Inclusive score ranges of the scale questions.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
SURVEY_KINDS: tuple[str, ...] = (
    "post_purchase",
    "cart_abandonment",
    "relationship_nps",
    "support_ces",
    "custom",
)
# When several surveys are due at the same moment (the same event for the same visitor), the
# highest priority is offered and the others are refused with reason ``priority``; after it,
# the global cooldown keeps the rest away. A survey about an order that happened outranks one
# about a cart left behind, so a cart-abandonment survey never stacks on a post-purchase one.
PRIORITY_BY_KIND: dict[str, int] = {
    "post_purchase": 40,
    "cart_abandonment": 30,
    "support_ces": 20,
    "relationship_nps": 10,
    "custom": 10,
}

ABANDONMENT_REASONS: tuple[str, ...] = (
    "unexpected_shipping_cost",
    "price_too_high",
    "delivery_too_slow",
    "payment_problem",
    "complicated_checkout",
    "did_not_trust_site",
    "just_browsing",
    "found_cheaper_elsewhere",
    "other",
)

COMMENT_MAX_LENGTH = 2000

_CHROME: dict[str, dict[str, str]] = {
    "en": {"submit": "Send", "thanks": "Thank you for your answer!", "close": "Close"},
    "sv": {"submit": "Skicka", "thanks": "Tack för ditt svar!", "close": "Stäng"},
    "da": {"submit": "Send", "thanks": "Tak for dit svar!", "close": "Luk"},
    "nb": {"submit": "Send", "thanks": "Takk for svaret ditt!", "close": "Lukk"},
}
# The buttons and thanks of every survey, per locale: a new survey in the editor starts with them.
CHROME_TEXTS = _CHROME

_NPS_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "label": "How likely is it that you would recommend us to a friend or colleague?",
        "min_label": "Not at all likely",
        "max_label": "Extremely likely",
    },
    "sv": {
        "label": "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega?",
        "min_label": "Inte alls troligt",
        "max_label": "Mycket troligt",
    },
    "da": {
        "label": "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?",
        "min_label": "Slet ikke sandsynligt",
        "max_label": "Meget sandsynligt",
    },
    "nb": {
        "label": "Hvor sannsynlig er det at du vil anbefale oss til en venn eller kollega?",
        "min_label": "Svært lite sannsynlig",
        "max_label": "Svært sannsynlig",
    },
}

_CSAT_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "label": "How satisfied are you with your purchase?",
        "min_label": "Very dissatisfied",
        "max_label": "Very satisfied",
    },
    "sv": {
        "label": "Hur nöjd är du med ditt köp?",
        "min_label": "Mycket missnöjd",
        "max_label": "Mycket nöjd",
    },
    "da": {
        "label": "Hvor tilfreds er du med dit køb?",
        "min_label": "Meget utilfreds",
        "max_label": "Meget tilfreds",
    },
    "nb": {
        "label": "Hvor fornøyd er du med kjøpet ditt?",
        "min_label": "Svært misfornøyd",
        "max_label": "Svært fornøyd",
    },
}

_CES_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "label": "How easy was it to place your order?",
        "min_label": "Very difficult",
        "max_label": "Very easy",
    },
    "sv": {
        "label": "Hur enkelt var det att lägga din beställning?",
        "min_label": "Mycket svårt",
        "max_label": "Mycket enkelt",
    },
    "da": {
        "label": "Hvor nemt var det at afgive din bestilling?",
        "min_label": "Meget svært",
        "max_label": "Meget nemt",
    },
    "nb": {
        "label": "Hvor enkelt var det å legge inn bestillingen?",
        "min_label": "Svært vanskelig",
        "max_label": "Svært enkelt",
    },
}

_COMMENT_TEXT: dict[str, dict[str, str]] = {
    "en": {"label": "Anything we could do better? (optional)"},
    "sv": {"label": "Något vi kan göra bättre? (valfritt)"},
    "da": {"label": "Er der noget, vi kan gøre bedre? (valgfrit)"},
    "nb": {"label": "Er det noe vi kan gjøre bedre? (valgfritt)"},
}

_REASON_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "unexpected_shipping_cost": "Unexpected shipping cost",
        "price_too_high": "The price was too high",
        "delivery_too_slow": "Delivery would take too long",
        "payment_problem": "A problem with payment",
        "complicated_checkout": "The checkout was too complicated",
        "did_not_trust_site": "I did not trust the site",
        "just_browsing": "I was just browsing",
        "found_cheaper_elsewhere": "I found it cheaper elsewhere",
        "other": "Other",
    },
    "sv": {
        "unexpected_shipping_cost": "Oväntade fraktkostnader",
        "price_too_high": "Priset var för högt",
        "delivery_too_slow": "Leveransen skulle ta för lång tid",
        "payment_problem": "Problem med betalningen",
        "complicated_checkout": "Kassan var för krånglig",
        "did_not_trust_site": "Jag litade inte på sidan",
        "just_browsing": "Jag tittade bara",
        "found_cheaper_elsewhere": "Jag hittade det billigare någon annanstans",
        "other": "Annat",
    },
    "da": {
        "unexpected_shipping_cost": "Uventede fragtomkostninger",
        "price_too_high": "Prisen var for høj",
        "delivery_too_slow": "Leveringen ville tage for lang tid",
        "payment_problem": "Et problem med betalingen",
        "complicated_checkout": "Kassen var for besværlig",
        "did_not_trust_site": "Jeg stolede ikke på siden",
        "just_browsing": "Jeg kiggede bare",
        "found_cheaper_elsewhere": "Jeg fandt det billigere et andet sted",
        "other": "Andet",
    },
    "nb": {
        "unexpected_shipping_cost": "Uventede fraktkostnader",
        "price_too_high": "Prisen var for høy",
        "delivery_too_slow": "Leveringen ville ta for lang tid",
        "payment_problem": "Et problem med betalingen",
        "complicated_checkout": "Kassen var for tungvint",
        "did_not_trust_site": "Jeg stolte ikke på nettstedet",
        "just_browsing": "Jeg bare så meg rundt",
        "found_cheaper_elsewhere": "Jeg fant det billigere et annet sted",
        "other": "Annet",
    },
}

_REASON_QUESTION: dict[str, str] = {
    "en": "What stopped you from completing your purchase?",
    "sv": "Vad hindrade dig från att slutföra ditt köp?",
    "da": "Hvad forhindrede dig i at gennemføre dit køb?",
    "nb": "Hva hindret deg i å fullføre kjøpet?",
}

_INTROS: dict[str, dict[str, dict[str, str]]] = {
    "post_purchase": {
        "en": {"title": "Thank you for your order", "intro": "Three quick questions, please."},
        "sv": {"title": "Tack för din beställning", "intro": "Tre snabba frågor, tack."},
        "da": {"title": "Tak for din bestilling", "intro": "Tre hurtige spørgsmål."},
        "nb": {"title": "Takk for bestillingen", "intro": "Tre raske spørsmål."},
    },
    "cart_abandonment": {
        "en": {"title": "Leaving already?", "intro": "Tell us what held you back."},
        "sv": {"title": "Ska du gå redan?", "intro": "Berätta vad som höll dig tillbaka."},
        "da": {"title": "Går du allerede?", "intro": "Fortæl os, hvad der holdt dig tilbage."},
        "nb": {"title": "Går du allerede?", "intro": "Fortell oss hva som holdt deg tilbake."},
    },
    "relationship_nps": {
        "en": {"title": "A quick question", "intro": "Your answer helps us improve."},
        "sv": {"title": "En snabb fråga", "intro": "Ditt svar hjälper oss att bli bättre."},
        "da": {"title": "Et hurtigt spørgsmål", "intro": "Dit svar hjælper os med at blive bedre."},
        "nb": {"title": "Et raskt spørsmål", "intro": "Svaret ditt hjelper oss å bli bedre."},
    },
}

_COMMENT_QUESTION = {
    "id": "comment",
    "type": "text",
    "required": False,
    "max_length": COMMENT_MAX_LENGTH,
}


def default_priority(kind: str | None) -> int:
    """A survey's priority when its admin set none: by its kind."""
    return PRIORITY_BY_KIND.get(kind or "custom", PRIORITY_BY_KIND["custom"])


def reason_label(code: str, locale: str) -> str:
    """The words customers were shown for an abandonment reason code, in ``locale``."""
    labels = _REASON_LABELS.get(locale, _REASON_LABELS["en"])
    return labels.get(code, code.replace("_", " "))


def _texts(key: str, questions: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Assemble ``{locale: {title, intro, submit, thanks, close, questions: {id: {...}}}}``."""
    return {
        locale: {
            **_INTROS[key][locale],
            **_CHROME[locale],
            "questions": {qid: texts[locale] for qid, texts in questions.items()},
        }
        for locale in LOCALES
    }


def builtin_surveys() -> list[dict[str, Any]]:
    """The three built-in surveys as column values for the ``surveys`` table."""
    reason_texts = {
        locale: {"label": _REASON_QUESTION[locale], "options": _REASON_LABELS[locale]}
        for locale in LOCALES
    }
    return [
        {
            "key": "post_purchase",
            "kind": "post_purchase",
            "name": "Post-purchase (CSAT, CES, NPS)",
            "questions": [
                {"id": "csat", "type": "csat", "required": True},
                {"id": "ces", "type": "ces", "required": True},
                {"id": "nps", "type": "nps", "required": False},
                _COMMENT_QUESTION,
            ],
            "texts": _texts(
                "post_purchase",
                {"csat": _CSAT_TEXT, "ces": _CES_TEXT, "nps": _NPS_TEXT, "comment": _COMMENT_TEXT},
            ),
            "trigger": {"event": "purchase"},
            "sampling_rate": 1.0,
            "cooldown_days": 30,
        },
        {
            "key": "cart_abandonment",
            "kind": "cart_abandonment",
            "name": "Cart abandonment (reason)",
            "questions": [
                {
                    "id": "reason",
                    "type": "single_choice",
                    "required": True,
                    "options": list(ABANDONMENT_REASONS),
                },
                _COMMENT_QUESTION,
            ],
            "texts": _texts("cart_abandonment", {"reason": reason_texts, "comment": _COMMENT_TEXT}),
            "trigger": {"event": "exit_intent", "requires_cart": True},
            "sampling_rate": 1.0,
            "cooldown_days": 7,
        },
        {
            "key": "relationship_nps",
            "kind": "relationship_nps",
            "name": "Relationship NPS",
            "questions": [
                {"id": "nps", "type": "nps", "required": True},
                _COMMENT_QUESTION,
            ],
            "texts": _texts("relationship_nps", {"nps": _NPS_TEXT, "comment": _COMMENT_TEXT}),
            "trigger": {"event": "page_view", "min_purchases": 1},
            "sampling_rate": 0.2,
            "cooldown_days": 90,
        },
    ]


def ensure_builtin_surveys(database_url: str) -> int:
    """Add the built-in surveys that are missing (never overwrites edits); returns how many."""
    added = 0
    with session_scope(database_url) as session:
        existing = set(session.scalars(select(Survey.key)))
        for values in builtin_surveys():
            if values["key"] not in existing:
                session.add(Survey(**values))
                added += 1
    return added
