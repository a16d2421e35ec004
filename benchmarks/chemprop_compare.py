"""chemprop and deepsci side by side on the solubility set's own split (1025 train / 257 test).

Both train directed message-passing networks (D-MPNN, Yang et al. 2019) on the same molecules and are scored
on the same 257 test molecules, one run of each per seed, the two alternating (chemprop seed 0, deepsci seed
0, chemprop seed 1, ...) so that a change in the machine's load falls on both. One thread each
(OMP_NUM_THREADS = 1, torch threads = 1): the comparison is per core.

    chemprop  `chemprop train` with its defaults (depth 3, hidden 300, 50 epochs, batch 64, 10% of the
              training molecules for validation), one run per seed.
    deepsci   examples/solubility_graph.toml (an ensemble of D-MPNNs with descriptors joined at the readout,
              trained as one stacked network), one run per seed; and, for the speed per epoch, ONE such
              D-MPNN at chemprop's sizes (width 300, head [300], batch 64), 10 epochs per seed.

Speed is measured both as wall time and as CPU time (the machine is shared: wall time varies with the load,
CPU time much less). chemprop: a 50-epoch run less a 3-epoch run (start-up, featurisation and testing cancel),
over 47 epochs, wall time and the child process's user + system CPU time. deepsci: each epoch from its
start to the next (training, validation and the checkpoint the run writes), wall and process CPU time.

chemprop is an optional benchmark dependency. It pins an RDKit build of its own (via cuik-molmaker), so
it lives in a separate environment whose interpreter this script calls (--chemprop-python, default
$CHEMPROP_PYTHON, else `chemprop` on PATH):

    python -m venv /work/chemprop-venv && /work/chemprop-venv/bin/pip install chemprop==2.3.1 torch==2.13.0

Run:  .venv/bin/python benchmarks/chemprop_compare.py --seeds 0 1 2 [--skip-chemprop] [--skip-deepsci]
Writes benchmarks/results/chemprop_compare.json (entries of a part that is skipped are kept from the last run).
`--smoke --out FILE`: deepsci's example on 60 molecules, 1 epoch, 2 members, nothing else (that it runs, in make test).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
SPEED_EPOCHS = 10  # the single deepsci network's timed epochs per seed
# chemprop's default network, as one deepsci member: the like-for-like speed comparison
CHEMPROP_SIZES = ["uncertainty.method=none", "model.width=300", "model.hidden=[300]", "model.depth=3",
                  "train.batch_size=64"]


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


def _children_cpu() -> float:
    """User + system CPU seconds of every waited-for child process so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def chemprop_run(cmd: list[str], train: Path, test: Path, seed: int, epochs: int, out: Path) -> dict[str, Any]:
    """One `chemprop train` run: test RMSE (log mol/L), wall and CPU seconds of the whole command."""
    args = cmd + ["train", "--data-path", str(train), str(test), "-s", "smiles",
                  "--target-columns", "SOL", "--task-type", "regression", "--split-sizes", "0.9", "0.1", "0.0",
                  "--epochs", str(epochs), "--data-seed", str(seed), "--pytorch-seed", str(seed),
                  "--num-workers", "0", "--accelerator", "cpu", "--devices", "1", "-o", str(out)]
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"chemprop failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    found = sorted(out.rglob("test_predictions.csv"))
    if not found:
        raise SystemExit(f"chemprop wrote no test_predictions.csv under {out}")
    import pandas as pd

    pred = pd.read_csv(found[0])
    truth = pd.read_csv(test)
    rmse = float(np.sqrt(np.mean((pred["SOL"].to_numpy() - truth["SOL"].to_numpy()) ** 2)))
    return {"seed": seed, "epochs": epochs, "test_rmse": rmse, "wall_seconds": seconds, "cpu_seconds": cpu_seconds}


class Chemprop:
    """chemprop's default D-MPNN, one run per seed; its start-up cost measured once by a 3-epoch run, so
    that seconds per epoch = (50-epoch run - 3-epoch run) / 47, wall and CPU."""

    def __init__(self, python: str | None, folder: Path, epochs: int = CHEMPROP_EPOCHS) -> None:
        self.cmd, self.folder, self.epochs = chemprop_command(python), folder, epochs
        self.train, self.test = split_files(folder / "data")
        self.short: dict[str, Any] | None = None

    def run(self, seed: int) -> dict[str, Any]:
        if self.short is None:
            self.short = chemprop_run(self.cmd, self.train, self.test, seed, SHORT_EPOCHS, self.folder / "short")
        r = chemprop_run(self.cmd, self.train, self.test, seed, self.epochs, self.folder / f"seed{seed}")
        n = self.epochs - SHORT_EPOCHS
        r["seconds_per_epoch"] = (r["wall_seconds"] - self.short["wall_seconds"]) / n
        r["cpu_seconds_per_epoch"] = (r["cpu_seconds"] - self.short["cpu_seconds"]) / n
        print(f"chemprop seed {seed}: test RMSE {r['test_rmse']:.3f}, {r['seconds_per_epoch']:.2f} s/epoch wall, "
              f"{r['cpu_seconds_per_epoch']:.2f} s/epoch CPU ({r['wall_seconds']:.0f} s in all)", flush=True)
        return r

    def summary(self, runs: list[dict[str, Any]]) -> dict[str, Any]:
        python = self.cmd[0] if self.cmd[1:2] == ["-c"] else sys.executable
        out = subprocess.run([python, "-c", "import chemprop; print(chemprop.__version__)"], capture_output=True,
                             text=True)
        assert self.short is not None
        return {"version": out.stdout.strip() or "unknown", "runs": runs, **_means(runs),
                "short_run": {k: self.short[k] for k in ("epochs", "wall_seconds", "cpu_seconds")}}


def _means(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("test_rmse", "valid_rmse", "seconds_per_epoch", "cpu_seconds_per_epoch")
    return {f"{k}_mean": float(np.mean([r[k] for r in runs])) for k in keys
            if runs and runs[0].get(k) is not None}


def deepsci_config(seed: int, overrides: list[str]) -> Any:
    """examples/solubility_graph.toml at this seed, with `key=value` overrides."""
    from deepsci.config import load_config

    return load_config(EXAMPLE, [f"seed={seed}", *overrides])


def _epoch_timer() -> Any:
    """A Trainer callback timing each epoch from its start to the next one's (or the fit's end): training,
    validation and whatever the other callbacks do (the run's checkpoint), in wall and process CPU seconds."""
    from deepsci.training.callbacks import Callback

    class EpochTimer(Callback):
        runs_last = True  # after the Checkpoint callback too

        def __init__(self) -> None:
            self.marks: list[tuple[float, float]] = []

        def on_epoch_start(self, trainer: Any, epoch: int) -> None:
            self.marks.append((time.perf_counter(), time.process_time()))

        def on_fit_end(self, trainer: Any) -> None:
            self.marks.append((time.perf_counter(), time.process_time()))

        def per_epoch(self) -> tuple[float, float]:
            (w0, c0), (w1, c1) = self.marks[0], self.marks[-1]
            n = len(self.marks) - 1
            return (w1 - w0) / n, (c1 - c0) / n

    return EpochTimer()


def deepsci_run(seed: int, overrides: list[str], folder: Path) -> dict[str, Any]:
    """The example fitted at this seed: validation (None without a validation split) and test RMSE, wall and
    CPU seconds per epoch."""
    import torch

    from deepsci.experiment import run_experiment

    torch.set_num_threads(1)
    timer = _epoch_timer()
    run = run_experiment(deepsci_config(seed, [f"name=graph{seed}", *overrides]), out=folder, progress=False,
                         callbacks=[timer])
    m = run.metrics
    wall, cpu = timer.per_epoch()
    return {"seed": seed, "test_rmse": m["test"]["rmse"], "valid_rmse": (m.get("valid") or {}).get("rmse"),
            "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "seconds_per_epoch": wall,
            "cpu_seconds_per_epoch": cpu}


def run_deepsci(seed: int, overrides: list[str], folder: Path) -> dict[str, Any]:
    """The example (as configured) at this seed."""
    r = deepsci_run(seed, overrides, folder)
    valid = "-" if r["valid_rmse"] is None else f"{r['valid_rmse']:.3f}"
    print(f"deepsci seed {seed}: valid RMSE {valid}, test RMSE {r['test_rmse']:.3f}, "
          f"{r['seconds_per_epoch']:.2f} s/epoch wall, {r['cpu_seconds_per_epoch']:.2f} s/epoch CPU "
          f"({r['epochs']} epochs, best {r['best_epoch']})", flush=True)
    return r


def run_single(seed: int, overrides: list[str], folder: Path, epochs: int = SPEED_EPOCHS) -> dict[str, Any]:
    """The example's network as ONE member at chemprop's sizes (width 300, head [300], batch 64), `epochs`
    epochs: seconds per epoch only (the like-for-like speed comparison with chemprop's default D-MPNN)."""
    r = deepsci_run(seed, [*overrides, *CHEMPROP_SIZES, f"train.epochs={epochs}", "train.patience=1000",
                           f"name=single{seed}"], folder)
    print(f"deepsci one D-MPNN at chemprop's sizes, seed {seed}: {r['seconds_per_epoch']:.2f} s/epoch wall, "
          f"{r['cpu_seconds_per_epoch']:.2f} s/epoch CPU ({r['epochs']} epochs)", flush=True)
    return {k: r[k] for k in ("seed", "epochs", "seconds_per_epoch", "cpu_seconds_per_epoch")}


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
    has_valid = len(dataset.valid.y) > 0  # the example trains without a validation split
    trainer.fit(dataset.train.X, dataset.train.y, *((dataset.valid.X, dataset.valid.y) if has_valid else ()))
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
    parser.add_argument("--skip-single", action="store_true", help="skip the one-network speed runs")
    parser.add_argument("--ensemble", type=int, default=0, help="only fit an ensemble of this many members per "
                        "seed with 90%% conformal intervals on a calibration split (0: the comparison instead)")
    parser.add_argument("--score", choices=("absolute", "normalised"), default="absolute",
                        help="the ensemble's conformal score")
    parser.add_argument("--epochs", type=int, default=CHEMPROP_EPOCHS, help="chemprop's epochs (a speed check: "
                        "fewer, with --set train.epochs=N for deepsci)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a key of the example (e.g. model.width=100); repeatable")
    parser.add_argument("--smoke", action="store_true", help="deepsci only, seed 0, 60 molecules, 1 epoch, 2 "
                        "members: that it runs (give --out)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as sample:
        if args.smoke:
            from tiny import solubility_overrides  # beside this script

            args.seeds, args.skip_chemprop, args.skip_single, args.ensemble = [0], True, True, 0
            args.overrides += [*solubility_overrides(Path(sample)), "uncertainty.members=2"]
        return compare(args, speed_epochs=1 if args.smoke else SPEED_EPOCHS)


def compare(args: argparse.Namespace, speed_epochs: int) -> dict[str, Any]:
    """The runs `args` asks for, added to the results file args.out."""
    out: Path = args.out
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result.update(dataset="solubility", split={"train": 1025, "test": 257}, threads=1)
    runs: dict[str, list[dict[str, Any]]] = {"chemprop": [], "deepsci": [], "single": []}
    if args.ensemble:
        conformal = [run_ensemble(seed, args.ensemble, args.overrides, args.score) for seed in args.seeds]
        key = "ensemble" if args.score == "normalised" else "ensemble_absolute_score"
        result[key] = {"overrides": args.overrides, "level": 0.9, "score": args.score, "runs": conformal,
                       "test_rmse_mean": float(np.mean([r["test_rmse"] for r in conformal])),
                       "coverage_mean": float(np.mean([r["coverage"] for r in conformal]))}
        args.skip_chemprop = args.skip_deepsci = args.skip_single = True
    with tempfile.TemporaryDirectory() as tmp:
        chemprop = None if args.skip_chemprop else Chemprop(args.chemprop_python, Path(tmp) / "chemprop", args.epochs)
        for seed in args.seeds:  # alternating, so that the machine's load falls on both
            if chemprop is not None:
                runs["chemprop"].append(chemprop.run(seed))
            if not args.skip_single:
                runs["single"].append(run_single(seed, args.overrides, Path(tmp) / "deepsci", speed_epochs))
            if not args.skip_deepsci:
                runs["deepsci"].append(run_deepsci(seed, args.overrides, Path(tmp) / "deepsci"))
        if chemprop is not None:
            result["chemprop"] = chemprop.summary(runs["chemprop"])
    if runs["deepsci"]:
        result["deepsci"] = {"config": str(EXAMPLE.relative_to(ROOT)), "overrides": args.overrides,
                             "runs": runs["deepsci"], **_means(runs["deepsci"])}
    if runs["single"]:
        result["deepsci_one_network"] = {"overrides": [*args.overrides, *CHEMPROP_SIZES], "runs": runs["single"],
                                         **_means(runs["single"])}
    result.pop("note", None)  # the previous run's caveat
    if "chemprop" in result and "deepsci_one_network" in result:
        c, d = result["chemprop"], result["deepsci_one_network"]
        result["speedup_per_epoch"] = {"wall": c["seconds_per_epoch_mean"] / d["seconds_per_epoch_mean"],
                                       "cpu": c["cpu_seconds_per_epoch_mean"] / d["cpu_seconds_per_epoch_mean"]}
    if "chemprop" in result and "deepsci" in result:  # the whole example (all its members) per epoch
        c, d = result["chemprop"], result["deepsci"]
        result["example_speedup_per_epoch"] = {"wall": c["seconds_per_epoch_mean"] / d["seconds_per_epoch_mean"],
                                               "cpu": c["cpu_seconds_per_epoch_mean"] / d["cpu_seconds_per_epoch_mean"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
