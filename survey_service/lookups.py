"""Sites and surveys as every public request needs them, cached briefly per process.

Each public request needs its site (key, origins) and most need a survey; reading both from
the database every time would halve the ingest rate. Entries live a few seconds, so a site or
survey changed by another process (the CLI, another worker) takes effect within ``TTL_SECONDS``;
changes made through this process's admin API are seen at once (``forget``). Misses are not
cached, so a new site works immediately.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Site, Survey

TTL_SECONDS = 5.0


@dataclass(frozen=True)
class SiteInfo:
    id: int
    key: str
    origins: frozenset[str]

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


_cache: dict[tuple[str, str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


def _cached(kind: str, database_url: str, key: str, load) -> Any:  # noqa: ANN001
    now = time.monotonic()
    with _lock:
        hit = _cache.get((kind, database_url, key))
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if value is not None:
        with _lock:
            _cache[(kind, database_url, key)] = (now + TTL_SECONDS, value)
    return value


def forget(database_url: str) -> None:
    """Drop every cached entry of one database (after an admin change)."""
    with _lock:
        for entry in [e for e in _cache if e[1] == database_url]:
            del _cache[entry]


def site(database_url: str, site_key: str) -> SiteInfo | None:
    """The active site with this publishable key, or None."""

    def load() -> SiteInfo | None:
        with session_scope(database_url) as session:
            row = session.execute(
                select(Site.id, Site.site_key, Site.allowed_origins).where(
                    Site.site_key == site_key, Site.active.is_(True)
                )
            ).first()
        if row is None:
            return None
        return SiteInfo(row.id, row.site_key, frozenset(row.allowed_origins or ()))

    return _cached("site", database_url, site_key, load)


def any_site_origins(database_url: str) -> frozenset[str]:
    """Origins allowed by any active site: a preflight names no site, so it is checked here."""

    def load() -> frozenset[str]:
        with session_scope(database_url) as session:
            lists = session.scalars(select(Site.allowed_origins).where(Site.active.is_(True)))
            return frozenset(origin for origins in lists for origin in origins or ())

    return _cached("origins", database_url, "", load)


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

    return _cached("survey", database_url, survey_key, load)
