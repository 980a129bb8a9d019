"""Brand switch with and without the customer's purchase rhythm, on the test window.

    .venv/bin/python bench/brand_switch_rhythm.py [--database sqlite:///...]
                                                  [--customers 1200 --days 365 --seed 5]
                                                  [--horizon-days 90] [--workdir var/bench-rhythm]

Without ``--database`` a synthetic shop is generated into the work folder (end 2026-10-01; the
defaults are the training tests' shop). The dataset is split as the trainer splits it
(train → validation → test, one horizon apart); every model is fitted on train + validation,
as the trainer refits after choosing, and scored on the test rows. Prints ROC-AUC, PR-AUC,
Brier and the share of p ≥ 0.95 for: the calibrated HistGradientBoosting without and with the
rhythm step, the logistic regression without and with it, BG/NBD alone, recency alone, the RFM
logistic baseline, and separate models for one-time and repeat buyers (overall and within each
group), with the observed switch rate among the rows scored ≥ 0.95 (is such a score earned?);
then the base rate of each part.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

END = datetime(2026, 10, 1, tzinfo=UTC)


def _database(args: argparse.Namespace) -> str:
    if args.database:
        return args.database
    from shared.db.migrate import upgrade
    from training.synth import generate

    folder = Path(args.workdir) / f"c{args.customers}-d{args.days}-s{args.seed}"
    url = f"sqlite:///{folder / 'kundresa.db'}"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        upgrade(url)
        generate(url, args.customers, args.days, args.seed, end=END, progress=True)
        (folder / "done").touch()
    return url


def main() -> None:
    import numpy as np
    import pandas as pd

    from shared.journey_loader import load_journey_frames
    from training.datasets import brand_switch_dataset
    from training.evaluate import classification_metrics
    from training.pipelines import calibrated, make_classifier_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database")
    parser.add_argument("--customers", type=int, default=1200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--workdir", default="var/bench-rhythm")
    args = parser.parse_args()

    started = time.perf_counter()
    frames = load_journey_frames(_database(args), datetime.now(UTC))
    data = brand_switch_dataset(frames, horizon_days=args.horizon_days)
    fit_rows = pd.concat([data.train, data.validation])
    X = fit_rows[data.features]
    test = data.evaluation
    X_test, y_test = test[data.features], test["label"].to_numpy()
    numeric = [c for c in data.numeric if X[c].notna().any()]
    repeat = test["frequency"].to_numpy() > 1
    print(
        f"train {len(data.train):,} rows at {len(data.train_cutoffs)} cutoffs, validation "
        f"{len(data.validation):,} at {data.validation_cutoff:%Y-%m-%d}, test {len(test):,} at "
        f"{data.evaluation_cutoff:%Y-%m-%d} ({repeat.mean():.0%} repeat buyers)"
    )

    def fitted(columns: list[str], categorical: list[str], estimator: str, rhythm: bool, rows):
        model = calibrated(
            make_classifier_pipeline(
                columns,
                categorical,
                estimator,
                rhythm_horizon_days=args.horizon_days if rhythm else None,
            )
        )
        return model.fit(rows[data.features], rows["label"].to_numpy())

    scores: dict[str, np.ndarray] = {}
    cat = data.categorical
    scores["hgb"] = fitted(numeric, cat, "hgb", False, fit_rows).predict_proba(X_test)[:, 1]
    with_rhythm = fitted(numeric, cat, "hgb", True, fit_rows)
    scores["hgb+rhythm"] = with_rhythm.predict_proba(X_test)[:, 1]
    scores["logistic"] = fitted(numeric, cat, "logistic", False, fit_rows).predict_proba(X_test)[
        :, 1
    ]
    scores["logistic+rhythm"] = fitted(numeric, cat, "logistic", True, fit_rows).predict_proba(
        X_test
    )[:, 1]
    rhythm_step = with_rhythm.calibrated_classifiers_[0].estimator.named_steps["rhythm"]
    scores["bgnbd"] = rhythm_step.transform(X_test)["p_no_purchase_bgnbd"].to_numpy()
    for name, columns in data.baselines.items():
        model = fitted(columns, [], "logistic", False, fit_rows)
        scores[name] = model.predict_proba(X_test)[:, 1]
    split = scores["hgb+rhythm"].copy()
    fit_repeat = fit_rows["frequency"].to_numpy() > 1
    for group, fit_mask, test_mask in ((True, fit_repeat, repeat), (False, ~fit_repeat, ~repeat)):
        rows = fit_rows[fit_mask]
        columns = [c for c in numeric if rows[c].notna().any()]
        model = fitted(columns, cat, "hgb", group, rows)
        split[test_mask] = model.predict_proba(X_test[test_mask])[:, 1]
    scores["split_by_repeat"] = split

    print(
        f"\n{'model':<18}{'ROC-AUC':>8}{'PR-AUC':>8}{'Brier':>8}{'p≥0.95':>8}{'max p':>7}"
        f"{'AUC rep':>8}{'AUC one':>8}{'obs≥.95':>8}"
    )
    for name, values in scores.items():
        m = classification_metrics(y_test, values)
        within = [
            classification_metrics(y_test[mask], values[mask])["roc_auc"]
            for mask in (repeat, ~repeat)
        ]
        print(
            f"{name:<18}{m['roc_auc']:>8.3f}{m['pr_auc']:>8.3f}{m['brier']:>8.3f}"
            f"{(values >= 0.95).mean():>8.1%}{values.max():>7.3f}{within[0]:>8.3f}{within[1]:>8.3f}"
            f"{y_test[values >= 0.95].mean():>8.1%}"
        )
    rates = {k: v for k, v in data.params.items() if k.startswith("base_rate")}
    print("\nbase rates: " + ", ".join(f"{k[10:]} {v:.1%}" for k, v in rates.items()))
    print(
        f"test base rate among repeat buyers {y_test[repeat].mean():.1%}, "
        f"one-time buyers {y_test[~repeat].mean():.1%}"
    )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
