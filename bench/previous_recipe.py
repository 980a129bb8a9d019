"""Fit the models the way an earlier commit's trainer did, and save them for ``decision_time.py``.

Run with the earlier checkout first on ``sys.path`` (``decision_time.py`` does this in a
temporary ``git worktree``): it imports that checkout's feature builder, dataset builders and
pipelines, fits both families on its training rows, keeps the one its trainer would have kept
(chosen on its own evaluation rows, as it did) and pickles the fitted pipeline with the feature
columns it expects. Its own logged figure on its own evaluation rows is saved beside it.
"""

from __future__ import annotations

import argparse
import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

from shared.journey_loader import load_journey_frames
from training.datasets import brand_switch_dataset, cart_abandonment_dataset
from training.evaluate import classification_metrics, is_better
from training.pipelines import calibrated, make_classifier_pipeline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    frames = load_journey_frames(args.database_url, datetime.now(UTC))
    for task in ("brand_switch", "cart_abandonment"):
        dataset = (
            brand_switch_dataset(frames)
            if task == "brand_switch"
            else cart_abandonment_dataset(frames)
        )
        X, y = dataset.train[dataset.features], dataset.train["label"].to_numpy()
        X_eval, y_eval = dataset.evaluation[dataset.features], dataset.evaluation["label"]
        numeric = [c for c in dataset.numeric if X[c].notna().any()]
        fitted, metrics = {}, {}
        for estimator in ("hgb", "logistic"):
            model = calibrated(make_classifier_pipeline(numeric, dataset.categorical, estimator))
            model.fit(X, y)
            fitted[estimator] = model
            metrics[estimator] = classification_metrics(
                y_eval.to_numpy(), model.predict_proba(X_eval)[:, 1]
            )
        chosen = "hgb" if is_better(metrics["hgb"], metrics["logistic"]) else "logistic"
        with (args.out / f"{task}.pkl").open("wb") as file:
            pickle.dump({"model": fitted[chosen], "features": dataset.features}, file)
        own = {"estimator": chosen, "rows": len(X_eval), **metrics[chosen]}
        (args.out / f"{task}.json").write_text(json.dumps(own))


if __name__ == "__main__":
    main()
