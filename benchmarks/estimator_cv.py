"""deepsci.Regressor / Classifier against scikit-learn's MLPRegressor / MLPClassifier in 5-fold
cross-validation, side by side in one run (DESIGN.md: benchmarks report ratios, not absolute times).

Both at their default settings; the same folds; mean R² (or accuracy) beside the wall time, so a
speed-up that made the model worse would show. Prints JSON.

    .venv/bin/python benchmarks/estimator_cv.py            # diabetes (regression) and breast cancer
    .venv/bin/python benchmarks/estimator_cv.py --smoke    # 60 rows, 2 folds, 2 epochs: that it runs (make test)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.base import clone
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepsci import Classifier, Regressor


def timed_cv(estimator, X, y, folds) -> dict:
    """Mean and spread of the CV score, and the wall time of the 5 fits after one untimed warm-up fit
    (first-call costs: lazy imports, allocator warm-up, are not what cross-validation repeats)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clone(estimator).fit(X[:50], y[:50])
        start = time.perf_counter()
        scores = cross_val_score(estimator, X, y, cv=folds)
    return {"seconds": round(time.perf_counter() - start, 2), "score_mean": round(float(np.mean(scores)), 4),
            "score_std": round(float(np.std(scores)), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="60 rows, 2 folds, 2 epochs: a check that it runs")
    args = parser.parse_args(argv)
    rows, epochs, iters = (60, 2, 2) if args.smoke else (None, 100, 200)  # 100 and 200: each estimator's default
    folds = KFold(2 if args.smoke else 5, shuffle=True, random_state=0)
    out: dict = {"torch_threads": torch.get_num_threads(), "sklearn": sklearn.__version__, "torch": torch.__version__,
                 "python": platform.python_version()}
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:rows], y[:rows]
    # MLPRegressor does not scale targets or features itself; deepsci.Regressor does. Give sklearn its scaler.
    out["diabetes_r2"] = {"deepsci.Regressor": timed_cv(Regressor(epochs=epochs), X, y, folds),
                          "sklearn.MLPRegressor": timed_cv(MLPRegressor(random_state=0, max_iter=iters), X, y, folds),
                          "sklearn.StandardScaler+MLPRegressor": timed_cv(
                              make_pipeline(StandardScaler(), MLPRegressor(random_state=0, max_iter=iters)), X, y,
                              folds)}
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:rows], y[:rows]
    out["breast_cancer_accuracy"] = {"deepsci.Classifier": timed_cv(Classifier(epochs=epochs), X, y, folds),
                                     "sklearn.StandardScaler+MLPClassifier": timed_cv(
                                         make_pipeline(StandardScaler(), MLPClassifier(random_state=0, max_iter=iters)),
                                         X, y, folds)}
    for task, rows in list(out.items()):
        if isinstance(rows, dict) and len(rows) > 1 and all(isinstance(r, dict) for r in rows.values()):
            ours = next(r["seconds"] for k, r in rows.items() if k.startswith("deepsci"))
            for name, r in rows.items():
                r["time_ratio_deepsci_over_this"] = round(ours / max(r["seconds"], 0.01), 2)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
