"""Uncertainty quality through the real path (`run_experiment`, i.e. `deepsci fit`), over 5 seeds.

Issue 3, items 1-3, each measured on run folders written by `deepsci.experiment.run_experiment`:
- solubility (examples/solubility_ensemble.toml; test split of 257, validation 20% of train):
  test RMSE of the 8-member ensemble vs a single model (same config, uncertainty.method = "none");
  90% split-conformal coverage and width on test (calibrated on the validation split) for both;
  test Gaussian NLL of a heteroscedastic 8-member ensemble vs a single heteroscedastic model (early stopping
  on the validation NLL), with its aleatoric / epistemic parts.
- digits (examples/digits_conformal.toml; stratified test of 360): 90% LAC prediction-set coverage and size
  of the 8-member ensemble (the run's own `digit_set` column), and APS on the same ensemble's probabilities
  (re-calibrated from the validation split: no retraining).
The seed changes initialisations, batch order and the validation slice (digits: the test split too).
Torch is set to 1 thread (on the loaded 2-core machine 2 threads made these small fits far slower).

    .venv/bin/python benchmarks/conformal_coverage.py            # writes benchmarks/results/conformal_coverage.json
    .venv/bin/python benchmarks/conformal_coverage.py --solubility-split random   # adds solubility_random_split
    .venv/bin/python benchmarks/conformal_coverage.py --quick    # 2 seeds, few epochs: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepsci.experiment import load_config, run_experiment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "conformal_coverage.json"


def run(example: str, seed: int, overrides: list[str], out: Path) -> Any:
    config = load_config(ROOT / "examples" / example, [f"seed={seed}", *overrides])
    return run_experiment(config, out=out, progress=False)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in rows[0] if k != "seed"]
    return {k: {"mean": float(np.mean([r[k] for r in rows])), "min": float(np.min([r[k] for r in rows])),
                "max": float(np.max([r[k] for r in rows]))} for k in keys}


def solubility(seed: int, extra: list[str], out: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"seed": seed}
    t = time.perf_counter()
    ens = run("solubility_ensemble.toml", seed, extra, out).metrics
    row["ensemble_seconds"] = time.perf_counter() - t
    single = run("solubility_ensemble.toml", seed, ["uncertainty.method=\"none\"", "uncertainty.conformal=true",
                                                    *extra], out).metrics
    row.update(rmse_single=single["test"]["rmse"], rmse_ensemble=ens["test"]["rmse"],
               coverage_single=single["uncertainty"]["test"]["coverage"],
               coverage_ensemble=ens["uncertainty"]["test"]["coverage"],
               width_ensemble=ens["uncertainty"]["test"]["mean_width"],
               calibration_rows=ens["uncertainty"]["calibration"]["n"])
    het_single = run("solubility_ensemble.toml", seed, ["uncertainty.method=\"none\"", "uncertainty.heteroscedastic=true",
                                                        *extra], out).metrics
    het_ens = run("solubility_ensemble.toml", seed, ["uncertainty.heteroscedastic=true", "uncertainty.score=\"normalised\"",
                                                     *extra], out).metrics
    u1, u8 = het_single["uncertainty"]["test"], het_ens["uncertainty"]["test"]
    row.update(nll_het_single=u1["nll"], nll_het_ensemble=u8["nll"], nll_ensemble_homoscedastic=ens["uncertainty"]["test"]["nll"],
               miscal_het_single=u1["miscalibration_area"], miscal_het_ensemble=u8["miscalibration_area"],
               coverage_het_ensemble_normalised=u8["coverage"], width_het_ensemble_normalised=u8["mean_width"],
               aleatoric_std=u8["mean_aleatoric_std"], epistemic_std=u8["mean_epistemic_std"],
               rmse_het_ensemble=het_ens["test"]["rmse"], epochs_het_single=het_single["epochs_run"])
    print("solubility", {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def digits(seed: int, extra: list[str], out: Path) -> dict[str, Any]:
    import pandas as pd

    from deepsci.evaluation.uncertainty import (
        UncertaintySpec,
        apply_calibration,
        calibrate,
        set_coverage,
        set_size,
    )
    from deepsci.run import evaluate_splits  # noqa: F401  (the run already holds what we need)

    r = run("digits_conformal.toml", seed, extra, out)
    u = r.metrics["uncertainty"]["test"]
    row: dict[str, Any] = {"seed": seed, "accuracy": r.metrics["test"]["accuracy"],
                           "lac_coverage": u["set_coverage"], "lac_size": u["mean_set_size"], "ece": u["ece"]}
    # APS on the same ensemble: recalibrate from validation probabilities recomputed with the loaded run.
    from deepsci.experiment import build_dataset
    from deepsci.evaluation.uncertainty import predictive

    ds = build_dataset(r.config)
    spec = UncertaintySpec(method="ensemble", members=8, conformal=True, set_method="aps", seed=seed)
    dv, dt = predictive(r.model, ds.valid.X, ds.task, spec), predictive(r.model, ds.test.X, ds.task, spec)
    sets = apply_calibration(calibrate(ds.task, ds.valid.y.numpy(), dv, spec), dt)["sets"]
    row["aps_coverage"], row["aps_size"] = set_coverage(ds.test.y.numpy(), sets), set_size(sets)
    pred = pd.read_csv(r.path / "predictions.csv")
    row["set_column_ok"] = float("digit_set" in pred.columns)
    print("digits", {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", choices=["solubility", "digits"], default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--solubility-split", choices=["bundled", "random"], default="bundled",
                        help="random: a random 20%% test split (exchangeable with train) instead of the dataset's own")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extra = ["train.epochs=5"] if args.quick else []
    if args.solubility_split == "random":
        extra += ["data.split=\"random\"", "data.test_fraction=0.2"]
        args.only = "solubility"
    seeds = args.seeds[:2] if args.quick else args.seeds
    result: dict[str, Any] = {"benchmark": "conformal_coverage (run_experiment)", "seeds": seeds,
                              "threads": torch.get_num_threads(), "torch": torch.__version__, "cpus": os.cpu_count()}
    if RESULTS.exists() and not args.quick:
        result.update({k: v for k, v in json.loads(RESULTS.read_text()).items()
                       if k.startswith(("solubility", "digits"))})
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("solubility", solubility), ("digits", digits)):
            if args.only and name != args.only:
                continue
            rows = [fn(seed, extra, Path(tmp)) for seed in seeds]
            key = name if args.solubility_split == "bundled" else f"{name}_random_split"
            result[key] = {"per_seed": rows, "summary": summarise(rows)}
            print(key, json.dumps(result[key]["summary"], indent=1), flush=True)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
