"""Notices the services give in words (translated through the ``shared`` catalogue)."""

from __future__ import annotations

from shared.i18n import N_

# The dashboard has its own gettext copy of this text (with the command as code).
STALE_SCORES = N_(
    "These scores come from version %(old)s; the champion is now version %(new)s. "
    "Run `%(command)s` to refresh them."
)
