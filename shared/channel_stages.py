"""Channels per journey stage: which channels bring people into each stage, how many of them
go on to the next one, and how satisfied they are (pure functions over journey frames).

A person enters a stage with the first event in the period that puts them there (an explicit
stage on the event, else the journey rules of ``shared.journey``; a visit after the first
purchase is loyalty). The channel is that event's own, else the channel the visit began with:
the latest event with a channel at most ``SESSION_GAP`` earlier (a click on an advert lands on a
page, the product view a minute later names no channel). Without either it is ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.attribution import normalise_channels, person_of
from shared.journey import STAGE_INDEX, STAGE_OF_EVENT, STAGES
from shared.metrics import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    csat_from_counts,
    nps_from_counts,
)

NO_CHANNEL = "none"
SESSION_GAP = pd.Timedelta(minutes=30)
# After the first purchase these visits are loyalty (shared.journey.next_stage).
RETURN_VISITS = ("page_view", "touchpoint", "product_view")


@dataclass(frozen=True)
class ChannelAtStage:
    stage: str
    channel: str
    entered: int  # people who entered the stage through this channel
    share: float  # of everyone who entered the stage
    conversion: float | None  # share of them who later reached a further stage
    nps: float | None
    csat: float | None
    responses: int  # survey answers they gave after entering (what nps and csat are made of)


def event_stages(events: pd.DataFrame) -> pd.Series:
    """The stage index each event shows its person reached (-1: none)."""
    types = events["type"].astype(object)
    explicit = events["stage"].astype(object).map(STAGE_INDEX)
    implied = types.map({t: STAGE_INDEX[s] for t, s in STAGE_OF_EVENT.items()})
    rank = explicit.fillna(implied)
    person = person_of(events)
    bought = events["occurred_at"].where(types == "purchase")
    first_purchase = bought.groupby(person).transform("min")
    returning = types.isin(RETURN_VISITS) & (events["occurred_at"] > first_purchase)
    loyal = STAGE_INDEX["loyalty"]
    rank = rank.where(~(returning & explicit.isna() & (rank.fillna(-1) < loyal)), loyal)
    return rank.fillna(-1).astype(int)


def entry_channels(events: pd.DataFrame) -> pd.Series:
    """Each event's channel, else the visit's: the latest channel at most ``SESSION_GAP`` before
    it of the same person (events must be in time order per person)."""
    channel = normalise_channels(events["channel"])
    person = person_of(events)
    at = events["occurred_at"]
    seen_at = at.where(channel.notna())
    last_channel = channel.groupby(person).ffill()
    last_at = seen_at.groupby(person).ffill()
    recent = (at - last_at) <= SESSION_GAP
    return last_channel.where(recent.fillna(False), NO_CHANNEL).astype(object)


def channels_by_stage(
    events: pd.DataFrame, responses: pd.DataFrame, people: pd.Index | None = None
) -> list[ChannelAtStage]:
    """Per stage and entry channel: people, share, conversion onwards and satisfaction.

    ``events`` and ``responses`` are the frames of one period; ``people`` (person keys, see
    ``person_of``) keeps only those people, e.g. a segment's.
    """
    events = events.sort_values("occurred_at", kind="stable")
    frame = pd.DataFrame(
        {
            "person": person_of(events).to_numpy(),
            "rank": event_stages(events).to_numpy(),
            "channel": entry_channels(events).to_numpy(),
            "at": events["occurred_at"].to_numpy(),
        }
    )
    frame = frame[frame["rank"] >= 0]
    if people is not None:
        frame = frame[frame["person"].isin(people)]
    entries = frame.drop_duplicates(["person", "rank"], keep="first")
    # Conversion: a later entry into a further stage.
    furthest_after = _reached_later(entries)
    entries = entries.assign(went_on=furthest_after)
    answers = _answers_after_entry(entries, responses)
    totals = entries.groupby("rank").size()
    table = (
        entries.groupby(["rank", "channel"])
        .agg(entered=("person", "size"), went_on=("went_on", "sum"))
        .reset_index()
    )
    table = table.merge(answers, on=["rank", "channel"], how="left").fillna(0)
    rows = []
    last = len(STAGES) - 1
    for row in table.itertuples(index=False):
        rank = int(row.rank)
        rows.append(
            ChannelAtStage(
                stage=STAGES[rank],
                channel=str(row.channel),
                entered=int(row.entered),
                share=float(row.entered / totals[rank]),
                conversion=None if rank == last else float(row.went_on / row.entered),
                nps=nps_from_counts(int(row.promoters), int(row.detractors), int(row.nps_n)),
                csat=csat_from_counts(int(row.satisfied), int(row.csat_n)),
                responses=int(row.responses),
            )
        )
    rows.sort(key=lambda r: (STAGE_INDEX[r.stage], -r.entered, r.channel))
    return rows


def _reached_later(entries: pd.DataFrame) -> np.ndarray:
    """Whether the person entered a further stage after entering this one."""
    ordered = entries.sort_values(["person", "at"], kind="stable")
    # The highest stage entered at or after each entry, per person: a reverse cumulative max.
    later_max = ordered.iloc[::-1].groupby("person", sort=False)["rank"].cummax().iloc[::-1]
    went_on = later_max > ordered["rank"]
    return went_on.reindex(entries.index).to_numpy()


def _answers_after_entry(entries: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    columns = ["rank", "channel", "responses", "nps_n", "promoters", "detractors"]
    columns += ["csat_n", "satisfied"]
    answered = responses[responses["customer_id"].notna()]
    if answered.empty or entries.empty:
        return pd.DataFrame(columns=columns)
    joined = entries.merge(
        pd.DataFrame(
            {
                "person": answered["customer_id"].astype(object).to_numpy(),
                "submitted_at": answered["submitted_at"].to_numpy(),
                "nps": pd.to_numeric(answered["nps"], errors="coerce").to_numpy(),
                "csat": pd.to_numeric(answered["csat"], errors="coerce").to_numpy(),
            }
        ),
        on="person",
    )
    joined = joined[joined["submitted_at"] >= joined["at"]]
    return (
        joined.assign(
            promoters=joined["nps"] >= PROMOTER_MIN,
            detractors=joined["nps"] <= DETRACTOR_MAX,
            satisfied=joined["csat"] >= SATISFIED_MIN,
        )
        .groupby(["rank", "channel"])
        .agg(
            responses=("person", "size"),
            nps_n=("nps", "count"),
            promoters=("promoters", "sum"),
            detractors=("detractors", "sum"),
            csat_n=("csat", "count"),
            satisfied=("satisfied", "sum"),
        )
        .reset_index()
    )


def ranked_channels(rows: list[ChannelAtStage], stage: str) -> list[str]:
    """The channels that brought people into ``stage``, most people first (``none`` last)."""
    here = [r for r in rows if r.stage == stage]
    here.sort(key=lambda r: (r.channel == NO_CHANNEL, -r.entered, r.channel))
    return [r.channel for r in here]
