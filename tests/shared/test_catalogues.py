"""Every text a person reads is in every catalogue: messages are extracted from the code in
memory (the same babel.cfg and keywords as the documented workflow in shared/i18n.py), and
each must have a non-empty translation in sv, da and nb, once, with the committed .mo files
compiled from exactly these .po files (they are committed so the services need no build step;
this test is what keeps them honest)."""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("sv", "da", "nb")


@dataclass(frozen=True)
class Domain:
    name: str
    source: Path
    translations: Path
    keywords: dict


DOMAINS = (
    Domain(
        "messages",
        ROOT / "model_service" / "dashboard",
        ROOT / "model_service" / "dashboard" / "translations",
        {**DEFAULT_KEYWORDS, "_l": None},
    ),
    Domain(
        "shared",
        ROOT / "shared",
        ROOT / "shared" / "translations",
        {"N_": None, "N_plural": (1, 2)},
    ),
)


def _extracted(domain: Domain) -> set[tuple[str | None, str]]:
    with open(domain.source / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(domain.source), method_map, options_map, keywords=domain.keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.add((context, msgid))
    return found


def _po(domain: Domain, language: str) -> Path:
    return domain.translations / language / "LC_MESSAGES" / f"{domain.name}.po"


def _entries(path: Path) -> list[tuple[str | None, str]]:
    """(msgctxt, msgid) of every live entry in file order, duplicates kept (read_po merges
    them, so they are counted from the text)."""
    entries, context, key, current = [], None, None, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("msgctxt "):
            context, current = eval(line[8:]), "ctx"  # noqa: S307 — a PO string literal
        elif line.startswith("msgid "):
            key, current = [eval(line[6:])], "id"  # noqa: S307
        elif line.startswith('"') and current == "id":
            key.append(eval(line))  # noqa: S307
        elif line.startswith("msgid_plural") or line.startswith("msgstr"):
            if current == "id" and "".join(key):
                entries.append((context, "".join(key)))
                context = None
            current = None
    return entries


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_every_message_of_the_code_is_translated_in_every_language(domain: Domain) -> None:
    wanted = _extracted(domain)
    assert len(wanted) > 50, "the extractor found the texts"
    for language in LANGUAGES:
        with open(_po(domain, language), "rb") as file:
            catalogue = read_po(file)
        missing = []
        for context, msgid in sorted(wanted, key=str):
            message = catalogue.get(msgid, context=context)
            strings = message.string if message else None
            forms = strings if isinstance(strings, tuple) else (strings,)
            if not all(forms):
                missing.append(msgid)
        assert not missing, f"{_po(domain, language)} lacks: {missing}"


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_no_catalogue_has_an_entry_twice(domain: Domain) -> None:
    for language in LANGUAGES:
        entries = _entries(_po(domain, language))
        twice = sorted({e for e in entries if entries.count(e) > 1}, key=str)
        assert not twice, f"{_po(domain, language)} has twice: {twice}"


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_committed_mo_files_are_the_po_files_compiled(domain: Domain) -> None:
    for language in LANGUAGES:
        po = _po(domain, language)
        with open(po, "rb") as file:
            compiled = io.BytesIO()
            write_mo(compiled, read_po(file))
        compiled.seek(0)
        expected = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
        with open(po.with_suffix(".mo"), "rb") as file:
            committed = gettext.GNUTranslations(file)._catalog  # type: ignore[attr-defined]
        assert committed == expected, f"recompile {po}: pybabel compile -d ... (shared/i18n.py)"
