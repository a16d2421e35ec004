"""The default signal classifier on two real sets of the UCR/UEA archives, seeds 0, 1 and 2, beside MiniRocket.

`examples/signals_gunpoint.toml` (UCR GunPoint: 1 channel of 150 steps, 2 classes, 50 train / 150 test series) and
`examples/signals_basicmotions.toml` (UEA BasicMotions: 6 channels of 100 steps, 4 classes, 40 train / 40 test) as
shipped: no [model] section (the default network for signals), the archive's own split, so the seed draws only
the initial weights and the batches. For each seed: the test accuracy of the network and of the references
deepsci computes on the same split (the majority class, a logistic regression on the flattened signal, and
MiniRocket features with a ridge classifier). `examples/signals_lightcurves.toml` can be named too (its default
runs live in benchmarks/signals_lightcurves.py).

Other defaults are tried with `--set KEY=VALUE ... --label NAME` (e.g. `--set model.preset=inception`): those
runs go under `trials[NAME]` of the results, never over the default's numbers, so what was tried stays on record.
The seeds run one after another in this process (one thread: OMP_NUM_THREADS=1).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/signals_ucr.py [gunpoint basic-motions light-curves]
     [--seeds 0 1 2] [--set KEY=VALUE ...] [--label NAME]   (writes benchmarks/results/signals_ucr.json;
docs/signals.md quotes it, tests/test_signals_docs.py checks it);  --smoke checks the code path in seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from deepsci.config import load_config
from deepsci.experiment import run_experiment
from signals_lightcurves import seed_row  # beside this script: one seed's line of the results

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {"gunpoint": ROOT / "examples" / "signals_gunpoint.toml",
            "basic-motions": ROOT / "examples" / "signals_basicmotions.toml",
            "light-curves": ROOT / "examples" / "signals_lightcurves.toml"}
OUT = ROOT / "benchmarks" / "results" / "signals_ucr.json"
SEEDS = (0, 1, 2)
MACHINE = "shared 2-core CPU, torch 2.13.0, OMP_NUM_THREADS=1"


def fit_seed(example: Path, seed: int, overrides: list[str]) -> dict[str, object]:
    """Fit `example` at `seed` with the `--set` overrides in a temporary folder: its line of the results."""
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(example, [f"seed={seed}", "report.html=false", *overrides])
        run = run_experiment(config, out=Path(tmp), progress=False)
        return seed_row(json.loads((run.path / "metrics.json").read_text()))


def summary(rows: list[dict[str, Any]], example: Path, overrides: list[str]) -> dict[str, object]:
    """One set's entry: its seeds' lines (sorted by seed) and the mean, min and max test accuracy."""
    rows = sorted(rows, key=lambda r: int(r["seed"]))
    accuracies = [float(r["test_accuracy"]) for r in rows]
    return {"example": str(example.relative_to(ROOT)), "overrides": overrides, "seeds": rows,
            "test_accuracy_mean": round(sum(accuracies) / len(accuracies), 4),
            "test_accuracy_min": min(accuracies), "test_accuracy_max": max(accuracies)}


def merge(old: dict[str, Any] | None, rows: list[dict[str, Any]], example: Path,
          overrides: list[str]) -> dict[str, object]:
    """New seeds' lines `rows` over those of an entry `old` of the same overrides (kept where not refitted),
    summarised again; an entry of other overrides is replaced."""
    same = old is not None and old.get("overrides") == overrides
    kept = {int(r["seed"]): r for r in old["seeds"]} if same and old is not None else {}
    kept.update({int(r["seed"]): r for r in rows})
    return summary(list(kept.values()), example, overrides)


def smoke() -> None:
    """The same code path in seconds (tests/test_benchmarks.py): GunPoint, one epoch, one seed, nothing written into
    benchmarks/results/."""
    print(json.dumps(fit_seed(EXAMPLES["gunpoint"], 0, ["train.epochs=1"])))


def main(argv: list[str] | None = None) -> None:
    """Fit the named sets (default gunpoint and basic-motions) at the seeds and merge them into the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help=f"of {', '.join(EXAMPLES)} (default: gunpoint basic-motions)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", default=None, help="record the runs under trials[LABEL] (needed with --set)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        return smoke()
    unknown = sorted(set(args.sets) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(EXAMPLES)}")
    if args.overrides and not args.label:
        parser.error("runs with --set are a trial: name it with --label")
    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    place = results.setdefault("trials", {}).setdefault(args.label, {}) if args.label \
        else results.setdefault("sets", {})
    for name in args.sets or ["gunpoint", "basic-motions"]:
        rows = [fit_seed(EXAMPLES[name], seed, args.overrides) for seed in args.seeds]
        place[name] = merge(place.get(name), rows, EXAMPLES[name], args.overrides)
        results["machine"] = MACHINE
        OUT.write_text(json.dumps(results, indent=2) + "\n")  # after each set: a long study keeps what it measured
        print(json.dumps({name: place[name]}, indent=2))


if __name__ == "__main__":
    main()
