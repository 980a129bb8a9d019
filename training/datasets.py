"""Training and evaluation sets: features before a cutoff, labels only from after it.

Both tasks are split in time. ``brand_switch`` has three parts one horizon apart: training
rows from rolling cutoffs whose label windows end by the validation cutoff, validation rows
whose windows end at the test cutoff, and test (evaluation) rows: every customer who has bought
before the test cutoff, labelled over the horizon after it. ``cart_abandonment`` rows are carts
at the moments a shop can still act on them (right after a cart change, after 5, 15 and 60
minutes of quiet, at exit intent), never carts idle for days; the test snapshots are the latest
ones whose 24-hour label window the data covers, the validation snapshots end 24 hours before
them, and the training snapshots 24 hours before those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from shared.cart_features import (
    CART_CATEGORICAL,
    CART_FEATURES,
    CART_MOMENTS,
    CART_SESSION_FEATURES,
    JUST_AFTER,
    build_cart_features_at,
    cart_decision_moments,
    cart_spans,
)
from shared.customer_features import (
    CUSTOMER_CATEGORICAL,
    CUSTOMER_FEATURES,
    build_customer_features,
)
from shared.journey_frames import JourneyFrames, as_utc
from shared.tasks import (
    BRAND_SWITCH,
    CART_ABANDONMENT,
    TaskDefinition,
    brand_switch_definition,
    cart_abandonment_definition,
)

CART_HORIZON = pd.Timedelta(hours=24)
# Rolling cutoffs for brand switch are this far apart. Two weeks: the training cutoffs must
# fit between MIN_HISTORY and two horizons before the test cutoff, which leaves a year of
# data only a month for them; the same customer two weeks later is a useful other row.
CUTOFF_STEP = pd.Timedelta(days=14)
# A cutoff needs this much history before it to say anything about a customer.
MIN_HISTORY = pd.Timedelta(days=60)
# Simple models reported beside brand switch on the same rows: recency alone, and a logistic
# regression on recency, frequency and monetary value with the customer's own rhythm.
BRAND_SWITCH_BASELINES: dict[str, list[str]] = {
    "recency": ["recency_days"],
    "rfm_logistic": [
        "recency_days",
        "frequency",
        "monetary_total",
        "monetary_mean",
        "interval_mean_days",
        "recency_ratio",
        "first_purchase_days",
    ],
}


class NotEnoughData(ValueError):
    """The data does not cover a cutoff, its label window and the history before it."""


@dataclass
class Dataset:
    """Feature rows with labels, split in time into three parts that follow each other:
    ``train`` (fit), ``validation`` (choose the model family and thresholds) and
    ``evaluation`` (the test window, reported and used by promotion). Every label window of a
    part ends before the next part's first snapshot, so no part learns from a later one.
    """

    task: str
    features: list[str]
    categorical: list[str]
    train: pd.DataFrame  # features + "label" + "cutoff" (+ "customer_id" for carts)
    evaluation: pd.DataFrame
    evaluation_cutoff: datetime
    train_cutoffs: list[datetime]
    horizon: timedelta
    params: dict[str, object] = field(default_factory=dict)
    validation: pd.DataFrame | None = None
    validation_cutoff: datetime | None = None
    definition: TaskDefinition | None = None
    # Simple baselines reported beside the model on the same rows: name -> feature columns.
    # The trainer fits a logistic regression on those columns alone (one column: that
    # column's ranking, calibrated).
    baselines: dict[str, list[str]] = field(default_factory=dict)
    # When the last training label window ends: a test window of another model must start
    # after it for the comparison to be on rows neither model has seen.
    train_data_end: datetime | None = None
    # Keyword arguments for training.pipelines.make_classifier_pipeline that this task needs
    # (for example the horizon of the purchase-rhythm step of brand switch).
    pipeline_options: dict[str, object] = field(default_factory=dict)

    @property
    def numeric(self) -> list[str]:
        """The feature columns that are not categorical."""
        return [c for c in self.features if c not in self.categorical]

    def fingerprint(self) -> str:
        """A short hash of every row and label, so two runs can tell if they saw the same data."""
        digest = hashlib.sha256()
        for part in (self.train, self.evaluation):
            hashed = pd.util.hash_pandas_object(part[[*self.features, "label"]], index=True)
            digest.update(hashed.to_numpy().tobytes())
        return digest.hexdigest()[:16]


def data_end(frames: JourneyFrames) -> pd.Timestamp:
    """The time of the latest event: labels cannot look past it."""
    if frames.events.empty:
        raise NotEnoughData("there are no journey events")
    return frames.events["occurred_at"].max()


def data_start(frames: JourneyFrames) -> pd.Timestamp:
    """The time of the earliest event: history cannot start before it."""
    if frames.events.empty:
        raise NotEnoughData("there are no journey events")
    return frames.events["occurred_at"].min()


def latest_cutoff(frames: JourneyFrames, horizon: timedelta) -> pd.Timestamp:
    """The latest midnight whose whole label window the data covers."""
    return (data_end(frames) - pd.Timedelta(horizon)).floor("D")


def _sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    if max_rows is None or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index(kind="stable")


# ---------------------------------------------------------------------------------------------
# Brand switch
# ---------------------------------------------------------------------------------------------


def brand_switch_rows(frames: JourneyFrames, cutoff: datetime, horizon: timedelta) -> pd.DataFrame:
    """Customers who bought before ``cutoff``, their features, and the label: 1 when they make
    no purchase in [cutoff, cutoff + horizon)."""
    cutoff_ts = as_utc(cutoff)
    window_end = cutoff_ts + pd.Timedelta(horizon)
    features = build_customer_features(frames, cutoff_ts)
    features = features[features["frequency"] > 0]
    rows = features.copy()
    rows["label"] = brand_switch_labels(rows.index, frames.events, cutoff_ts, window_end)
    rows["cutoff"] = cutoff_ts
    return rows


def brand_switch_repurchasers(
    events: pd.DataFrame, cutoff: pd.Timestamp, window_end: pd.Timestamp
) -> pd.Series:
    """The customer ids with a purchase in [cutoff, window_end) (repeated ids kept): who did
    not switch. Pure on any share of the events, so Spark can run it per partition."""
    later = events[
        (events["type"].astype(str) == "purchase")
        & (events["occurred_at"] >= cutoff)
        & (events["occurred_at"] < window_end)
        # An anonymous purchase counts once its visitor was linked within the window: a link
        # made later belongs to a later period (for training rows, the evaluation period).
        & ~(events["linked_at"] >= window_end)
    ]
    return later["customer_id"].dropna()


def brand_switch_labels(
    customers: pd.Index, events: pd.DataFrame, cutoff: pd.Timestamp, window_end: pd.Timestamp
) -> np.ndarray:
    """Brand switch's label of each of ``customers``: 1 when they make no purchase in
    [cutoff, window_end)."""
    bought_again = customers.isin(set(brand_switch_repurchasers(events, cutoff, window_end)))
    return (~bought_again).astype(int)


def brand_switch_dataset(
    frames: JourneyFrames,
    horizon_days: int = 90,
    cutoff: datetime | None = None,
    n_train_cutoffs: int = 8,
    max_train_rows: int | None = 120_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Three parts that follow each other in time, each labelled over ``horizon_days``:

    - test (``evaluation``): every buyer at ``cutoff`` (default: the latest midnight whose
      horizon the data covers);
    - validation: every buyer one horizon earlier, so its labels end at the test cutoff;
    - train: rolling cutoffs ``CUTOFF_STEP`` apart from one more horizon back, as long as
      ``MIN_HISTORY`` of events lies before them, so their labels end by the validation cutoff.

    A shop with too little history for three parts (``MIN_HISTORY`` plus three horizons) gets
    two: training labels end at the test cutoff and ``validation`` is None, which
    ``params["split"]`` says. With too little for two, ``NotEnoughData`` says how many days
    are needed.
    """
    schedule = brand_switch_schedule(
        data_start(frames), data_end(frames), horizon_days, cutoff, n_train_cutoffs, progress
    )
    horizon = schedule.horizon
    parts = []
    for train_cutoff in schedule.train_cutoffs:
        if progress:
            progress(f"features at {train_cutoff:%Y-%m-%d}")
        parts.append(brand_switch_rows(frames, train_cutoff, horizon))
    train = pd.concat(parts)
    train.index = _row_ids(train, "%Y-%m-%d")
    validation = None
    if schedule.validation_cutoff is not None:
        if progress:
            progress(f"features at {schedule.validation_cutoff:%Y-%m-%d} (validation)")
        validation = brand_switch_rows(frames, schedule.validation_cutoff, horizon)
    evaluation, _ = brand_switch_evaluation(frames, horizon_days, schedule.test_cutoff, progress)
    return brand_switch_from_parts(
        schedule, train, validation, evaluation, max_train_rows=max_train_rows, seed=seed
    )


@dataclass(frozen=True)
class BrandSwitchSchedule:
    """When brand switch's snapshots are taken: the training cutoffs (oldest first), the
    validation cutoff (None with too little history) and the test cutoff."""

    horizon_days: int
    train_cutoffs: list[pd.Timestamp]
    validation_cutoff: pd.Timestamp | None
    test_cutoff: pd.Timestamp

    @property
    def horizon(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)


def brand_switch_schedule(
    start: pd.Timestamp,
    end: pd.Timestamp,
    horizon_days: int = 90,
    cutoff: datetime | None = None,
    n_train_cutoffs: int = 8,
    progress: Callable[[str], None] | None = None,
) -> BrandSwitchSchedule:
    """The snapshot times of ``brand_switch_dataset`` for events from ``start`` to ``end``
    (the earliest and latest event): what the in-process and the Spark trainer both use."""
    horizon = pd.Timedelta(days=horizon_days)
    test_cutoff = _brand_switch_cutoff_at(end, horizon, cutoff)
    validation_cutoff: pd.Timestamp | None = test_cutoff - horizon
    train_cutoffs = _cutoffs_after(start, validation_cutoff - horizon, n_train_cutoffs)
    if not train_cutoffs:
        validation_cutoff = None
        train_cutoffs = _cutoffs_after(start, test_cutoff - horizon, n_train_cutoffs)
        if progress:
            progress(
                f"too little history for a validation window ({_days_needed(3, horizon_days)} "
                "days needed): training up to the test window"
            )
    if not train_cutoffs:
        covered = (test_cutoff + horizon - start) / pd.Timedelta(days=1)
        raise NotEnoughData(
            f"need at least {_days_needed(2, horizon_days)} days of events for a "
            f"{horizon_days}-day horizon ({MIN_HISTORY.days} days of history, then training and "
            f"test windows of {horizon_days} days each; {_days_needed(3, horizon_days)} days "
            f"with a validation window as well); up to the cutoff {test_cutoff:%Y-%m-%d} and "
            f"its window the data covers {covered:.0f} days"
        )
    return BrandSwitchSchedule(horizon_days, train_cutoffs, validation_cutoff, test_cutoff)


def brand_switch_from_parts(
    schedule: BrandSwitchSchedule,
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    evaluation: pd.DataFrame,
    *,
    max_train_rows: int | None = 120_000,
    seed: int = 0,
    params: dict[str, object] | None = None,
) -> Dataset:
    """The ``Dataset`` of brand switch from its labelled rows (``train`` indexed by
    ``_row_ids``, the others by customer id), however they were built."""
    horizon = schedule.horizon
    horizon_days = schedule.horizon_days
    train_cutoffs, validation_cutoff = schedule.train_cutoffs, schedule.validation_cutoff
    test_cutoff = schedule.test_cutoff
    train = _sample(train, max_train_rows, seed)
    _require_both_classes(train, "training")
    if validation is not None:
        _require_both_classes(validation, "validation")
    parts_by_name = {"train": train, "validation": validation, "test": evaluation}
    parts_by_name = {name: rows for name, rows in parts_by_name.items() if rows is not None}
    # The trainer refits on train + validation: their last labels end one horizon after the
    # latest of their cutoffs.
    latest_fit_cutoff = validation_cutoff if validation_cutoff is not None else train_cutoffs[-1]
    return Dataset(
        task=BRAND_SWITCH.name,
        features=list(CUSTOMER_FEATURES),
        categorical=list(CUSTOMER_CATEGORICAL),
        train=train,
        evaluation=evaluation,
        evaluation_cutoff=test_cutoff.to_pydatetime(),
        train_cutoffs=[c.to_pydatetime() for c in train_cutoffs],
        horizon=horizon.to_pytimedelta(),
        params={
            "split": "/".join(parts_by_name),
            "n_train_cutoffs": len(train_cutoffs),
            "cutoff_step_days": CUTOFF_STEP.days,
            "validation_cutoff": (
                "none" if validation_cutoff is None else f"{validation_cutoff:%Y-%m-%d}"
            ),
            **base_rates(**parts_by_name),
            **(params or {}),
        },
        validation=validation,
        validation_cutoff=None if validation_cutoff is None else validation_cutoff.to_pydatetime(),
        definition=brand_switch_definition(horizon_days),
        baselines=dict(BRAND_SWITCH_BASELINES),
        train_data_end=(latest_fit_cutoff + horizon).to_pydatetime(),
        pipeline_options={"rhythm_horizon_days": horizon_days},
    )


def _cutoffs_after(start: pd.Timestamp, latest: pd.Timestamp, count: int) -> list[pd.Timestamp]:
    """Up to ``count`` cutoffs ``CUTOFF_STEP`` apart ending at ``latest``, oldest first, each
    with ``MIN_HISTORY`` of events after ``start`` (the earliest event) before it."""
    cutoffs = [latest - i * CUTOFF_STEP for i in range(count)]
    return sorted(c for c in cutoffs if c - start >= MIN_HISTORY)


def _days_needed(windows: int, horizon_days: int) -> int:
    return MIN_HISTORY.days + windows * horizon_days


def base_rates(**parts: pd.DataFrame) -> dict[str, float]:
    """``base_rate_<part>``: the share of positive labels in each part (4 decimals)."""
    return {
        f"base_rate_{name}": round(float(rows["label"].mean()), 4) for name, rows in parts.items()
    }


def brand_switch_evaluation(
    frames: JourneyFrames,
    horizon_days: int = 90,
    cutoff: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The evaluation rows of ``brand_switch_dataset`` alone, and their cutoff: what a
    registered model is scored on, without building training rows."""
    horizon = pd.Timedelta(days=horizon_days)
    eval_cutoff = _brand_switch_cutoff(frames, horizon, cutoff)
    if progress:
        progress(f"features at {eval_cutoff:%Y-%m-%d} (evaluation)")
    return brand_switch_rows(frames, eval_cutoff, horizon), eval_cutoff


def _brand_switch_cutoff(
    frames: JourneyFrames, horizon: pd.Timedelta, cutoff: datetime | None
) -> pd.Timestamp:
    return _brand_switch_cutoff_at(data_end(frames), horizon, cutoff)


def _brand_switch_cutoff_at(
    end: pd.Timestamp, horizon: pd.Timedelta, cutoff: datetime | None
) -> pd.Timestamp:
    """The test cutoff: the one given, else the latest midnight whose window ends by ``end``."""
    eval_cutoff = as_utc(cutoff) if cutoff is not None else (end - horizon).floor("D")
    if eval_cutoff + horizon > end + pd.Timedelta(days=1):
        raise NotEnoughData(
            f"cutoff {eval_cutoff:%Y-%m-%d} + {horizon.days} days is past the latest event "
            f"({end:%Y-%m-%d})"
        )
    return eval_cutoff


def _require_both_classes(frame: pd.DataFrame, what: str) -> None:
    if frame.empty or frame["label"].nunique() < 2:
        raise NotEnoughData(f"the {what} rows need both outcomes; generate or import more data")


# ---------------------------------------------------------------------------------------------
# Cart abandonment
# ---------------------------------------------------------------------------------------------


def _row_ids(rows: pd.DataFrame, time_format: str) -> pd.Index:
    """``<customer or cart>@<cutoff>``: one name per row across cutoffs."""
    return pd.Index(
        rows.index.astype(str) + "@" + rows["cutoff"].dt.strftime(time_format), name="row"
    )


def cart_snapshots(
    frames: JourneyFrames,
    start: pd.Timestamp,
    end: pd.Timestamp,
    moments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The decision moments (``shared.cart_features.cart_decision_moments``) with as_of in
    [start, end): index cart_id; columns visitor_id, as_of, moment. Never a cart idle for
    days: those are the carts no shop can still win back."""
    moments = cart_decision_moments(frames.events) if moments is None else moments
    in_window = (moments["as_of"] >= start) & (moments["as_of"] < end)
    return moments[in_window]


def cart_rows(
    frames: JourneyFrames,
    snapshots: pd.DataFrame,
    spans: pd.DataFrame | None = None,
    known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Cart features at each snapshot, its moment, and the label: 1 when the cart is not bought
    within ``CART_HORIZON`` after the snapshot. ``known_at`` is the end of the part's snapshot
    window (see ``build_cart_features_at``): a row then depends on its own cart and person
    only, not on which other snapshots were drawn, so a sample or a share of the customers
    (Spark) gives the same row."""
    rows = build_cart_features_at(frames, snapshots, known_at)
    rows["cutoff"] = pd.to_datetime(snapshots["as_of"], utc=True).array
    rows["moment"] = snapshots["moment"].to_numpy()
    spans = cart_spans(frames.events) if spans is None else spans
    purchased = spans["purchased_at"].reindex(rows.index)
    bought_in_time = (purchased >= rows["cutoff"]) & (purchased < rows["cutoff"] + CART_HORIZON)
    rows["label"] = np.where(bought_in_time.to_numpy(), 0, 1)
    rows.index = _row_ids(rows, "%Y-%m-%dT%H:%M:%S.%f")
    return rows


def first_snapshots(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows taken right after a cart's first item went in: the earliest moment to act."""
    just_opened = rows["minutes_open"] <= JUST_AFTER / pd.Timedelta(minutes=1) + 1e-9
    return rows[(rows["moment"] == "change") & just_opened]


@dataclass(frozen=True)
class CartWindows:
    """When cart abandonment's snapshots are taken: [start, end) of each part, oldest first.
    Each part's 24-hour label windows end before the next part starts."""

    train: tuple[pd.Timestamp, pd.Timestamp]
    validation: tuple[pd.Timestamp, pd.Timestamp]
    test: tuple[pd.Timestamp, pd.Timestamp]
    evaluation_days: int
    validation_days: int

    def parts(self) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def cart_windows(
    start: pd.Timestamp,
    end: pd.Timestamp,
    cutoff: datetime | None = None,
    evaluation_days: int = 30,
    validation_days: int = 30,
    training_days: int = 180,
) -> CartWindows:
    """The snapshot windows of ``cart_abandonment_dataset`` for events from ``start`` to ``end``
    (the earliest and latest event): what the in-process and the Spark trainer both use."""
    eval_start, eval_end = _cart_test_window(end, cutoff, evaluation_days)
    validation_end = eval_start - CART_HORIZON
    validation_start = validation_end - pd.Timedelta(days=validation_days)
    train_end = validation_start - CART_HORIZON
    train_start = max(start + pd.Timedelta(days=7), train_end - pd.Timedelta(days=training_days))
    if train_start >= train_end:
        raise NotEnoughData("not enough history before the cutoff for cart snapshots")
    return CartWindows(
        train=(train_start, train_end),
        validation=(validation_start, validation_end),
        test=(eval_start, eval_end),
        evaluation_days=evaluation_days,
        validation_days=validation_days,
    )


def cart_part_rows(
    frames: JourneyFrames,
    windows: CartWindows,
    sample: Callable[[str, pd.DataFrame], pd.DataFrame] | None = None,
    progress: Callable[[str], None] | None = None,
    parts: tuple[str, ...] = ("train", "validation", "test"),
) -> dict[str, pd.DataFrame]:
    """The labelled rows of each of ``parts``: the carts' decision moments in the part's window
    (``sample(part, snapshots)`` draws from them when given), their features and labels.
    Pure on any share of the people, so Spark runs it per group of them."""
    if progress:
        progress("cart decision moments")
    moments = cart_decision_moments(frames.events)
    spans = cart_spans(frames.events)
    out: dict[str, pd.DataFrame] = {}
    for part in parts:
        start, end = windows.parts()[part]
        snapshots = cart_snapshots(frames, start, end, moments)
        if sample is not None:
            snapshots = sample(part, snapshots)
        if progress:
            progress(f"cart features ({len(snapshots):,} {part} snapshots)")
        out[part] = cart_rows(frames, snapshots, spans, known_at=end)
    return out


def cart_abandonment_from_parts(
    windows: CartWindows,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    evaluation: pd.DataFrame,
    params: dict[str, object] | None = None,
) -> Dataset:
    """The ``Dataset`` of cart abandonment from its labelled rows, however they were built."""
    _require_both_classes(train, "training")
    _require_both_classes(validation, "validation")
    (train_start, train_end), (validation_start, validation_end) = windows.train, windows.validation
    return Dataset(
        task=CART_ABANDONMENT.name,
        features=list(CART_FEATURES),
        categorical=list(CART_CATEGORICAL),
        train=train,
        evaluation=evaluation,
        evaluation_cutoff=windows.test[0].to_pydatetime(),
        train_cutoffs=[train_start.to_pydatetime(), train_end.to_pydatetime()],
        horizon=CART_HORIZON.to_pytimedelta(),
        params={
            "snapshots": "decision moments: " + ", ".join(CART_MOMENTS),
            "evaluation_days": windows.evaluation_days,
            "validation_days": windows.validation_days,
            **(params or {}),
        },
        validation=validation,
        validation_cutoff=validation_start.to_pydatetime(),
        definition=cart_abandonment_definition(),
        baselines={
            "idle_time": ["minutes_idle"],
            "session_logistic": list(CART_SESSION_FEATURES),
        },
        train_data_end=(validation_end + CART_HORIZON).to_pydatetime(),
    )


def cart_abandonment_dataset(
    frames: JourneyFrames,
    cutoff: datetime | None = None,
    evaluation_days: int = 30,
    validation_days: int = 30,
    training_days: int = 180,
    max_train_rows: int | None = 120_000,
    max_eval_rows: int | None = 100_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Carts at decision moments, split in time: training, then validation, then the test
    window starting at ``cutoff``; each part's 24-hour label windows end before the next begins.
    """
    windows = cart_windows(
        data_start(frames), data_end(frames), cutoff, evaluation_days, validation_days,
        training_days,
    )  # fmt: skip
    parts = cart_part_rows(
        frames, windows, _cart_sampler(max_train_rows, max_eval_rows, seed), progress
    )
    return cart_abandonment_from_parts(windows, parts["train"], parts["validation"], parts["test"])


def cart_abandonment_evaluation(
    frames: JourneyFrames,
    cutoff: datetime | None = None,
    evaluation_days: int = 30,
    max_eval_rows: int | None = 100_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The test rows of ``cart_abandonment_dataset`` alone (the same sample for the same
    seed), and where their period starts."""
    eval_start, eval_end = _cart_test_window(data_end(frames), cutoff, evaluation_days)
    # Only the test window is read: the other windows' bounds do not matter here.
    windows = CartWindows(
        train=(eval_start, eval_start),
        validation=(eval_start, eval_start),
        test=(eval_start, eval_end),
        evaluation_days=evaluation_days,
        validation_days=0,
    )
    sample = _cart_sampler(None, max_eval_rows, seed)
    return cart_part_rows(frames, windows, sample, progress, parts=("test",))["test"], eval_start


def _cart_sampler(
    max_train_rows: int | None, max_eval_rows: int | None, seed: int
) -> Callable[[str, pd.DataFrame], pd.DataFrame]:
    def sample(part: str, snapshots: pd.DataFrame) -> pd.DataFrame:
        return _sample(snapshots, max_train_rows if part == "train" else max_eval_rows, seed)

    return sample


def _cart_test_window(
    end: pd.Timestamp, cutoff: datetime | None, evaluation_days: int
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the test snapshots: from ``cutoff`` (default: midnight ``evaluation_days``
    before the last moment whose 24-hour window the events cover) for ``evaluation_days``."""
    last = end - CART_HORIZON
    eval_start = (
        as_utc(cutoff)
        if cutoff is not None
        else (last - pd.Timedelta(days=evaluation_days)).floor("D")
    )
    if eval_start >= last:
        raise NotEnoughData(f"cutoff {eval_start:%Y-%m-%d} leaves no evaluation period")
    return eval_start, min(last, eval_start + pd.Timedelta(days=evaluation_days))


def as_utc_datetime(moment) -> datetime:
    """A timestamp (aware or a string with its offset) as an aware UTC datetime."""
    return pd.Timestamp(moment).tz_convert(UTC).to_pydatetime()
