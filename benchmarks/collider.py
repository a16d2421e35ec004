"""Shallow against deep networks on the collider toy (docs/physics.md), Baldi et al. (2014), Table 1 style.

Every cell is a whole `deepsci.experiment.run_experiment` of an example with overrides, on the same
120 000 simulated events and the same stratified split per seed:

    shallow   examples/collider_shallow_high.toml's MLP: one hidden layer of 300
    deep      examples/collider_deep.toml's MLP: five hidden layers of 300
    set       examples/collider_set.toml: Deep Sets on the four particles (the low-level view as a set)

on the views low (12 smeared pT, eta, phi), high (8 masses, Delta R and pT ratios) and both (20). The set
network sees particles only, so its row has the low-level cell alone. Printed and written to
benchmarks/results/collider.json: the test ROC-AUC, mean ± std over seeds 0, 1, 2.

    .venv/bin/python benchmarks/collider.py                 # 21 fits: about an hour on 2 cores
    .venv/bin/python benchmarks/collider.py --seeds 0       # one seed
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from deepsci.config import load_config
from deepsci.data.physics.collider import HIGH_LEVEL, LOW_LEVEL
from deepsci.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
VIEWS = {"low": LOW_LEVEL, "high": HIGH_LEVEL, "both": LOW_LEVEL + HIGH_LEVEL}
NETWORKS = {"shallow": "[300]", "deep": "[300, 300, 300, 300, 300]"}


def table_auc(network: str, view: str, seed: int, out: Path) -> float:
    """Test ROC-AUC of an MLP of `network` depth on `view`'s columns."""
    features = json.dumps(VIEWS[view])
    config = load_config(ROOT / "examples" / "collider_deep.toml",
                         [f"seed={seed}", f"data.features={features}", f"model.hidden={NETWORKS[network]}",
                          "report.html=false", f"name=collider_{network}_{view}"])
    return float(run_experiment(config, out, progress=False).metrics["test"]["roc_auc"])


def set_auc(seed: int, out: Path) -> float:
    """Test ROC-AUC of the Deep Sets network on the particles."""
    config = load_config(ROOT / "examples" / "collider_set.toml", [f"seed={seed}", "report.html=false"])
    return float(run_experiment(config, out, progress=False).metrics["test"]["roc_auc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    cells: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for network in NETWORKS:
                for view in VIEWS:
                    cells.setdefault(f"{network}/{view}", []).append(table_auc(network, view, seed, Path(tmp)))
            cells.setdefault("set/low", []).append(set_auc(seed, Path(tmp)))
            print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in cells.items()), flush=True)
    summary = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for k, v in cells.items()}
    print(f"\ntest ROC-AUC, mean ± std over seeds {args.seeds}")
    print(f"{'network':<9}" + "".join(f"{view:>18}" for view in VIEWS))
    for network in (*NETWORKS, "set"):
        row = [f"{summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}" if (k := f"{network}/{view}") in summary
               else "n/a (particles)" for view in VIEWS]
        print(f"{network:<9}" + "".join(f"{c:>18}" for c in row))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "collider.json").write_text(json.dumps({"seeds": args.seeds, "auc": summary}, indent=2))


if __name__ == "__main__":
    main()
