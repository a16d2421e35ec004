"""Error bars of examples/solubility_ensemble.toml over five seeds, through the real path.

Each seed is a whole `deepsci.experiment.run_experiment` of the example (8 members with mean and
variance heads on the beta-NLL, early stopping on the validation slice, sigma scaling and 90%
conformal intervals fitted on the calibration split, 20% of the training molecules); the test split is
the dataset's own 257 molecules. Printed and written to benchmarks/results/conformal_coverage.json:
per seed and averaged, the test RMSE, the calibration-split RMSE, the Gaussian 90% coverage of the
reported sigma, its miscalibration area, the test NLL and the conformal coverage.

    .venv/bin/python benchmarks/conformal_coverage.py            # ~3 min on 2 cores
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


def main(overrides: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        seeds = [one_seed(seed, Path(tmp), overrides) for seed in range(5)]
    for seed, row in enumerate(seeds):
        print(seed, {k: round(float(v), 3) for k, v in row.items()}, flush=True)
    mean = {k: float(np.mean([row[k] for row in seeds])) for k in KEYS}
    print("mean", {k: round(v, 3) for k, v in mean.items()})
    return {"example": "examples/solubility_ensemble.toml", "overrides": overrides, "seeds": seeds, "mean": mean}


if __name__ == "__main__":
    result = main(sys.argv[1:])
    (ROOT / "benchmarks" / "results" / "conformal_coverage.json").write_text(json.dumps(result, indent=2))
