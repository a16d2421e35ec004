"""Error bars of examples/solubility_ensemble.toml over five seeds, through the real path: cross-conformal
bands (CV+, the example's, and the ensemble-mean variant) against split conformal, on the same seeds.

Each seed and variant is a whole `deepsci.experiment.run_experiment` of the example (8 members with mean
and variance heads on the beta-NLL, plateau schedule, early stopping, sigma scaling and 90% conformal
intervals); the test split is the dataset's own 257 molecules. Variants (config overrides of the example):

- "cross_plus" (the example): the 80% of the training molecules not held out for sigma scaling are dealt
  into 8 folds; member k trains without fold k and early-stops on it; CV+ bands (Barber et al. 2021): at x,
  the order statistics of member(i)'s prediction +- R_i over the out-of-fold residuals R_i, so the band
  widens where the members disagree (deepsci.evaluation.uncertainty.cross_conformal).
- "cross": the same members and residuals; the band is the ensemble mean +- the ceil((n+1) 0.9)-th
  smallest out-of-fold residual.
- "split": split conformal as before: early stopping on a 10% validation slice, bands and sigma scale on
  the calibration split (20% of the training molecules).
- "cross_all_rows": cross-conformal on every training molecule (no calibration split), so no sigma
  scaling (recalibration = "none"): what the reported sigma is without it.

Printed and written to benchmarks/results/conformal_coverage.json: per seed and averaged, the test RMSE,
the calibration-split RMSE, the Gaussian 90% coverage of the reported sigma, its miscalibration area, the
test NLL, the conformal coverage and mean interval width (log mol/L), the conformal threshold q and the
calibration rows it came from.

Beside it, the same split-conformal procedure (the "split" variant's train / calibration / test rows,
absolute residuals, the ceil((n+1) 0.9)-th smallest calibration residual) around scikit-learn models:
ridge, a random forest, k-nearest neighbours and an MLP.

    .venv/bin/python benchmarks/conformal_coverage.py            # ~15 min on 2 cores
    .venv/bin/python benchmarks/conformal_coverage.py --smoke    # seed 0, 80 molecules, 2 members, 1 epoch; no file
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
EXAMPLE = ROOT / "examples" / "solubility_ensemble.toml"
SEEDS = range(5)
VARIANTS: dict[str, list[str]] = {
    "cross_plus": ["uncertainty.conformal_method=cross-plus"],
    "cross": ["uncertainty.conformal_method=cross"],
    "split": ["uncertainty.conformal_method=split", "data.valid_fraction=0.1"],
    "cross_all_rows": ["uncertainty.conformal_method=cross", "data.calib_fraction=0",
                       "uncertainty.recalibration=none"],
}
KEYS = ("test_rmse", "calib_rmse", "gaussian_coverage", "miscalibration_area", "test_nll", "conformal_coverage",
        "mean_width", "q", "calibration_rows", "epochs_run")


def one_seed(seed: int, out: Path, overrides: list[str]) -> dict[str, float | None]:
    config = load_config(EXAMPLE, [f"seed={seed}", "report.html=false", *overrides])
    m = run_experiment(config, out, progress=False).metrics
    u = m["uncertainty"]["test"]
    cal = m["uncertainty"]["calibration"]
    return {"test_rmse": m["test"]["rmse"], "calib_rmse": m["calib"]["rmse"] if "calib" in m else None,
            "gaussian_coverage": u["gaussian_coverage"], "miscalibration_area": u["miscalibration_area"],
            "test_nll": u["nll"], "conformal_coverage": u["coverage"], "mean_width": u["mean_width"],
            "q": cal["q"][0], "calibration_rows": cal["n"], "epochs_run": m["epochs_run"]}


def reference_coverage(seed: int, overrides: list[str]) -> dict[str, float]:
    """Split-conformal 90% coverage on the test rows around scikit-learn models, on the example's split."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor

    from deepsci.data.build import build_dataset

    config = load_config(EXAMPLE, [f"seed={seed}", *overrides])
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


def mean_over_seeds(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    return {k: None if rows[0][k] is None else float(np.mean([float(r[k]) for r in rows])) for k in KEYS}  # type: ignore[arg-type]


def main(argv: list[str]) -> dict[str, object]:
    """Every variant and reference over SEEDS; `argv`: config overrides (`key=value`), or `--smoke` for one seed
    of two variants on 60 training and 20 test molecules, 2 members, 1 epoch (that it runs, in make test)."""
    overrides = [a for a in argv if a != "--smoke"]
    seeds = range(1) if "--smoke" in argv else SEEDS
    variants = ("cross_plus", "split") if "--smoke" in argv else tuple(VARIANTS)
    with tempfile.TemporaryDirectory() as sample:
        if "--smoke" in argv:
            from tiny import solubility_overrides  # beside this script

            # 60 training molecules: calibration rows enough for a 90% threshold
            overrides = [*solubility_overrides(Path(sample), train=60), "uncertainty.members=2", *overrides]
        return compare(overrides, seeds, variants)


def compare(overrides: list[str], seeds: range, names: tuple[str, ...]) -> dict[str, object]:
    """The variants `names` and the scikit-learn references, each at every seed."""
    variants: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, variant in ((n, VARIANTS[n]) for n in names):
            rows = []
            for seed in seeds:
                rows.append(one_seed(seed, Path(tmp), [*variant, *overrides]))
                print(name, seed, {k: None if v is None else round(float(v), 3) for k, v in rows[-1].items()},
                      flush=True)
            mean = mean_over_seeds(rows)
            print(name, "mean", {k: None if v is None else round(v, 3) for k, v in mean.items()}, flush=True)
            variants[name] = {"overrides": variant, "seeds": rows, "mean": mean}
    references = [reference_coverage(seed, [*VARIANTS["split"], *overrides]) for seed in seeds]
    reference_mean = {k: float(np.mean([ref[k] for ref in references])) for k in references[0]}
    print(f"reference split-conformal coverage, mean of {len(seeds)} seed(s)",
          {k: round(v, 3) for k, v in reference_mean.items()})
    return {"example": "examples/solubility_ensemble.toml", "overrides": overrides, "variants": variants,
            "references": references, "reference_mean": reference_mean}


if __name__ == "__main__":
    result = main(sys.argv[1:])
    if "--smoke" not in sys.argv:
        (ROOT / "benchmarks" / "results" / "conformal_coverage.json").write_text(json.dumps(result, indent=2) + "\n")
