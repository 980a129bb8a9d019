"""The four interface languages and the gettext catalogue of ``shared`` (domain ``shared``).

Texts the services answer outside the dashboard — reasons, suggested actions, task summaries,
labels of codes — are msgids marked with ``N_``/``N_plural`` where they are defined and
translated at the moment they are shown, through Babel ``support.Translations`` loaded from
``shared/translations/<locale>/LC_MESSAGES/shared.mo``.

How to change a text (the one place this workflow is written down). Two catalogues: the
dashboard's (domain ``messages``, texts marked with ``_``/``_l``/``pgettext``) and this one
(domain ``shared``, texts marked with ``N_``/``N_plural``):

    cd model_service/dashboard
    pybabel extract -F babel.cfg -k _l -o translations/messages.pot --no-location \
        --sort-output .
    pybabel update -i translations/messages.pot -d translations --ignore-pot-creation-date
    pybabel compile -d translations

    cd shared
    pybabel extract -F babel.cfg -k N_ -k N_plural:1,2 -o translations/shared.pot \
        --no-location --sort-output .
    pybabel update -i translations/shared.pot -d translations -D shared \
        --ignore-pot-creation-date
    pybabel compile -d translations -D shared

Between update and compile, translate the new entries of every ``<locale>/LC_MESSAGES/*.po``
(sv, da, nb; both plural forms where there are two). While several branches add texts at
once, append new entries at the end of the .po files by hand instead of running update, so
that the files merge.

The compiled ``.mo`` files are committed (no build step at start-up);
``tests/shared/test_catalogues.py`` fails when a message is missing in a language or a
``.mo`` differs from its ``.po``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.support import NullTranslations, Translations

LOCALES: tuple[str, ...] = ("en", "sv", "da", "nb")
DEFAULT_LOCALE = "en"
DOMAIN = "shared"
TRANSLATIONS = Path(__file__).parent / "translations"
# Browsers say "no" (or "nn") for Norwegian; the written standard we translate into is Bokmål.
_ALIASES = {"no": "nb", "nn": "nb"}


def N_(message: str) -> str:  # noqa: N802 — the gettext convention for "mark, translate later"
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802
    """Mark a singular/plural pair for extraction (keyword ``N_plural:1,2``)."""
    return singular, plural


def language_of(locale: str | None) -> str:
    """``sv-SE``/``sv_SE`` → ``sv``, ``no`` → ``nb``; anything else unknown → English."""
    language = (locale or "").replace("-", "_").split("_")[0].lower()
    language = _ALIASES.get(language, language)
    return language if language in LOCALES else DEFAULT_LOCALE


def best_locale(accept_languages: Any) -> str:
    """The best of our languages for a werkzeug ``request.accept_languages``."""
    for value, _quality in accept_languages or ():
        language = (value or "").replace("-", "_").split("_")[0].lower()
        language = _ALIASES.get(language, language)
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    """The ``shared`` catalogue of ``locale`` (English is the msgids themselves)."""
    language = language_of(locale)
    if language == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language], domain=DOMAIN)


def gettext(message: str, locale: str, **variables: Any) -> str:
    text = translations(locale).ugettext(message)
    return text % variables if variables else text


def ngettext(forms: tuple[str, str], n: int, locale: str, **variables: Any) -> str:
    """The plural form for ``n`` in ``locale``; ``%(num)s`` is ``n`` unless given."""
    text = translations(locale).ungettext(forms[0], forms[1], n)
    return text % {"num": n, **variables}


def language_name(code: str, locale: str) -> str:
    """A language's name in the reader's language ("nb" → "Norsk bokmål", "Norwegian Bokmål")."""
    try:
        name = Locale.parse(_ALIASES.get(code, code)).get_display_name(language_of(locale))
    except (ValueError, TypeError):
        return code
    return (name[:1].upper() + name[1:]) if name else code


def locale_names(codes: Iterable[str] = LOCALES) -> dict[str, str]:
    """Each language in its own words, for a language switch ("Dansk", "Norsk bokmål")."""
    return {code: language_name(code, code) for code in codes}
