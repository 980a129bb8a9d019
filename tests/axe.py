"""axe-core in the browser tests: the vendored engine (tests/vendor/axe-core, copied from the
widget's pinned npm devDependency by scripts/build-widget, never downloaded at test time) run
in a Playwright page, reporting what would stop or seriously hinder someone."""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_FILE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

# axe reads the page as it is; its rules for WCAG 2.1 A and AA and the best practices.
RUN = """async (context) => {
    const result = await axe.run(context || document, {
        resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
    });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary.split('\\n').slice(1, 2).join('')),
    }));
}"""


@cache
def axe_source() -> str:
    return AXE_FILE.read_text(encoding="utf-8")


def serious_violations(page, context: object = None) -> list[dict]:
    """The serious and critical axe violations on ``page`` (or within ``context``, an axe
    context such as ``{"include": [["kundresa-survey"]]}``)."""
    # Evaluated over the DevTools protocol, so the page's Content-Security-Policy (script-src
    # 'self') does not apply to the engine.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found = page.evaluate(RUN, context)
    return [violation for violation in found if violation["impact"] in BLOCKING]
