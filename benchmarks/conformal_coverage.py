"""Error bars of examples/solubility_ensemble.toml over five seeds, through the real path.

Each seed is a whole `deepsci.experiment.run_experiment` of the example (8 members with mean and
variance heads on the beta-NLL, early stopping on the validation slice, sigma scaling and 90%
conformal intervals fitted on the calibration split, 20% of the training molecules); the test split is
the dataset's own 257 molecules. Printed and written to benchmarks/results/conformal_coverage.json:
per seed and averaged, the test RMSE, the calibration-split RMSE, the Gaussian 90% coverage of the
reported sigma, its miscalibration area, the test NLL and the conformal coverage.

Beside it, the same split-conformal procedure (the same train / calibration / test rows of each
seed, absolute residuals, the ceil((n+1) 0.9)-th smallest calibration residual) around reference
models from scikit-learn: ridge, a random forest, k-nearest neighbours and an MLP. Where they reach
0.90 and the networks do not, the calibration is sound and the dataset's own test split is harder for
the networks than the training pool it was calibrated on (split conformal assumes the two exchangeable).

    .venv/bin/python benchmarks/conformal_coverage.py            # ~4 min on 2 cores
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from deepsci.config import load_config
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("test_rmse", "calib_rmse", "gaussian_coverage", "miscalibration_area", "test_nll", "conformal_coverage",
        "epochs_run")


def one_seed(seed: int, out: Path, overrides: list[str]) -> dict[str, float]:
    config = load_config(ROOT / "examples" / "solubility_ensemble.toml", [f"seed={seed}", "report.html=false",
                                                                          *overrides])
    m = run_experiment(config, out, progress=False).metrics
    u = m["uncertainty"]["test"]
    return {"test_rmse": m["test"]["rmse"], "calib_rmse": m["calib"]["rmse"],
            "gaussian_coverage": u["gaussian_coverage"], "miscalibration_area": u["miscalibration_area"],
            "test_nll": u["nll"], "conformal_coverage": u["coverage"], "epochs_run": m["epochs_run"]}


def reference_coverage(seed: int, overrides: list[str]) -> dict[str, float]:
    """Split-conformal 90% coverage on the test rows around scikit-learn models, on the example's split."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor

    from deepsci.data.build import build_dataset

    config = load_config(ROOT / "examples" / "solubility_ensemble.toml", [f"seed={seed}", *overrides])
    ds = build_dataset(config.data, seed=seed)
    assert ds.calib is not None
    X, y = ds.train.X.numpy(), ds.train.y.numpy().ravel()  # type: ignore[union-attr]
    models = {"ridge": RidgeCV(alphas=np.logspace(-2, 3, 20)),
              "random_forest": RandomForestRegressor(100, min_samples_leaf=2, random_state=seed),
              "knn": KNeighborsRegressor(5),
              "sklearn_mlp": MLPRegressor(hidden_layer_sizes=(128, 64), alpha=1e-3, early_stopping=True,
                                          n_iter_no_change=20, max_iter=300, random_state=seed)}
    return {name: conformal_coverage(model.fit(X, y), ds.calib, ds.test) for name, model in models.items()}


def conformal_coverage(model: object, calib: object, test: object) -> float:
    """Fraction of test rows inside prediction ± the conformal quantile of the calibration residuals."""
    residual = {name: np.abs(model.predict(part.X.numpy()) - part.y.numpy().ravel())  # type: ignore[attr-defined]
                for name, part in (("calib", calib), ("test", test))}
    n = len(residual["calib"])
    q = np.sort(residual["calib"])[int(np.ceil((n + 1) * 0.9)) - 1]
    return float(np.mean(residual["test"] <= q))


def main(overrides: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        seeds = [one_seed(seed, Path(tmp), overrides) for seed in range(5)]
    references = [reference_coverage(seed, overrides) for seed in range(5)]
    for seed, (row, ref) in enumerate(zip(seeds, references)):
        print(seed, {k: round(float(v), 3) for k, v in row.items()}, "references:",
              {k: round(v, 3) for k, v in ref.items()}, flush=True)
    mean = {k: float(np.mean([row[k] for row in seeds])) for k in KEYS}
    reference_mean = {k: float(np.mean([ref[k] for ref in references])) for k in references[0]}
    print("mean", {k: round(v, 3) for k, v in mean.items()})
    print("reference conformal coverage, mean of 5 seeds", {k: round(v, 3) for k, v in reference_mean.items()})
    return {"example": "examples/solubility_ensemble.toml", "overrides": overrides, "seeds": seeds, "mean": mean,
            "references": references, "reference_mean": reference_mean}


if __name__ == "__main__":
    result = main(sys.argv[1:])
    (ROOT / "benchmarks" / "results" / "conformal_coverage.json").write_text(json.dumps(result, indent=2))
