"""Symmetry as data: the D4-equivariant CNN on a quarter of the lens training images against the shipped CNN on
all of them (issue 25; docs/physics.md, "Physics inside the network").

Every cell is a whole `deepsci.experiment.run_experiment` of an example with overrides, on the same 3000 simulated
lenses, the same stratified split per seed and the same 900 test images:

    cnn          examples/lenses.toml as shipped: channels 8-16-32, flips and free rotations, every training image
    equivariant  examples/lenses_equivariant.toml (group convolutions over D4, channels 4-8-16 x 8 slices) with
                 data.train_fraction = FRACTION: a seeded, stratified quarter of the same training images (the
                 validation images, which only stop training early, and the test images are the same as the cnn's)

Each fit's test ROC-AUC is recorded in benchmarks/results/lenses_equivariant.json as soon as it ends, per row and
seed, with the settings it ran under (the fraction, epochs and any --set overrides of the equivariant row; a
change of settings starts the row's seeds afresh) and its wall seconds (on a loaded machine: read them as such).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lenses_equivariant.py                 # 6 fits, tens of minutes
    .venv/bin/python benchmarks/lenses_equivariant.py --rows equivariant --seeds 1 --set train.lr=1e-3
    .venv/bin/python benchmarks/lenses_equivariant.py --smoke --out /tmp/l.json   # 64 images, 1 epoch: that it runs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deepsci.config import load_config
from deepsci.data import catalog
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lenses_equivariant.json"
EXAMPLES = {"cnn": "lenses.toml", "equivariant": "lenses_equivariant.toml"}
FRACTION = 0.25
SMOKE_IMAGES = 64


def fit_auc(row: str, seed: int, out: Path, overrides: list[str]) -> tuple[float, float]:
    """(test ROC-AUC, wall seconds) of the row's example with this seed and these `--set` overrides."""
    config = load_config(ROOT / "examples" / EXAMPLES[row], [f"seed={seed}", "report.html=false", *overrides])
    start = time.perf_counter()
    metrics = run_experiment(config, out, progress=False).metrics
    return float(metrics["test"]["roc_auc"]), time.perf_counter() - start


def row_overrides(row: str, fraction: float, epochs: int | None, extra: list[str]) -> list[str]:
    """The `--set` overrides of a row: the equivariant row's training fraction and extra settings, and the
    epochs of both (None: the examples' own)."""
    shared = [] if epochs is None else [f"train.epochs={epochs}"]
    return shared + ([f"data.train_fraction={fraction}", *extra] if row == "equivariant" else [])


def record(row: str, seed: int, auc: float, seconds: float, settings: list[str], results: Path) -> None:
    """Store one fit's AUC and seconds under its row and seed; the row's mean and std (population) over its stored
    seeds are recomputed. A row stored under other settings is another measurement: its seeds are dropped."""
    stored = json.loads(results.read_text()) if results.exists() else {"auc": {}}
    cell = stored["auc"].setdefault(row, {"runs": {}})
    if cell.get("settings") != settings:
        cell["runs"], cell["seconds"] = {}, {}
    cell["runs"][str(seed)] = auc
    cell.setdefault("seconds", {})[str(seed)] = round(seconds, 1)
    values = list(cell["runs"].values())
    cell.update(mean=float(np.mean(values)), std=float(np.std(values)), min=float(np.min(values)), n=len(values),
                settings=settings, device="cpu")
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    print(f"seed {seed}: {row} {auc:.4f} ({seconds:.0f} s)", flush=True)


def measure(rows: list[str], seeds: list[int], tmp: Path, fraction: float, epochs: int | None, extra: list[str],
            results: Path) -> None:
    """Fit every row for every seed, recording each AUC as it comes."""
    for seed in seeds:
        for row in rows:
            settings = row_overrides(row, fraction, epochs, extra)
            auc, seconds = fit_auc(row, seed, tmp, settings)
            record(row, seed, auc, seconds, settings, results)


def print_table(auc: dict[str, dict[str, Any]]) -> None:
    """Each row's per-seed AUCs and their mean ± std."""
    for row, cell in auc.items():
        runs = ", ".join(f"{cell['runs'][s]:.4f}" for s in sorted(cell["runs"]))
        print(f"{row:<12} {cell['mean']:.4f} ± {cell['std']:.4f}   seeds {runs}   {' '.join(cell['settings'])}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", choices=list(EXAMPLES), default=list(EXAMPLES))
    parser.add_argument("--fraction", type=float, default=FRACTION, help="data.train_fraction of the equivariant row")
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs of every fit (default: the examples')")
    parser.add_argument("--set", dest="extra", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more overrides of the equivariant row (the same for every seed)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_IMAGES} images, seed 0, 1 epoch: that it runs "
                        "(give --out)")
    args = parser.parse_args(argv)
    images = catalog.LENSES_N
    if args.smoke:
        catalog.LENSES_N = SMOKE_IMAGES  # the catalog simulates this many lenses (cached by their number)
        args.seeds, args.epochs = [0], 1
    try:
        with tempfile.TemporaryDirectory() as tmp:
            measure(args.rows, args.seeds, Path(tmp), args.fraction, args.epochs, args.extra, args.out)
    finally:
        catalog.LENSES_N = images  # a smoke run inside a test process leaves the catalog as it found it
    print(f"\ntest ROC-AUC, mean ± std over the seeds stored in {args.out}")
    print_table(json.loads(args.out.read_text())["auc"])


if __name__ == "__main__":
    main()
