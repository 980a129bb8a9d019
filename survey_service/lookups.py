"""Sites and surveys as every public request needs them, cached briefly per process.

Each public request needs its site (key, origins) and most need a survey; reading both from
the database every time would halve the ingest rate. Entries live a few seconds, so a site or
survey changed by another process (the CLI, another worker) takes effect within ``TTL_SECONDS``;
changes made through this process's admin API are seen at once (``forget``). Misses are not
cached, so a new site works immediately.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, ValidationError
from sqlalchemy import select

from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import Site, Survey
from shared.schemas.surveys import TriggerSchema

TTL_SECONDS = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fatigue:
    """How often one person may be offered any survey of a site; 0 turns a limit off."""

    cooldown_shown_days: int = 14
    cooldown_answered_days: int = 30
    max_surveys_per_period: int = 3
    period_days: int = 90


@dataclass(frozen=True)
class SiteInfo:
    id: int
    key: str
    origins: frozenset[str]
    # Whether browsers' customer ids must be signed, and the secret that checks them.
    require_identity_signature: bool = False
    identity_secret: str | None = field(default=None, repr=False)
    fatigue: Fatigue = field(default_factory=Fatigue)

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
    # None: offered at any moment. A stored trigger this version cannot read never matches.
    trigger: dict[str, Any] | None = None
    trigger_readable: bool = True
    priority: int = 10


def stored_trigger(survey_key: str, raw: Any) -> tuple[dict[str, Any] | None, bool]:
    """A trigger saved before triggers were validated: unknown keys are ignored (with a
    warning), a known key with a value that makes no sense makes the trigger unreadable."""
    if raw is None:
        return None, True
    if not isinstance(raw, dict):
        log.warning("survey %s: its trigger is not an object; it is never offered", survey_key)
        return None, False
    unknown = sorted(set(raw) - set(TriggerSchema().fields))
    if unknown:
        log.warning("survey %s: unknown trigger keys ignored: %s", survey_key, ", ".join(unknown))
    try:
        return TriggerSchema(unknown=EXCLUDE).load(raw), True
    except ValidationError as invalid:
        log.warning(
            "survey %s: trigger not valid (%s); it is never offered", survey_key, invalid.messages
        )
        return None, False


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
                    Site.global_cooldown_shown_days,
                    Site.global_cooldown_answered_days,
                    Site.max_surveys_per_period,
                    Site.period_days,
                ).where(Site.site_key == site_key, Site.active.is_(True))
            ).first()
        if row is None:
            return None
        fatigue = Fatigue(
            row.global_cooldown_shown_days,
            row.global_cooldown_answered_days,
            row.max_surveys_per_period,
            row.period_days,
        )
        return SiteInfo(
            row.id,
            row.site_key,
            frozenset(row.allowed_origins or ()),
            row.require_identity_signature,
            row.identity_secret,
            fatigue,
        )

    return _SITES.get((database_url, site_key), load)


def any_site_origins(database_url: str) -> frozenset[str]:
    """Origins allowed by any active site: a preflight names no site, so it is checked here."""

    def load() -> frozenset[str]:
        with session_scope(database_url) as session:
            lists = session.scalars(select(Site.allowed_origins).where(Site.active.is_(True)))
            return frozenset(origin for origins in lists for origin in origins or ())

    return _SITES.get((database_url, "<any site>"), load)


def _survey_info(row: Survey) -> SurveyInfo:
    trigger, readable = stored_trigger(row.key, row.trigger)
    return SurveyInfo(
        row.id,
        row.key,
        row.kind,
        row.questions,
        row.texts,
        row.sampling_rate,
        row.cooldown_days,
        row.active,
        trigger,
        readable,
        row.priority,
    )


def survey(database_url: str, survey_key: str) -> SurveyInfo | None:
    """The survey with this key (active or not), or None."""

    def load() -> SurveyInfo | None:
        with session_scope(database_url) as session:
            row = session.scalars(select(Survey).where(Survey.key == survey_key)).first()
            return None if row is None else _survey_info(row)

    return _SURVEYS.get((database_url, survey_key), load)


def active_surveys(database_url: str) -> tuple[SurveyInfo, ...]:
    """Every active survey: the ones that may compete for the same moment."""

    def load() -> tuple[SurveyInfo, ...]:
        with session_scope(database_url) as session:
            rows = session.scalars(select(Survey).where(Survey.active.is_(True)))
            return tuple(_survey_info(row) for row in rows)

    return _SURVEYS.get((database_url, "<active surveys>"), load)
