"""The words a visitor sees: a survey's texts in one locale, falling back to English.

Used by the public survey API (what the widget draws) and by the dashboard's editor preview,
which draws the same localized survey with the same widget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.surveys import DEFAULT_LOCALE, SCALES

# Norwegian is often sent as "no" (or Nynorsk "nn"); we ship Bokmål texts for all three.
LOCALE_ALIASES = {"no": "nb", "nn": "nb"}


def resolve_locale(requested: str | None, available: Sequence[str]) -> str:
    """``sv-SE`` → ``sv`` when only ``sv`` exists; anything unknown → English."""
    if requested:
        candidate = requested.replace("_", "-")
        if candidate in available:
            return candidate
        language = LOCALE_ALIASES.get(candidate[:2].lower(), candidate[:2].lower())
        if language in available:
            return language
    return DEFAULT_LOCALE


def localize(
    key: str, kind: str, questions: list[dict], texts: Mapping[str, Any], requested: str | None
) -> dict[str, Any]:
    """The survey as the widget shows it, every string in one locale with English fallback."""
    locale = resolve_locale(requested, list(texts))
    chosen: Mapping[str, Any] = texts.get(locale, {})
    english: Mapping[str, Any] = texts.get(DEFAULT_LOCALE, {})

    def pick(name: str) -> str:
        return chosen.get(name) or english.get(name) or ""

    localized: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "locale": locale,
        **{name: pick(name) for name in ("title", "intro", "submit", "thanks", "close")},
        "questions": [],
    }
    for question in questions:
        qid = question["id"]
        own = chosen.get("questions", {}).get(qid, {})
        fallback = english.get("questions", {}).get(qid, {})
        item: dict[str, Any] = {
            "id": qid,
            "type": question["type"],
            "label": own.get("label") or fallback.get("label") or qid,
            "required": bool(question.get("required", False)),
        }
        if question["type"] in SCALES:
            for name in ("min_label", "max_label"):
                if own.get(name) or fallback.get(name):
                    item[name] = own.get(name) or fallback[name]
        if "options" in question:
            labels = {**fallback.get("options", {}), **own.get("options", {})}
            item["options"] = [
                {"value": value, "label": labels.get(value, value)} for value in question["options"]
            ]
        if question["type"] == "text":
            item["max_length"] = question.get("max_length")
        localized["questions"].append({k: v for k, v in item.items() if v is not None})
    return localized
