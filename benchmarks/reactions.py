"""Reaction classes from graph pairs, against the nearest neighbour, and whether attributions find the reaction
centre (issue 25, item 3; docs/molecules.md, "Chemical reactions").

Per seed, on the catalog's "reactions" (4581 reactions, 79 template classes, split by product scaffold):

    graph pair    examples/reactions.toml: one shared D-MPNN over reactants and product, sums differenced
    fingerprint   the same split, an MLP on the difference fingerprint (data.kind = "table",
                  featuriser = "reaction": Morgan counts radius 2, 2048 bits, product minus reactants)
    nearest       the run's own reference: the class of the most Tanimoto-similar training reaction by
                  difference fingerprint (metrics.json baselines "nearest-neighbour")
    centre        integrated gradients (128 Gauss-Legendre steps, baseline: every atom's features 0) of the graph
                  pair's predicted class on the first 300 test reactions (--rows); per reaction the product atoms ranked by |own +
                  mapped reactant atom's attribution|, the top k kept (k = the centre's size):
                  hit = at least ceil(k/2) of them in the centre (deepsci.explain.reaction_centres); also
                  on the reactions whose product atoms all come from the reactants (no group added from an
                  unlisted reagent: the centre is then the carried atoms whose bonds change, nothing else)

Results go to benchmarks/results/reactions.json (per seed, then mean and min over the seeds stored).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reactions.py                 # seeds 0-2, tens of minutes
    .venv/bin/python benchmarks/reactions.py --smoke --out /tmp/r.json          # the sample CSV, 1 epoch
    .venv/bin/python benchmarks/reactions.py --write-sample    # examples/data/reactions_sample.csv, from datamol
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rdkit import Chem

from deepsci.config import config_from_dict, load_config, load_raw
from deepsci.data.batch import take
from deepsci.data.catalog import load_frame
from deepsci.data.reaction_graphs import mapped_pairs
from deepsci.data.reactions import build_reactions, centre_atoms, molecule_pool, split_reaction
from deepsci.experiment import build_dataset, fit_in_memory
from deepsci.explain.attributions import attribute
from deepsci.explain.reaction_centres import centre_hits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reactions.json"
EXAMPLE = ROOT / "examples" / "reactions.toml"
SAMPLE = ROOT / "examples" / "data" / "reactions_sample.csv"
#: the fingerprint row: the example's data and split, the difference fingerprint in a table, an MLP
SAMPLE_TEMPLATES = ["BOC-protection", "amide_coupling-1", "curtius-3", "esterification-2", "ether-1",
                    "sulfonamide-1", "suzuki", "urea-2"]
FINGERPRINT_DATA = {"kind": "table", "featuriser": "reaction"}
FINGERPRINT_MODEL = {"kind": "mlp", "hidden": [256], "dropout": 0.2}
FINGERPRINT_EPOCHS = 30


def write_sample(path: Path = SAMPLE) -> None:
    """examples/data/reactions_sample.csv: SAMPLE_TEMPLATES applied to every third pool molecule, at most 30
    reactions a class (the tests' and the smoke run's small reaction set)."""
    frame = build_reactions(seed=0, pool=molecule_pool()[::3], templates=SAMPLE_TEMPLATES, per_class=30,
                            min_class=10, attempts=200, cache=False)
    frame.to_csv(path, index=False)
    print(f"{path}: {len(frame)} reactions, {frame['reaction_class'].nunique()} classes")


def source_overrides(smoke: bool) -> list[str]:
    """The data source of every fit: the catalog's reactions, or the sample CSV for a smoke run."""
    if not smoke:
        return []
    return [f"data.source={SAMPLE}", "data.target=reaction_class", "data.smiles_column=reaction",
            "data.id_column=id", "train.epochs=1"]


def graph_pair(seed: int, extra: list[str], rows: int) -> dict[str, Any]:
    """Test accuracy of the example, of its nearest-neighbour reference, and the centre criteria of its
    attributions on the first `rows` test reactions."""
    config = load_config(EXAMPLE, [f"seed={seed}", *extra])
    start = time.perf_counter()
    fitted = fit_in_memory(config, build_dataset(config))
    seconds = time.perf_counter() - start
    evaluation = fitted.evaluation
    assert evaluation is not None
    nearest = next(b for b in evaluation.baselines if b.name == "nearest-neighbour")
    test = fitted.dataset.test
    schema = next(iter(fitted.dataset.inputs.values()))
    n = min(rows, len(test))
    ig = attribute(fitted.model, take(test.X, torch.arange(n)), schema, "integrated-gradients",
                   task=fitted.dataset.task)
    frame = _frame(config).set_index("id")
    ids = [str(i) for i in test.ids[:n]]
    reactions = [str(frame.loc[i, "reaction"]) for i in ids]
    centres = [centre_atoms(frame.loc[i, "centre"]) for i in ids]
    values = ig.per_atom()
    hits = centre_hits(reactions, centres, values)
    carried = [r for r, reaction in enumerate(reactions) if not adds_atoms(reaction)]
    carried_hits = centre_hits([reactions[r] for r in carried], [centres[r] for r in carried],
                               [values[r] for r in carried])
    return {"accuracy": float(evaluation.splits["test"].metrics["accuracy"]),
            "nearest_accuracy": float(nearest.metrics["test"]["accuracy"]), "centre": hits.to_json(),
            "centre_carried_only": carried_hits.to_json(),
            "test_rows": len(test), "train_rows": len(fitted.dataset.train), "seconds": round(seconds, 1)}


def adds_atoms(reaction: str) -> bool:
    """Whether the product holds atoms that no reactant carries (a group the template adds from an unlisted
    reagent, such as a Boc group): the reactions whose centre needs the rule for added atoms."""
    product = split_reaction(reaction)[1]
    return len(mapped_pairs(reaction)) < Chem.MolFromSmiles(product).GetNumAtoms()


def fingerprint(seed: int, extra: list[str]) -> float:
    """Test accuracy of an MLP on the difference fingerprint, same data and split."""
    raw = load_raw(EXAMPLE, [f"seed={seed}", f"train.epochs={FINGERPRINT_EPOCHS}", *extra])
    raw["data"].update(FINGERPRINT_DATA)
    raw["model"] = dict(FINGERPRINT_MODEL)
    config = config_from_dict(raw, source="fingerprint row")
    evaluation = fit_in_memory(config, build_dataset(config)).evaluation
    assert evaluation is not None
    return float(evaluation.splits["test"].metrics["accuracy"])


def _frame(config: Any) -> Any:
    """The reactions table the config reads (the catalog's or the sample CSV)."""
    source = str(config.data.source)
    return load_frame(source) if not source.endswith(".csv") else pd.read_csv(source)


def dataset_facts(frame: pd.DataFrame) -> dict[str, Any]:
    """What docs/molecules.md says of the dataset: reactions, classes, class sizes, centre sizes, pool size, the
    reactions whose product holds atoms no reactant carries."""
    sizes = frame["reaction_class"].value_counts()
    return {"reactions": len(frame), "classes": int(sizes.size), "largest": int(sizes.max()),
            "at_largest": int((sizes == sizes.max()).sum()), "smallest": int(sizes.min()),
            "centre_min": int(frame["n_centre"].min()), "centre_max": int(frame["n_centre"].max()),
            "centre_mean": round(float(frame["n_centre"].mean()), 1), "pool": len(molecule_pool()),
            "adding_atoms": int(sum(adds_atoms(r) for r in frame["reaction"]))}


def summarise(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean and minimum over the seeds of each number."""
    keys = {"accuracy": lambda r: r["accuracy"], "nearest_accuracy": lambda r: r["nearest_accuracy"],
            "fingerprint_accuracy": lambda r: r["fingerprint_accuracy"],
            "centre_hit_rate": lambda r: r["centre"]["hit_rate"],
            "centre_top1_rate": lambda r: r["centre"]["top1_rate"],
            "centre_precision": lambda r: r["centre"]["precision"],
            "centre_hit_rate_carried_only": lambda r: r["centre_carried_only"]["hit_rate"]}
    return {name: {"mean": float(np.mean([get(r) for r in runs.values()])),
                   "min": float(np.min([get(r) for r in runs.values()]))} for name, get in keys.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=300, help="test reactions explained (the first ones)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help="the sample CSV, seed 0, 1 epoch (give --out)")
    parser.add_argument("--write-sample", action="store_true", help=f"write {SAMPLE.relative_to(ROOT)} and stop")
    args = parser.parse_args(argv)
    if args.write_sample:
        write_sample()
        return
    if args.smoke:
        args.seeds, args.rows = [0], 20
    extra = source_overrides(args.smoke)
    stored = json.loads(args.out.read_text()) if args.out.exists() else {"runs": {}}
    if not args.smoke:
        stored["dataset"] = dataset_facts(load_frame("reactions"))
    for seed in args.seeds:
        run = graph_pair(seed, extra, args.rows)
        run["fingerprint_accuracy"] = fingerprint(seed, extra)
        stored["runs"][str(seed)] = run
        print(f"seed {seed}: graph pair {run['accuracy']:.4f}, fingerprint MLP {run['fingerprint_accuracy']:.4f}, "
              f"nearest neighbour {run['nearest_accuracy']:.4f}; centre hit {run['centre']['hit_rate']:.3f}, top-1 "
              f"{run['centre']['top1_rate']:.3f}, carried-only hit {run['centre_carried_only']['hit_rate']:.3f} "
              f"({run['seconds']:.0f} s)", flush=True)
        stored["summary"] = summarise(stored["runs"])
        stored["settings"] = {"example": "examples/reactions.toml", "source": extra, "device": "cpu",
                              "fingerprint": {"data": FINGERPRINT_DATA, "model": FINGERPRINT_MODEL,
                                              "epochs": FINGERPRINT_EPOCHS}}
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    print(json.dumps(stored["summary"], indent=2))


if __name__ == "__main__":
    main()
