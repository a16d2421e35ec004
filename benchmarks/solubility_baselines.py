"""Baselines on solubility's own 257-molecule test split: ridge regression on the RDKit descriptors
deepsci uses, and Delaney's ESOL equation.

Run:  .venv/bin/python benchmarks/solubility_baselines.py
Writes benchmarks/results/solubility_baselines.json. `--smoke`: 40 training and 20 test molecules, features
cached in a temporary folder, no results file (that it runs, in make test).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_squared_error, r2_score

from deepsci.data import esol_log_solubility, load_dataset, load_frame
from tiny import solubility_sample

RESULTS = Path(__file__).parent / "results" / "solubility_baselines.json"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="60 molecules, no results file: that it runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        # valid_fraction=0: the baselines fit on all 1025 training molecules (no early stopping to feed).
        ds = load_dataset(source=str(solubility_sample(Path(cache))), target="SOL", smiles_column="smiles",
                          split_column="split", id_column="NAME", valid_fraction=0.0, seed=0, cache_dir=cache) \
            if args.smoke else load_dataset(source="solubility", valid_fraction=0.0, seed=0)
    X_train, X_test = ds.train.X.numpy(), ds.test.X.numpy()
    y_train = ds.preprocessor.inverse_targets(ds.train.y).numpy().ravel()
    y_test = ds.preprocessor.inverse_targets(ds.test.y).numpy().ravel()

    start = time.perf_counter()
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 25)).fit(X_train, y_train)
    ridge_pred = ridge.predict(X_test)
    ridge_seconds = time.perf_counter() - start

    frame = load_frame("solubility")
    test = frame.set_index("NAME").loc[ds.test.ids]  # same 257 molecules, same order
    esol_pred = esol_log_solubility(test["smiles"].tolist())
    assert np.allclose(test["SOL"].to_numpy(), y_test, atol=1e-4), "ESOL rows do not match the test split"

    def scores(pred: np.ndarray) -> dict[str, float]:
        return {"rmse": float(np.sqrt(mean_squared_error(y_test, pred))), "r2": float(r2_score(y_test, pred))}

    result = {
        "dataset": "solubility",
        "split": {"train": len(ds.train), "test": len(ds.test)},
        "features": f"{ds.n_features} RDKit 2D descriptors (standardised on train)",
        "ridge": {**scores(ridge_pred), "alpha": float(ridge.alpha_), "fit_seconds": ridge_seconds},
        "esol": scores(esol_pred),
        "featurisation_seconds": ds.summary.featurisation_seconds,
        "cache_hit": ds.summary.cache_hit,
        "python": platform.python_version(),
    }
    if not args.smoke:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"solubility test split ({len(ds.test)} molecules; train {len(ds.train)})")
    print(f"{'model':<28}{'RMSE (log mol/L)':>18}{'R^2':>8}")
    print(f"{'ridge (RidgeCV, alpha=%.3g)' % ridge.alpha_:<28}{result['ridge']['rmse']:>18.3f}{result['ridge']['r2']:>8.3f}")
    print(f"{'ESOL (Delaney 2004)':<28}{result['esol']['rmse']:>18.3f}{result['esol']['r2']:>8.3f}")
    print("" if args.smoke else f"wrote {RESULTS}")
    return result
