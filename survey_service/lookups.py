"""Sites and surveys as every public request needs them, cached briefly per process.

Each public request needs its site (key, origins) and most need a survey; reading both from
the database every time would halve the ingest rate. Entries live a few seconds, so a site or
survey changed by another process (the CLI, another worker) takes effect within ``TTL_SECONDS``;
changes made through this process's admin API are seen at once (``forget``). Misses are not
cached, so a new site works immediately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import Site, Survey

TTL_SECONDS = 5.0


@dataclass(frozen=True)
class SiteInfo:
    id: int
    key: str
    origins: frozenset[str]
    # Whether browsers' customer ids must be signed, and the secret that checks them.
    require_identity_signature: bool = False
    identity_secret: str | None = field(default=None, repr=False)

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins


@dataclass(frozen=True)
class SurveyInfo:
    id: int
    key: str
    kind: str
    questions: list[dict[str, Any]]
    texts: dict[str, Any]
    sampling_rate: float
    cooldown_days: int
    active: bool


# Misses are not kept, so a new site or survey works immediately.
_SITES = TimedCache(seconds=TTL_SECONDS, size=1024, keep_none=False)
_SURVEYS = TimedCache(seconds=TTL_SECONDS, size=256, keep_none=False)


def forget() -> None:
    """Drop what this process remembers (after an admin change; such changes are rare)."""
    _SITES.clear()
    _SURVEYS.clear()


def site(database_url: str, site_key: str) -> SiteInfo | None:
    """The active site with this publishable key, or None."""

    def load() -> SiteInfo | None:
        with session_scope(database_url) as session:
            row = session.execute(
                select(
                    Site.id,
                    Site.site_key,
                    Site.allowed_origins,
                    Site.require_identity_signature,
                    Site.identity_secret,
                ).where(Site.site_key == site_key, Site.active.is_(True))
            ).first()
        if row is None:
            return None
        return SiteInfo(
            row.id,
            row.site_key,
            frozenset(row.allowed_origins or ()),
            row.require_identity_signature,
            row.identity_secret,
        )

    return _SITES.get((database_url, site_key), load)


def any_site_origins(database_url: str) -> frozenset[str]:
    """Origins allowed by any active site: a preflight names no site, so it is checked here."""

    def load() -> frozenset[str]:
        with session_scope(database_url) as session:
            lists = session.scalars(select(Site.allowed_origins).where(Site.active.is_(True)))
            return frozenset(origin for origins in lists for origin in origins or ())

    return _SITES.get((database_url, "<any site>"), load)


def survey(database_url: str, survey_key: str) -> SurveyInfo | None:
    """The survey with this key (active or not), or None."""

    def load() -> SurveyInfo | None:
        with session_scope(database_url) as session:
            row = session.scalars(select(Survey).where(Survey.key == survey_key)).first()
            if row is None:
                return None
            return SurveyInfo(
                row.id,
                row.key,
                row.kind,
                row.questions,
                row.texts,
                row.sampling_rate,
                row.cooldown_days,
                row.active,
            )

    return _SURVEYS.get((database_url, survey_key), load)
