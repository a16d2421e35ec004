"""The default signal classifier on the simulated light curves, seeds 0, 1 and 2, beside MiniRocket.

`examples/signals_lightcurves.toml` as shipped (no [model] section: the default 1-D ResNet of Wang et al. 2017;
data.valid_fraction = "auto", which on these 320 training series keeps no validation rows and trains the fixed
budget of train.epochs on all of them), at seeds 0, 1 and 2 (the seed draws the split, the initial weights and
the batches). For each: the test accuracy of the network and of the references deepsci computes on the same
split (the majority class, and MiniRocket features with a ridge classifier where that reference is available).

The seeds run in parallel, one process each. Run: OMP_NUM_THREADS=1 .venv/bin/python
benchmarks/signals_lightcurves.py   (writes
benchmarks/results/signals_lightcurves.json; docs/signals.md quotes it, tests/test_signals_docs.py checks it)
"""

from __future__ import annotations

import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from deepsci.config import load_config
from deepsci.data.physics.lightcurves import simulate_light_curves
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "signals_lightcurves.toml"
OUT = ROOT / "benchmarks" / "results" / "signals_lightcurves.json"
SEEDS = (0, 1, 2)


def one_seed(seed: int, out: Path) -> dict[str, object]:
    """Fit the example at `seed`; its test accuracies (network and references) and wall time."""
    config = load_config(EXAMPLE, [f"seed={seed}"])
    run = run_experiment(config, out=out, progress=False)
    return seed_row(json.loads((run.path / "metrics.json").read_text()))


def seed_row(metrics: dict[str, Any]) -> dict[str, object]:
    """One seed's line of the results: test accuracies of the network and the references, training time."""
    references = {name: round(float(b["test"]["accuracy"]), 4) for name, b in metrics.get("baselines", {}).items()
                  if "accuracy" in b.get("test", {})}
    return {"seed": int(metrics["seed"]), "test_accuracy": round(float(metrics["test"]["accuracy"]), 4),
            "train_accuracy": round(float(metrics["train"]["accuracy"]), 4), "references": references,
            "validation": metrics["data"]["split"].get("validation"),
            "training_seconds": round(float(metrics["timings"]["training_seconds"]), 1)}


def _seed_in_own_folder(seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        return one_seed(seed, Path(tmp))


def smoke() -> None:
    """The same code path in seconds (tests/test_benchmarks.py): 40 series of 32 nights, one epoch, nothing written
    into benchmarks/results/."""
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate_light_curves(40, length=32, seed=0)
        np.savez(Path(tmp) / "lc.npz", X=sim["X"], label=sim["label"])
        config = load_config(EXAMPLE, [f"data.source={Path(tmp) / 'lc.npz'}", "train.epochs=1", "report.html=false"])
        run = run_experiment(config, out=Path(tmp) / "runs", progress=False)
        print(json.dumps(seed_row(json.loads((run.path / "metrics.json").read_text()))))


def main(argv: list[str] | None = None) -> None:
    """Fit the seeds named on the command line (default 0, 1, 2) and merge them into the results file; `--from
    RUN_FOLDER ...` instead adds the metrics.json of runs of the example made otherwise (e.g. `deepsci fit`);
    `--smoke` checks the script runs (`smoke`)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--smoke"]:
        return smoke()
    old = json.loads(OUT.read_text())["seeds"] if OUT.is_file() else []
    if args[:1] == ["--from"]:
        new = [seed_row(json.loads((Path(folder) / "metrics.json").read_text())) for folder in args[1:]]
    else:
        seeds = [int(s) for s in args] or list(SEEDS)
        with ProcessPoolExecutor(len(seeds)) as pool:  # one process per seed (one thread each)
            new = list(pool.map(_seed_in_own_folder, seeds))
    merged = {int(r["seed"]): r for r in [*old, *new]}  # type: ignore[call-overload]
    rows = [merged[k] for k in sorted(merged)]
    accuracies = [r["test_accuracy"] for r in rows]
    result = {"example": "examples/signals_lightcurves.toml", "seeds": rows,
              "test_accuracy_mean": round(sum(accuracies) / len(accuracies), 4),  # type: ignore[arg-type]
              "test_accuracy_min": min(accuracies), "test_accuracy_max": max(accuracies),
              "machine": "shared 2-core CPU, torch 2.13.0, OMP_NUM_THREADS=1"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
