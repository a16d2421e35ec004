"""Shallow, deep and set networks on the collider toy (docs/physics.md), Baldi et al. (2014), Table 1 style.

Every cell is a whole `deepsci.experiment.run_experiment` of an example with overrides, on the same
120 000 simulated events and the same stratified split per seed:

    shallow            examples/collider_shallow_high.toml's MLP: one hidden layer of 300
    deep               examples/collider_deep.toml's MLP: five hidden layers of 300
    deepsets           examples/collider_set.toml: Deep Sets on the four particles
    set-transformer    examples/collider_set_transformer.toml: a Set Transformer on the four particles
    deepsets-pairwise  examples/collider_set_pairwise.toml: Deep Sets with a pair network (Relation Networks)
    lorentz            examples/collider_lorentz.toml: a set network over the Minkowski products (Lorentz-invariant)

on the views low (12 smeared pT, eta, phi; for the set networks the same particles as a set of four),
high (8 masses, Delta R and pT ratios) and both (20). A set network needs a set: the high-level view is
a fixed list of 8 named, different quantities, not exchangeable elements, so a set network on it alone
is no set task (n/a). Its "both" cell is the set network on the particles beside an MLP of 300 on the
high-level columns (data.kind = "multi", model.kind = "multi"), read from an .npz written here with the
same events, labels and order, hence the same split. Each fit is recorded in
benchmarks/results/collider.json as soon as it ends (its cell's AUC for that seed replaced, other seeds
and cells kept, mean ± std over the cell's stored seeds recomputed), so runs of different rows or seeds
may go side by side and an interrupted run keeps what it measured; the table is printed at the end.

    .venv/bin/python benchmarks/collider.py                          # 36 fits: minutes on a GPU, hours on 2 cores
    .venv/bin/python benchmarks/collider.py --rows deepsets-pairwise --seeds 0 --views low --epochs 12
    .venv/bin/python benchmarks/collider.py --smoke --out /tmp/c.json   # 300 events, 2 fits of 1 epoch: that it runs
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepsci.config import config_from_dict, load_config, load_raw
from deepsci.data import catalog, load_frame
from deepsci.data.physics.collider import HIGH_LEVEL, LOW_LEVEL, particle_table
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "collider.json"
VIEWS = {"low": LOW_LEVEL, "high": HIGH_LEVEL, "both": LOW_LEVEL + HIGH_LEVEL}
NETWORKS = {"shallow": "[300]", "deep": "[300, 300, 300, 300, 300]"}
SET_EXAMPLES = {"deepsets": "collider_set.toml", "set-transformer": "collider_set_transformer.toml",
                "deepsets-pairwise": "collider_set_pairwise.toml", "lorentz": "collider_lorentz.toml"}
ROWS = (*NETWORKS, *SET_EXAMPLES)
SMOKE_EVENTS = 300


def table_auc(network: str, view: str, seed: int, out: Path, train: list[str]) -> float:
    """Test ROC-AUC of an MLP of `network` depth on `view`'s columns."""
    features = json.dumps(VIEWS[view])
    config = load_config(ROOT / "examples" / "collider_deep.toml",
                         [f"seed={seed}", f"data.features={features}", f"model.hidden={NETWORKS[network]}",
                          "report.html=false", f"name=collider_{network}_{view}", *train])
    return float(run_experiment(config, out, progress=False).metrics["test"]["roc_auc"])


def set_auc(network: str, seed: int, out: Path, train: list[str]) -> float:
    """Test ROC-AUC of the set network `network` on the particles (its example, this seed)."""
    config = load_config(ROOT / "examples" / SET_EXAMPLES[network], [f"seed={seed}", "report.html=false", *train])
    return float(run_experiment(config, out, progress=False).metrics["test"]["roc_auc"])


def write_both_npz(path: Path) -> None:
    """The catalog's events as an .npz of two aligned inputs: particles (n, 4, 5) as in collider-particles
    (pt, eta, phi, energy, pair_a) and high (n, 8) the high-level columns, with the string labels."""
    events = load_frame("collider")
    particles = particle_table(events)[["pt", "eta", "phi", "energy", "pair_a"]].to_numpy(np.float64)
    np.savez(path, particles=particles.reshape(len(events), 4, 5), high=events[HIGH_LEVEL].to_numpy(np.float64),
             label=events["label"].to_numpy(str))


def set_both_auc(network: str, seed: int, npz: Path, out: Path, train: list[str]) -> float:
    """Test ROC-AUC of the set network on the particles beside an MLP of 300 on the high-level columns."""
    raw: dict[str, Any] = load_raw(ROOT / "examples" / SET_EXAMPLES[network], train)
    data = {k: v for k, v in raw["data"].items() if k not in ("kind", "source")}
    raw.update(name=f"collider_{network}_both", seed=seed, report={"html": False})
    raw["data"] = {**data, "kind": "multi", "source": str(npz), "target": "label",
                   "inputs": {"particles": {"kind": "set", "x": "particles"},
                              "high": {"kind": "table", "x": "high", "features": HIGH_LEVEL}}}
    raw["model"] = {"kind": "multi", "hidden": [128],
                    "inputs": {"particles": raw["model"], "high": {"kind": "mlp", "hidden": [300]}}}
    return float(run_experiment(config_from_dict(raw), out, progress=False).metrics["test"]["roc_auc"])


def record(key: str, seed: int, auc: float, epochs: int | None, results: Path = RESULTS) -> None:
    """Store one fit's test AUC under its cell and seed in RESULTS, with `epochs` (None: the example's own);
    the cell's mean and std (population) over its stored seeds are recomputed. Read just before writing, so
    processes running other cells keep theirs."""
    stored = json.loads(results.read_text()) if results.exists() else {"auc": {}}
    cell = stored["auc"].setdefault(key, {"runs": {}})
    if cell.get("epochs") != epochs:  # seeds trained for other epochs are another measurement
        cell["runs"] = {}
    cell["runs"][str(seed)] = auc
    values = list(cell["runs"].values())
    cell.update(mean=float(np.mean(values)), std=float(np.std(values)), n=len(values), epochs=epochs,
                device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    print(f"seed {seed}: {key} {auc:.4f}", flush=True)


def measure(rows: list[str], seeds: list[int], tmp: Path, epochs: int | None = None,
            views: tuple[str, ...] = tuple(VIEWS), results: Path = RESULTS) -> None:
    """Fit every asked cell (rows x views) for every seed, recording each AUC as it comes: a set network's
    particle cell for all seeds before its "both" cell. `epochs` replaces the examples' train.epochs (None:
    keep them)."""
    train = [] if epochs is None else [f"train.epochs={epochs}"]
    npz = tmp / "collider_both.npz"
    # the Lorentz network: low only (a "both" cell would need the particles unscaled, data.inputs.particles.scale =
    # "none", and its momentum named by the .npz set's columns f0..f3; not measured)
    both = [r for r in rows if r in SET_EXAMPLES and r != "lorentz"] if "both" in views else []
    if both:
        write_both_npz(npz)
    for row in rows:
        for seed in seeds:
            if row in NETWORKS:
                for view in views:
                    record(f"{row}/{view}", seed, table_auc(row, view, seed, tmp, train), epochs, results)
            elif "low" in views:
                record(f"{row}/low", seed, set_auc(row, seed, tmp, train), epochs, results)
        for seed in seeds if row in both else []:
            record(f"{row}/both", seed, set_both_auc(row, seed, npz, tmp, train), epochs, results)


def print_table(auc: dict[str, dict[str, Any]]) -> None:
    """The table: rows = networks, columns = views; set networks on the high-level view alone are n/a."""
    print(f"{'network':<18}" + "".join(f"{view:>18}" for view in VIEWS))
    for row in ROWS:
        cells = [f"{auc[k]['mean']:.4f} ± {auc[k]['std']:.4f}" if (k := f"{row}/{view}") in auc
                 else ("n/a (not a set)" if row in SET_EXAMPLES and view == "high" else "-") for view in VIEWS]
        print(f"{row:<18}" + "".join(f"{c:>18}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs for every fit (default: the examples')")
    parser.add_argument("--views", nargs="+", choices=list(VIEWS), default=list(VIEWS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_EVENTS} events, seed 0, 1 epoch, the rows "
                        "shallow and deepsets on the view both: that it runs (give --out)")
    args = parser.parse_args(argv)
    if args.smoke:
        catalog.COLLIDER_N = SMOKE_EVENTS  # the catalog simulates this many events (cached by their number)
        args.seeds, args.rows, args.views, args.epochs = [0], ["shallow", "deepsets"], ["both"], 1
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.rows, args.seeds, Path(tmp), args.epochs, tuple(args.views), args.out)
    print(f"\ntest ROC-AUC, mean ± std over the seeds stored in {args.out}")
    print_table(json.loads(args.out.read_text())["auc"])


if __name__ == "__main__":
    main()
