"""The risk scale being served, read back from the scores: cut points, percentiles, staleness.

A batch is every score of one task with the same ``as_of`` and model version (one run of
``kundresa score``; running it again for the same moment with the same version gives the same
probabilities). Its cut points are those ``score_all`` gave it, recomputed from its stored
probabilities with the same rule, so an online prediction gets the band the same probability
got in the list. A version that has not scored a batch yet uses the scale of its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model_service.champions import ServedModel
from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import RiskScore
from shared.i18n import gettext
from shared.notices import STALE_SCORES
from shared.risk_scale import CutPoints, cut_points, percentiles

# A batch only changes while it is being written, so a minute's lag is the worst case; the
# latest batch of a version changes once per scoring run.
BATCH_CACHE = TimedCache(seconds=60, size=32)
SCALE_CACHE = TimedCache(seconds=60)


@dataclass(frozen=True)
class ServedScale:
    """The cut points a model version serves with, and the batch they come from (None: the
    scale of the model's metadata, drawn by training on its validation scores)."""

    cuts: CutPoints
    as_of: datetime | None
    batch: np.ndarray  # the batch's probabilities, ascending (empty without a batch)

    def percentiles(self, probabilities: np.ndarray) -> list[float | None]:
        """Per probability, the percent of the batch scored at or below it (None without one)."""
        if self.batch.size == 0:
            return [None] * len(probabilities)
        return [float(p) for p in percentiles(probabilities, self.batch)]


def _url(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def batch_probabilities(
    session: Session, task: str, as_of: datetime, model_version: str
) -> np.ndarray:
    """The probabilities of one batch, ascending (cached for a minute)."""

    def load() -> np.ndarray:
        values = session.scalars(
            select(RiskScore.probability).where(
                RiskScore.task == task,
                RiskScore.as_of == as_of,
                RiskScore.model_version == model_version,
            )
        ).all()
        return np.sort(np.asarray(values, dtype=float))

    return BATCH_CACHE.get((_url(session), task, as_of, model_version), load)


def latest_batch_as_of(session: Session, task: str, model_version: str) -> datetime | None:
    """The ``as_of`` of the newest batch of ``task`` scored by ``model_version``."""
    return session.scalar(
        select(func.max(RiskScore.as_of)).where(
            RiskScore.task == task, RiskScore.model_version == model_version
        )
    )


def scale_of(session: Session, served: ServedModel) -> ServedScale:
    """The scale ``served`` serves with: its newest batch's, else its metadata's."""
    as_of = latest_batch_as_of(session, served.task, served.version)
    if as_of is not None:
        batch = batch_probabilities(session, served.task, as_of, served.version)
        found = cut_points(batch)
        if found is not None:
            return ServedScale(found, as_of, batch)
    return ServedScale(served.scale, None, np.empty(0))


def served_scale(database_url: str, served: ServedModel) -> ServedScale:
    """``scale_of`` for online predictions, at most a minute old."""

    def load() -> ServedScale:
        with session_scope(database_url) as session:
            return scale_of(session, served)

    return SCALE_CACHE.get((database_url, served.task, served.version), load)


def batch_percentiles(
    session: Session, task: str, scores: Iterable[tuple[float, datetime, str]]
) -> list[float | None]:
    """The percentile of each score, given as (probability, as_of, model_version), within
    its own batch."""
    found: list[float | None] = []
    for probability, as_of, model_version in scores:
        batch = batch_probabilities(session, task, as_of, model_version)
        value = percentiles(np.array([probability]), batch)[0]
        found.append(None if np.isnan(value) else float(value))
    return found


@dataclass(frozen=True)
class Staleness:
    """The newest scores of a task come from another version than the champion serving."""

    task: str
    scored_with: str
    champion: str

    @property
    def command(self) -> str:
        return f"kundresa score --task {self.task}"

    def message(self, locale: str = "en") -> str:
        """The notice in words of ``locale`` (English when there is no text in it)."""
        return gettext(
            STALE_SCORES, locale, old=self.scored_with, new=self.champion, command=self.command
        )

    def as_dict(self, locale: str = "en") -> dict[str, str]:
        return {
            "scored_with": self.scored_with,
            "champion": self.champion,
            "command": self.command,
            "message": self.message(locale),
        }


def newest_scored_version(session: Session, task: str) -> str | None:
    """The model version of the newest scoring of ``task`` (latest ``as_of``, then id)."""
    return session.scalar(
        select(RiskScore.model_version)
        .where(RiskScore.task == task)
        .order_by(RiskScore.as_of.desc(), RiskScore.id.desc())
        .limit(1)
    )


def staleness(session: Session, task: str, served: ServedModel | None) -> Staleness | None:
    """Staleness when the newest scores of ``task`` were made by another version than
    ``served``; None when they match, or nothing is scored or served."""
    if served is None:
        return None
    scored_with = newest_scored_version(session, task)
    if scored_with is None or scored_with == served.version:
        return None
    return Staleness(task, scored_with, served.version)
