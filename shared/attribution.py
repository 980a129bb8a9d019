"""Channel attribution: which channels earned the converted revenue, by several models.

Pure functions over two DataFrames, no database:

- ``conversions``: conversion_id, person, at, value — one row per purchase (or recovered cart);
- ``touches``: person, at, channel — every event with a channel.

Rule-based models give each conversion's revenue to the touchpoints in its lookback window:
last click, first click, linear, position-based (40/20/40) and time decay. The data-driven
model is the Markov-chain removal effect over channel paths (start → channels → conversion or
null), with a bootstrap interval per channel. Every model hands out exactly the attributed
revenue (the revenue of conversions with at least one touchpoint), so the models compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from shared.journey import CHANNELS

OTHER = "other"  # a channel the journey model does not know: kept, counted, never dropped
KNOWN_CHANNELS: tuple[str, ...] = (*CHANNELS, OTHER)
RULES: tuple[str, ...] = ("last_click", "first_click", "linear", "position_based", "time_decay")
MARKOV = "markov"
KINDS: tuple[str, ...] = ("purchase", "recovered_cart")
# A cart bought this long after its last change (or after it was marked abandoned) was
# recovered: the cart task calls a cart not bought within 24 hours abandoned.
RECOVERED_AFTER = pd.Timedelta(hours=24)
MODELS: tuple[str, ...] = (*RULES, MARKOV)
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_HALF_LIFE_DAYS = 7.0
# Position-based: the first and the last touch get 40 % each, the middle ones share 20 %.
POSITION_ENDS = 0.4
# Fewer conversions than this give no bootstrap interval: it would look precise and not be.
MIN_CONVERSIONS_FOR_INTERVAL = 30
BOOTSTRAP_RESAMPLES = 200
INTERVAL = (2.5, 97.5)


def normalise_channels(channels: pd.Series) -> pd.Series:
    """Channel names as a categorical, an unknown name as ``other`` (missing stays missing)."""
    text = channels.astype("category")
    names = text.cat.categories.astype(object)
    known = np.asarray(names.where(names.isin(CHANNELS), OTHER), dtype=object)
    # Renaming the categories, not the rows: a period holds a few names and many events. Kept
    # categorical (of plain strings): a column of strings is converted each time it is read.
    kept, remap = np.unique(known, return_inverse=True) if len(known) else (known, known)
    codes = text.cat.codes.to_numpy()
    new_codes = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(known) else -1, -1)
    categories = pd.Index(kept, dtype=object)
    return pd.Series(
        pd.Categorical.from_codes(new_codes, categories=categories), index=channels.index
    )


def person_codes(events: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Whose journey each event is, as a number: the customer (visitors linked to them
    included), else the anonymous visitor; and the customer ids, each at its own number (the
    visitors' numbers come after them). Numbers, not names: a period has a few hundred thousand
    events to group, join and sort by person."""
    customer, customers = pd.factorize(events["customer_id"])
    visitor, visitors = pd.factorize(events["visitor_id"])
    # An event with neither id belongs to one "nobody" after every visitor.
    anonymous = len(customers) + np.where(visitor >= 0, visitor, len(visitors))
    return np.where(customer >= 0, customer, anonymous), pd.Index(customers)


def conversions_and_touches(
    events: pd.DataFrame, kind: str, since: pd.Timestamp, until: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From a journey events frame (``shared.journey_frames``): the conversions of ``kind`` in
    ``[since, until)`` and every touchpoint (an event with a channel, purchases excepted), each
    with its person's number (``person_codes``).

    ``recovered_cart``: a purchase of a cart that had been marked ``cart_abandoned`` before, or
    whose last change was at least ``RECOVERED_AFTER`` earlier.
    """
    events = events[(events["occurred_at"] < until).to_numpy()]
    person, _customers = person_codes(events)
    types = events["type"].astype("category")
    purchase = (types == "purchase").to_numpy()
    in_period = (events["occurred_at"] >= since).to_numpy()
    chosen = purchase & in_period
    if kind == "recovered_cart":
        chosen &= _recovered(events, types)
    elif kind != "purchase":
        raise ValueError(f"unknown kind {kind!r}")
    conversions = pd.DataFrame(
        {
            "conversion_id": np.arange(int(chosen.sum())),
            "person": person[chosen],
            "at": events["occurred_at"].array[chosen],
            "value": pd.to_numeric(events["value"], errors="coerce").to_numpy()[chosen],
        }
    )
    conversions["value"] = conversions["value"].fillna(0.0).astype(float)
    touching = events["channel"].notna().to_numpy() & ~purchase
    touches = pd.DataFrame(
        {
            "person": person[touching],
            "at": events["occurred_at"].array[touching],
            "channel": events["channel"].array[touching],
        }
    )
    return conversions, touches


def _recovered(events: pd.DataFrame, types: pd.Series) -> np.ndarray:
    at = events["occurred_at"].to_numpy(dtype="datetime64[ns]")
    cart, _carts = pd.factorize(events["cart_id"])
    has_cart = cart >= 0
    changes = has_cart & types.isin(("add_to_cart", "remove_from_cart")).to_numpy()
    marked = has_cart & (types == "cart_abandoned").to_numpy()
    size = int(cart.max()) + 1 if has_cart.any() else 0
    last_change = np.full(size, np.datetime64("NaT"), dtype="datetime64[ns]")
    first_marked = np.full(size, np.datetime64("NaT"), dtype="datetime64[ns]")
    # Per cart: its last change and when it was first marked abandoned (NaT: never).
    changed = pd.Series(at[changes]).groupby(cart[changes]).max()
    last_change[changed.index.to_numpy()] = changed.to_numpy()
    first = pd.Series(at[marked]).groupby(cart[marked]).min()
    first_marked[first.index.to_numpy()] = first.to_numpy()
    safe = np.where(has_cart, cart, 0)
    changed_at = np.where(has_cart, last_change[safe] if size else at, np.datetime64("NaT"))
    marked_at = np.where(has_cart, first_marked[safe] if size else at, np.datetime64("NaT"))
    quiet = (at - changed_at) >= RECOVERED_AFTER.to_timedelta64()
    was_marked = marked_at < at
    return has_cart & (quiet | was_marked)


@dataclass(frozen=True)
class Paths:
    """Each conversion's touchpoints in time order (``touches`` with conversion_id, channel,
    age_days: days from the touch to the conversion) and the non-converting paths."""

    conversions: pd.DataFrame  # conversion_id, person, at, value
    touches: pd.DataFrame  # conversion_id, channel, age_days, in order within a conversion
    null_paths: list[tuple[str, ...]] = field(default_factory=list)
    other_touches: int = 0  # touchpoints whose channel was unknown, kept as ``other``


def build_paths(
    conversions: pd.DataFrame,
    touches: pd.DataFrame,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> Paths:
    """Attach to each conversion the person's touches in ``[at - lookback, at]``, oldest first.

    The touches of a person after their last conversion in the period (from ``since`` to
    ``until``) are a path that did not convert: the Markov model needs them.
    """
    conversions = conversions.reset_index(drop=True)
    touches = touches[touches["channel"].notna()].copy()
    touches["channel"] = normalise_channels(touches["channel"])
    if until is not None:
        touches = touches[touches["at"] < until]
    other = int((touches["channel"] == OTHER).sum())
    joined = conversions[["conversion_id", "person", "at"]].merge(
        touches[["person", "at", "channel"]], on="person", suffixes=("", "_touch")
    )
    age = (joined["at"] - joined["at_touch"]).dt.total_seconds() / 86400.0
    inside = (age >= 0) & (age <= lookback_days)
    joined = joined[inside].assign(age_days=age[inside])
    joined = joined.sort_values(["conversion_id", "age_days"], ascending=[True, False])
    paths_touches = joined[["conversion_id", "channel", "age_days"]].reset_index(drop=True)
    null_paths = _null_paths(conversions, touches, since)
    return Paths(conversions, paths_touches, null_paths, other)


def _null_paths(
    conversions: pd.DataFrame, touches: pd.DataFrame, since: pd.Timestamp | None
) -> list[tuple[str, ...]]:
    if since is not None:
        touches = touches[touches["at"] >= since]
    last = conversions.groupby("person")["at"].max()
    last_at = last.reindex(touches["person"].to_numpy()).to_numpy(dtype="datetime64[ns]")
    after = np.isnat(last_at) | (touches["at"].to_numpy(dtype="datetime64[ns]") > last_at)
    tail = touches[after].sort_values(["person", "at"], kind="stable")
    return split_paths(tail["person"].to_numpy(), tail["channel"].to_numpy())


def split_paths(keys: np.ndarray, channels: np.ndarray) -> list[tuple[str, ...]]:
    """The channels of each run of equal ``keys`` (sorted) as one tuple per key, in order."""
    if len(keys) == 0:
        return []
    bounds = [*np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).tolist(), len(keys)]
    # Slices of a list: a numpy view per path costs more than the path's few channels.
    names = channels.tolist()
    return [tuple(names[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def rule_weights(
    touches: pd.DataFrame, rule: str, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> np.ndarray:
    """Each touch's share of its conversion under ``rule``; shares of a conversion sum to 1.

    ``touches`` must be grouped by conversion_id, oldest touch first (as ``build_paths`` gives).
    """
    if touches.empty:
        return np.zeros(0)
    group = touches.groupby("conversion_id", sort=False)
    n = group["channel"].transform("size").to_numpy()
    pos = group.cumcount().to_numpy()
    if rule == "last_click":
        return (pos == n - 1).astype(float)
    if rule == "first_click":
        return (pos == 0).astype(float)
    if rule == "linear":
        return 1.0 / n
    if rule == "position_based":
        ends = np.where(n == 2, 0.5, POSITION_ENDS)
        middle = (1.0 - 2 * POSITION_ENDS) / np.maximum(n - 2, 1)
        weights = np.where((pos == 0) | (pos == n - 1), ends, middle)
        return np.where(n == 1, 1.0, weights)
    if rule == "time_decay":
        raw = np.power(2.0, -touches["age_days"].to_numpy() / half_life_days)
        totals = pd.Series(raw).groupby(touches["conversion_id"].to_numpy()).transform("sum")
        return raw / totals.to_numpy()
    raise ValueError(f"unknown rule {rule!r}")


@dataclass(frozen=True)
class ChannelCredit:
    channel: str
    revenue: float
    conversions: float  # credited conversions (fractions add up to whole conversions)
    low: float | None = None  # bootstrap interval of the revenue (Markov only)
    high: float | None = None


@dataclass(frozen=True)
class Attribution:
    model: str
    channels: list[ChannelCredit]  # largest revenue first
    attributed_revenue: float  # revenue of conversions with at least one touchpoint
    conversions: int  # conversions with at least one touchpoint
    unattributed_revenue: float  # revenue of conversions without any touchpoint
    unattributed_conversions: int
    other_touches: int  # touchpoints with an unknown channel, credited as ``other``
    interval_note: str | None = None  # why no interval is shown (Markov only)


def _summary(paths: Paths) -> tuple[pd.Series, float, int, float, int]:
    """Value per touched conversion, and the attributed and unattributed totals."""
    value = paths.conversions.set_index("conversion_id")["value"].fillna(0.0).astype(float)
    touched = value.index.isin(paths.touches["conversion_id"].unique())
    return (
        value[touched],
        float(value[touched].sum()),
        int(touched.sum()),
        float(value[~touched].sum()),
        int((~touched).sum()),
    )


def attribute_rule(
    paths: Paths, rule: str, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> Attribution:
    """Revenue per channel under one of ``RULES``."""
    value, revenue, n, lost, n_lost = _summary(paths)
    weights = rule_weights(paths.touches, rule, half_life_days)
    credit = pd.DataFrame(
        {
            "channel": paths.touches["channel"].array,
            "share": weights,
            "revenue": weights * paths.touches["conversion_id"].map(value).to_numpy(),
        }
    )
    sums = credit.groupby("channel", observed=True)[["revenue", "share"]].sum()
    channels = [
        ChannelCredit(str(ch), float(row.revenue), float(row.share)) for ch, row in sums.iterrows()
    ]
    channels.sort(key=lambda c: (-c.revenue, c.channel))
    return Attribution(rule, channels, revenue, n, lost, n_lost, paths.other_touches)


# --- Markov chain removal effect -----------------------------------------------------------


def _transition_counts(
    paths: list[tuple[str, ...]], converted: list[bool], channels: list[str]
) -> sparse.csr_matrix:
    """Per path, its transitions as counts in a (states × states) matrix, flattened (sparse:
    a path has a handful of transitions among some 200 possible).

    States: 0 start, 1..k the channels, k+1 conversion, k+2 null.
    """
    k = len(channels)
    index = {c: i + 1 for i, c in enumerate(channels)}
    size = k + 3
    rows: list[int] = []
    cols: list[int] = []
    for p, (path, conv) in enumerate(zip(paths, converted, strict=True)):
        states = [0, *(index[c] for c in path), k + 1 if conv else k + 2]
        rows.extend([p] * (len(states) - 1))
        cols.extend(a * size + b for a, b in zip(states[:-1], states[1:], strict=False))
    data = np.ones(len(rows))
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(paths), size * size))


def _conversion_probabilities(counts: np.ndarray, k: int) -> np.ndarray:
    """P(conversion from start) of the full chain and of each chain with one channel removed.

    ``counts``: (..., states*states) transition counts. Returns (..., 1 + k): column 0 the full
    chain, column i the chain without channel i (its incoming transitions go to null).
    Solves (I - Q) x = r over the transient states (start and the channels) in one batch.
    """
    size = k + 3
    matrix = counts.reshape(*counts.shape[:-1], size, size)
    totals = matrix.sum(axis=-1, keepdims=True)
    probs = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    q = probs[..., : k + 1, : k + 1]
    r = probs[..., : k + 1, k + 1]
    # Variant 0: the full chain; variant i: no transition may enter channel i.
    keep = np.ones((k + 1, k + 1, k + 1))
    for i in range(1, k + 1):
        keep[i, :, i] = 0.0
    qs = q[..., None, :, :] * keep  # (..., variants, n, n)
    rs = np.broadcast_to(r[..., None, :], qs.shape[:-1])
    eye = np.eye(k + 1)
    # A channel nobody reaches has a zero row: it stays solvable because of the identity.
    solved = np.linalg.solve(eye - qs, rs[..., None])[..., 0]
    return solved[..., 0]  # from the start state


def removal_effects(probabilities: np.ndarray) -> np.ndarray:
    """Removal effect per channel, 1 - P(conv without it) / P(conv); 0 where nothing converts."""
    full = probabilities[..., :1]
    without = probabilities[..., 1:]
    effect = np.divide(full - without, full, out=np.zeros_like(without), where=full > 0)
    return np.clip(effect, 0.0, None)


def _shares(effects: np.ndarray) -> np.ndarray:
    total = effects.sum(axis=-1, keepdims=True)
    return np.divide(effects, total, out=np.zeros_like(effects), where=total > 0)


def _resampled_counts(
    rng: np.random.Generator, weights: np.ndarray, per_path: sparse.csr_matrix, resamples: int
):
    """Transition counts of ``resamples`` bootstrap samples of the paths, a chunk at a time
    (a draw is one multinomial over the distinct paths, weighted by how often each occurs)."""
    total = int(weights.sum())
    chunk = max(1, min(resamples, 2_000_000 // max(len(weights), 1)))
    for start in range(0, resamples, chunk):
        draws = rng.multinomial(total, weights / total, size=min(chunk, resamples - start))
        yield np.asarray((per_path.T @ draws.T).T)


def attribute_markov(
    paths: Paths,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    min_conversions: int = MIN_CONVERSIONS_FOR_INTERVAL,
) -> Attribution:
    """Revenue per channel in proportion to each channel's removal effect, with a percentile
    bootstrap interval (paths resampled with replacement, ``resamples`` times, seeded).

    Identical paths are counted once with their multiplicity, so a resample is one
    multinomial draw and every resample's chain is solved in one batched call.
    """
    value, revenue, n, lost, n_lost = _summary(paths)
    converted_paths = split_paths(
        paths.touches["conversion_id"].to_numpy(), paths.touches["channel"].to_numpy()
    )
    all_paths = converted_paths + list(paths.null_paths)
    flags = [True] * len(converted_paths) + [False] * len(paths.null_paths)
    channels = sorted({c for path in all_paths for c in path})
    if not converted_paths:
        return Attribution(MARKOV, [], revenue, n, lost, n_lost, paths.other_touches, None)
    # In a fixed order (by path), so that a seeded interval depends on the paths alone, not
    # on the order people happen to be read in.
    unique = pd.Series(list(zip(all_paths, flags, strict=True))).value_counts(sort=False)
    unique = unique.iloc[sorted(range(len(unique)), key=unique.index.__getitem__)]
    keys = list(unique.index)
    weights = unique.to_numpy().astype(float)
    per_path = _transition_counts([p for p, _ in keys], [c for _, c in keys], channels)
    k = len(channels)
    counts = np.asarray(per_path.T @ weights)
    shares = _shares(removal_effects(_conversion_probabilities(counts, k)))
    low = high = None
    note = None
    if n < min_conversions:
        note = f"too few conversions for an interval ({n} < {min_conversions})"
    else:
        rng = np.random.default_rng(seed)
        boot = np.concatenate(
            [
                _shares(removal_effects(_conversion_probabilities(counts, k)))
                for counts in _resampled_counts(rng, weights, per_path, resamples)
            ]
        )
        low, high = np.percentile(boot, INTERVAL, axis=0)
    credits = []
    for i, channel in enumerate(channels):
        credits.append(
            ChannelCredit(
                channel,
                float(shares[i] * revenue),
                float(shares[i] * n),
                None if low is None else float(low[i] * revenue),
                None if high is None else float(high[i] * revenue),
            )
        )
    credits.sort(key=lambda c: (-c.revenue, c.channel))
    return Attribution(MARKOV, credits, revenue, n, lost, n_lost, paths.other_touches, note)


def attribute(
    paths: Paths,
    model: str,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Attribution:
    """Revenue per channel under ``model`` (one of ``MODELS``)."""
    if model == MARKOV:
        return attribute_markov(paths, resamples=resamples, seed=seed)
    if model in RULES:
        return attribute_rule(paths, model, half_life_days)
    raise ValueError(f"unknown model {model!r}")
