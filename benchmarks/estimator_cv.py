"""deepsci.Regressor / Classifier against scikit-learn's MLPRegressor / MLPClassifier in 5-fold
cross-validation, side by side in one run (DESIGN.md: benchmarks report ratios, not absolute times).

Both at their default settings; the same folds; mean R² (or accuracy) beside the wall time, so a
speed-up that made the model worse would show. Prints JSON.

    .venv/bin/python benchmarks/estimator_cv.py            # diabetes (regression) and breast cancer
"""

from __future__ import annotations

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


def main() -> None:
    folds = KFold(5, shuffle=True, random_state=0)
    out: dict = {"torch_threads": torch.get_num_threads(), "sklearn": sklearn.__version__, "torch": torch.__version__,
                 "python": platform.python_version()}
    X, y = load_diabetes(return_X_y=True)
    # MLPRegressor does not scale targets or features itself; deepsci.Regressor does. Give sklearn its scaler.
    out["diabetes_r2"] = {"deepsci.Regressor": timed_cv(Regressor(), X, y, folds),
                          "sklearn.MLPRegressor": timed_cv(MLPRegressor(random_state=0), X, y, folds),
                          "sklearn.StandardScaler+MLPRegressor": timed_cv(
                              make_pipeline(StandardScaler(), MLPRegressor(random_state=0)), X, y, folds)}
    X, y = load_breast_cancer(return_X_y=True)
    out["breast_cancer_accuracy"] = {"deepsci.Classifier": timed_cv(Classifier(), X, y, folds),
                                     "sklearn.StandardScaler+MLPClassifier": timed_cv(
                                         make_pipeline(StandardScaler(), MLPClassifier(random_state=0)), X, y, folds)}
    for task, rows in list(out.items()):
        if isinstance(rows, dict) and len(rows) > 1 and all(isinstance(r, dict) for r in rows.values()):
            ours = next(r["seconds"] for k, r in rows.items() if k.startswith("deepsci"))
            for name, r in rows.items():
                r["time_ratio_deepsci_over_this"] = round(ours / r["seconds"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
