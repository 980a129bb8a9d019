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

from shared.attribution import normalise_channels, person_codes
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


def _lookup(values: pd.Series, table: dict[str, int]) -> np.ndarray:
    """``table[value]`` per row as floats (NaN: missing or not in the table), looked up once
    per distinct value."""
    as_category = values.astype("category")
    found = np.array([table.get(v, np.nan) for v in as_category.cat.categories], dtype=float)
    codes = as_category.cat.codes.to_numpy()
    return np.where(codes >= 0, found[np.maximum(codes, 0)] if len(found) else np.nan, np.nan)


def event_stages(events: pd.DataFrame, person: np.ndarray | None = None) -> np.ndarray:
    """The stage index each event shows its person reached (-1: none). ``person``: the
    events' ``person_codes`` when the caller has them."""
    if person is None:
        person, _customers = person_codes(events)
    types = events["type"].astype("category")
    explicit = _lookup(events["stage"], STAGE_INDEX)
    implied = _lookup(types, {t: STAGE_INDEX[s] for t, s in STAGE_OF_EVENT.items()})
    rank = np.where(np.isnan(explicit), implied, explicit)
    at = events["occurred_at"]
    bought = at.where((types == "purchase").to_numpy())
    first_purchase = bought.groupby(person).transform("min")
    returning = types.isin(RETURN_VISITS).to_numpy() & (at > first_purchase).to_numpy()
    loyal = STAGE_INDEX["loyalty"]
    promoted = returning & np.isnan(explicit) & (np.nan_to_num(rank, nan=-1) < loyal)
    rank = np.where(promoted, loyal, rank)
    return np.nan_to_num(rank, nan=-1).astype(int)


def entry_channels(events: pd.DataFrame, person: np.ndarray | None = None) -> pd.Series:
    """Each event's channel, else the visit's: the latest channel at most ``SESSION_GAP`` before
    it of the same person (events must be in time order per person)."""
    if person is None:
        person, _customers = person_codes(events)
    channel = normalise_channels(events["channel"])
    code = channel.cat.codes.to_numpy().astype(float)
    code[code < 0] = np.nan
    at = events["occurred_at"]
    seen_at = at.where(~np.isnan(code))
    last_code = pd.Series(code).groupby(person).ffill().to_numpy()
    last_at = seen_at.groupby(person).ffill()
    recent = ((at - last_at) <= SESSION_GAP).to_numpy() & ~np.isnan(last_code)
    names = pd.Index([*channel.cat.categories, NO_CHANNEL], dtype=object)
    codes = np.where(recent, np.nan_to_num(last_code), len(names) - 1).astype(int)
    return pd.Series(pd.Categorical.from_codes(codes, categories=names), index=events.index)


@dataclass(frozen=True)
class ChannelShare:
    stage: str
    channel: str
    entered: int  # people who entered the stage through this channel
    share: float  # of everyone who entered the stage


def stage_entries(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """Each person's first entry into each stage in ``events`` (person, rank, channel, at, in
    time order), and the customer ids at their person numbers (``person_codes``)."""
    if not events["occurred_at"].is_monotonic_increasing:
        events = events.sort_values("occurred_at", kind="stable")
    person, known = person_codes(events)
    frame = pd.DataFrame(
        {
            "person": person,
            "rank": event_stages(events, person),
            "channel": entry_channels(events, person).array,
            "at": events["occurred_at"].array,
        }
    )
    frame = frame[frame["rank"].to_numpy() >= 0]
    return frame.drop_duplicates(["person", "rank"], keep="first"), known


def channel_shares(events: pd.DataFrame) -> list[ChannelShare]:
    """Per stage, the people who entered it through each channel and their share: what the
    journey map's split shows (``channels_by_stage`` adds what became of them)."""
    entries, _known = stage_entries(events)
    counts = (
        entries.groupby(["rank", "channel"], observed=True).size().rename("entered").reset_index()
    )
    totals = counts.groupby("rank")["entered"].transform("sum")
    rows = [
        ChannelShare(STAGES[int(rank)], str(channel), int(entered), float(entered / total))
        for rank, channel, entered, total in zip(
            counts["rank"], counts["channel"], counts["entered"], totals, strict=True
        )
    ]
    rows.sort(key=lambda r: (STAGE_INDEX[r.stage], -r.entered, r.channel))
    return rows


def channels_by_stage(events: pd.DataFrame, responses: pd.DataFrame) -> list[ChannelAtStage]:
    """Per stage and entry channel: people, share, conversion onwards and satisfaction.

    ``events`` and ``responses`` are the frames of one period (of some people only, e.g. a
    segment's, when only their events are given).
    """
    entries, known = stage_entries(events)
    # Conversion: a later entry into a further stage.
    furthest_after = _reached_later(entries)
    entries = entries.assign(went_on=furthest_after)
    answers = _answers_after_entry(entries, responses, known)
    totals = entries.groupby("rank").size()
    table = (
        entries.groupby(["rank", "channel"], observed=True)
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
    # Entries come in time order: a stable sort by person keeps each person's in time order.
    ordered = entries.sort_values("person", kind="stable")
    # The highest stage entered at or after each entry, per person: a reverse cumulative max.
    later_max = ordered.iloc[::-1].groupby("person", sort=False)["rank"].cummax().iloc[::-1]
    went_on = later_max > ordered["rank"]
    return went_on.reindex(entries.index).to_numpy()


def _answers_after_entry(
    entries: pd.DataFrame, responses: pd.DataFrame, known: pd.Index
) -> pd.DataFrame:
    """Per stage and channel, the answers people gave after entering (``known``: the
    customer ids at their person numbers)."""
    columns = ["rank", "channel", "responses", "nps_n", "promoters", "detractors"]
    columns += ["csat_n", "satisfied"]
    person = known.get_indexer(responses["customer_id"])
    answered = responses[person >= 0]
    if answered.empty or entries.empty:
        return pd.DataFrame(columns=columns)
    joined = entries.merge(
        pd.DataFrame(
            {
                "person": person[person >= 0],
                "submitted_at": answered["submitted_at"].array,
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
        .groupby(["rank", "channel"], observed=True)
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
