"""chemprop and deepsci side by side on the solubility set's own split (1025 train / 257 test).

Both train a directed message-passing network (D-MPNN, Yang et al. 2019) on the same molecules and are
scored on the same 257 test molecules; each also reports its wall time per training epoch, on the same
machine and thread count (OMP_NUM_THREADS / torch threads = 1 by default: the comparison is per core).

    chemprop  `chemprop train` with its defaults (depth 3, hidden 300, 50 epochs, batch 64, 10% of the
              training molecules for validation), one run per seed.
    deepsci   examples/solubility_graph.toml (D-MPNN + descriptor join at the readout), one run per seed.

chemprop is an optional benchmark dependency. It pins an RDKit build of its own (via cuik-molmaker), so
it lives in a separate environment whose interpreter this script calls (--chemprop-python, default
$CHEMPROP_PYTHON, else `chemprop` on PATH):

    python -m venv /work/chemprop-venv && /work/chemprop-venv/bin/pip install chemprop==2.3.1 torch==2.13.0

Run:  .venv/bin/python benchmarks/chemprop_compare.py --seeds 0 1 2 [--skip-chemprop] [--skip-deepsci]
Writes benchmarks/results/chemprop_compare.json (entries of a part that is skipped are kept from the last run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "chemprop_compare.json"
EXAMPLE = ROOT / "examples" / "solubility_graph.toml"
CHEMPROP_EPOCHS = 50
SHORT_EPOCHS = 3


def split_files(folder: Path) -> tuple[Path, Path]:
    """train.csv and test.csv (columns smiles, SOL) of the solubility set's own split."""
    from deepsci.data import load_frame

    frame = load_frame("solubility")
    train = frame[frame["split"].str.lower() == "train"][["smiles", "SOL"]]
    test = frame[frame["split"].str.lower() == "test"][["smiles", "SOL"]]
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def chemprop_command(python: str | None) -> list[str]:
    """How to call chemprop's CLI: through the given interpreter, else the `chemprop` on PATH."""
    python = python or os.environ.get("CHEMPROP_PYTHON")
    if python:
        return [python, "-c", "from chemprop.cli.main import main; main()"]
    exe = shutil.which("chemprop")
    if exe is None:
        raise SystemExit("chemprop is not installed: pip install chemprop==2.3.1 torch==2.13.0 (in its own "
                         "environment; see this file's docstring), or pass --chemprop-python.")
    return [exe]


def chemprop_run(cmd: list[str], train: Path, test: Path, seed: int, epochs: int, out: Path) -> dict[str, Any]:
    """One `chemprop train` run: test RMSE (log mol/L) and wall seconds of the whole command."""
    args = cmd + ["train", "--data-path", str(train), str(test), "-s", "smiles",
                  "--target-columns", "SOL", "--task-type", "regression", "--split-sizes", "0.9", "0.1", "0.0",
                  "--epochs", str(epochs), "--data-seed", str(seed), "--pytorch-seed", str(seed),
                  "--num-workers", "0", "--accelerator", "cpu", "--devices", "1", "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"chemprop failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    found = sorted(out.rglob("test_predictions.csv"))
    if not found:
        raise SystemExit(f"chemprop wrote no test_predictions.csv under {out}")
    import pandas as pd

    pred = pd.read_csv(found[0])
    truth = pd.read_csv(test)
    rmse = float(np.sqrt(np.mean((pred["SOL"].to_numpy() - truth["SOL"].to_numpy()) ** 2)))
    return {"seed": seed, "epochs": epochs, "test_rmse": rmse, "wall_seconds": seconds}


def run_chemprop(seeds: list[int], python: str | None, epochs: int = CHEMPROP_EPOCHS) -> dict[str, Any]:
    """chemprop's default D-MPNN per seed; seconds per epoch from a 50-epoch run less a 3-epoch run's
    wall time (start-up, featurisation and testing cancel), divided by 47 (chemprop needs more epochs than
    its 2 warm-up epochs)."""
    cmd = chemprop_command(python)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        train, test = split_files(Path(tmp) / "data")
        overhead = chemprop_run(cmd, train, test, seeds[0], SHORT_EPOCHS, Path(tmp) / "short")
        for seed in seeds:
            r = chemprop_run(cmd, train, test, seed, epochs, Path(tmp) / f"seed{seed}")
            r["seconds_per_epoch"] = (r["wall_seconds"] - overhead["wall_seconds"]) / (epochs - SHORT_EPOCHS)
            runs.append(r)
            print(f"chemprop seed {seed}: test RMSE {r['test_rmse']:.3f}, {r['seconds_per_epoch']:.2f} s/epoch "
                  f"({r['wall_seconds']:.0f} s in all)", flush=True)
    return {"version": _chemprop_version(cmd), "runs": runs, "short_run_wall_seconds": overhead["wall_seconds"],
            "test_rmse_mean": float(np.mean([r["test_rmse"] for r in runs])),
            "seconds_per_epoch_mean": float(np.mean([r["seconds_per_epoch"] for r in runs]))}


def _chemprop_version(cmd: list[str]) -> str:
    python = cmd[0] if cmd[1:2] == ["-c"] else sys.executable
    out = subprocess.run([python, "-c", "import chemprop; print(chemprop.__version__)"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def deepsci_config(seed: int, overrides: list[str]) -> Any:
    """examples/solubility_graph.toml at this seed, with `key=value` overrides."""
    from deepsci.config import load_config

    return load_config(EXAMPLE, [f"seed={seed}", *overrides])


def run_deepsci(seeds: list[int], overrides: list[str]) -> dict[str, Any]:
    """The example fitted once per seed (single network): test RMSE and training seconds per epoch."""
    import torch

    from deepsci.experiment import run_experiment

    torch.set_num_threads(1)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            run = run_experiment(deepsci_config(seed, [f"name=graph{seed}", *overrides]), out=tmp, progress=False)
            m = run.metrics
            r = {"seed": seed, "test_rmse": m["test"]["rmse"], "epochs": m["epochs_run"], "best_epoch": m["best_epoch"],
                 "seconds_per_epoch": m["timings"]["training_seconds"] / m["epochs_run"]}
            runs.append(r)
            print(f"deepsci seed {seed}: test RMSE {r['test_rmse']:.3f}, {r['seconds_per_epoch']:.2f} s/epoch "
                  f"({r['epochs']} epochs, best {r['best_epoch']})", flush=True)
    return {"config": str(EXAMPLE.relative_to(ROOT)), "overrides": overrides, "runs": runs,
            "test_rmse_mean": float(np.mean([r["test_rmse"] for r in runs])),
            "seconds_per_epoch_mean": float(np.mean([r["seconds_per_epoch"] for r in runs]))}


def run_ensemble(seed: int, members: int, overrides: list[str], score: str = "absolute") -> dict[str, Any]:
    """A `members`-network graph ensemble (one stacked GraphNet) with 90% split-conformal intervals
    calibrated on 20% of the training molecules: test RMSE of the ensemble mean and test coverage. `score`:
    the conformal score, "absolute" |y - mean| or "normalised" |y - mean| / (ensemble sigma)."""
    import torch

    from deepsci.config.uncertainty import UncertaintyConfig, resolve_uncertainty
    from deepsci.evaluation.evaluate import evaluate_model
    from deepsci.experiment import build_dataset, build_model
    from deepsci.models.graph import GraphNet
    from deepsci.training import Trainer, get_loss
    from deepsci.training.ensemble import ensemble_loss

    torch.set_num_threads(1)
    config = deepsci_config(seed, ["data.calib_fraction=0.2", *overrides])
    dataset = build_dataset(config)
    section = UncertaintyConfig(method="ensemble", members=members, level=0.9, heteroscedastic=False, score=score)
    spec = resolve_uncertainty(section, dataset.task, seed=seed)
    one = build_model(config, dataset.inputs, dataset.n_outputs, task=dataset.task, seed=seed)
    assert isinstance(one, GraphNet)
    model = one.as_ensemble(members)
    t = config.train
    trainer = Trainer(model, loss=ensemble_loss(get_loss(None, dataset.task), target_dims=2), optimizer=t.optimizer,
                      lr=t.lr, weight_decay=t.weight_decay, batch_size=t.batch_size, epochs=t.epochs,
                      schedule=t.schedule, schedule_kwargs=dict(step_size=t.step_size, gamma=t.gamma,
                                                                plateau_patience=t.plateau_patience, min_lr=t.min_lr),
                      patience=t.patience, seed=seed)
    start = time.perf_counter()
    trainer.fit(dataset.train.X, dataset.train.y, dataset.valid.X, dataset.valid.y)
    seconds = time.perf_counter() - start
    test = evaluate_model(model, dataset, spec).splits["test"]
    r = {"seed": seed, "members": members, "score": score, "test_rmse": test.metrics["rmse"],
         "coverage": test.uncertainty["coverage"], "epochs": len(trainer.history_),
         "seconds_per_epoch": seconds / len(trainer.history_)}
    print(f"ensemble of {members}, seed {seed}: test RMSE {r['test_rmse']:.3f}, 90% interval coverage "
          f"{r['coverage']}, {r['seconds_per_epoch']:.1f} s/epoch", flush=True)
    return r


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--chemprop-python", default=None)
    parser.add_argument("--skip-chemprop", action="store_true")
    parser.add_argument("--skip-deepsci", action="store_true")
    parser.add_argument("--ensemble", type=int, default=0, help="also fit an ensemble of this many members "
                        "per seed with 90%% conformal intervals (0: none)")
    parser.add_argument("--score", choices=("absolute", "normalised"), default="absolute",
                        help="the ensemble's conformal score")
    parser.add_argument("--ensemble-only", action="store_true", help="only the ensemble (skip both single runs)")
    parser.add_argument("--epochs", type=int, default=CHEMPROP_EPOCHS, help="chemprop's epochs (a speed check: "
                        "fewer, with --set train.epochs=N for deepsci)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a key of the example (e.g. model.width=100); repeatable")
    args = parser.parse_args(argv)
    out: Path = args.out
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result.update(dataset="solubility", split={"train": 1025, "test": 257}, threads=1)
    if not (args.skip_chemprop or args.ensemble_only):
        result["chemprop"] = run_chemprop(args.seeds, args.chemprop_python, args.epochs)
    if not (args.skip_deepsci or args.ensemble_only):
        result["deepsci"] = run_deepsci(args.seeds, args.overrides)
    if args.ensemble:
        runs = [run_ensemble(seed, args.ensemble, args.overrides, args.score) for seed in args.seeds]
        result["ensemble"] = {"overrides": args.overrides, "level": 0.9, "score": args.score, "runs": runs,
                              "test_rmse_mean": float(np.mean([r["test_rmse"] for r in runs])),
                              "coverage_mean": float(np.mean([r["coverage"] for r in runs]))}
    if "chemprop" in result and "deepsci" in result:
        result["speedup_per_epoch"] = result["chemprop"]["seconds_per_epoch_mean"] / \
            result["deepsci"]["seconds_per_epoch_mean"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
