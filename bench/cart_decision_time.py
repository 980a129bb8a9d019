"""Cart abandonment judged where a shop can still act: ROC-AUC and PR-AUC on the test window.

    .venv/bin/python bench/cart_decision_time.py [--customers 1200] [--days 365] [--seed 5]
        [--database-url URL]

Generates a synthetic shop (unless ``--database-url`` names one), builds the decision-time
dataset of ``training.datasets.cart_abandonment_dataset`` and compares, on its test rows:
the calibrated HistGradientBoosting pipeline trained on the training part, idle time alone and
a logistic regression on the session columns (both fitted on the same training rows), for all
test snapshots and for each cart's first snapshot alone. Prints the base rate beside them.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

END = datetime(2026, 10, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shared.db.migrate import upgrade
    from shared.features import load_journey_frames
    from training.datasets import cart_abandonment_dataset, first_snapshots
    from training.pipelines import make_cart_abandonment_pipeline
    from training.synth import generate

    url = args.database_url
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cart-bench-')) / 'shop.db'}"
        upgrade(url)
        started = time.perf_counter()
        generate(url, args.customers, args.days, args.seed, end=END, progress=False)
        print(f"synth: {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    frames = load_journey_frames(url, END)
    dataset = cart_abandonment_dataset(frames)
    train, test = dataset.train, dataset.evaluation
    print(
        f"rows: train {len(train):,}, validation {len(dataset.validation):,}, test {len(test):,}"
        f" (max minutes_idle {test['minutes_idle'].max():.1f})"
    )
    model = make_cart_abandonment_pipeline().fit(train[dataset.features], train["label"])
    baselines = {}
    for name, columns in dataset.baselines.items():
        baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        baselines[name] = (columns, baseline.fit(train[columns].fillna(0.0), train["label"]))

    for title, rows in (("all test snapshots", test), ("first snapshots", first_snapshots(test))):
        y = rows["label"].to_numpy()
        print(f"\n{title}: {len(rows):,} rows, base rate (abandoned) {y.mean():.3f}")
        scores = {"hgb_calibrated": model.predict_proba(rows[dataset.features])[:, 1]}
        for name, (columns, baseline) in baselines.items():
            scores[name] = baseline.predict_proba(rows[columns].fillna(0.0))[:, 1]
        for name, score in scores.items():
            print(
                f"  {name:<18} ROC-AUC {roc_auc_score(y, score):.3f}"
                f"  PR-AUC {average_precision_score(y, score):.3f}"
            )


if __name__ == "__main__":
    main()
