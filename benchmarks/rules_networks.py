"""Learning rules on convolutional and recurrent networks through `deepsci fit` (issue 24): a config (default
examples/digits_cnn.toml) with train.rule = backprop, feedback-alignment, sign-symmetry and
direct-feedback-alignment, per seed; the test accuracy (classification) or RMSE (forecasts) of each run folder,
its training seconds and epochs. Writes benchmarks/results/rules_networks.json, keyed by config (entries are
merged: a rerun of one rule or seed keeps the others). The theory section is off (it does not change training).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rules_networks.py --seeds 0 1 2 [--rules backprop ...]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rules_networks.py --config examples/sunspots_gru.toml \
        --rules backprop feedback-alignment sign-symmetry
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from deepsci.config import load_config
from deepsci.experiment import run_experiment

RESULTS = Path(__file__).parent / "results" / "rules_networks.json"
RULES = ("backprop", "feedback-alignment", "sign-symmetry", "direct-feedback-alignment")


def one_run(config_path: str, rule: str, seed: int, out: Path, extra: list[str]) -> dict[str, float]:
    """Fit the config with this rule and seed; its test accuracy, training seconds and epochs run."""
    config = load_config(config_path, [f"train.rule={rule}", f"seed={seed}", f"name=r_{rule}_{seed}",
                                       "report.html=false", "report.theory=false", *extra])
    start = time.perf_counter()
    run = run_experiment(config, out=out, progress=False)
    metrics = json.loads((run.path / "metrics.json").read_text())
    scores = {f"test_{key}": metrics["test"][key] for key in ("accuracy", "rmse") if key in metrics["test"]}
    return {**scores, "epochs_run": metrics["epochs_run"], "training_seconds": metrics["timings"]["training_seconds"],
            "wall_seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "examples" / "digits_cnn.toml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rules", nargs="+", default=list(RULES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help="one epoch, one seed, results in a temporary file")
    args = parser.parse_args(argv)
    extra = ["train.epochs=1"] if args.smoke else []
    if args.smoke:
        args.seeds, args.out = [0], Path(tempfile.mkdtemp()) / "rules_networks.json"
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    entry = results.setdefault(_key(args.config), {})
    entry["torch"], entry["threads"] = torch.__version__, torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:  # rules alternate within a seed, so a change of load falls on all of them
            for rule in args.rules:
                entry.setdefault(rule, {})[str(seed)] = one_run(args.config, rule, seed, Path(tmp), extra)
                args.out.write_text(json.dumps(results, indent=2))
                print(rule, seed, entry[rule][str(seed)], flush=True)


def _key(config: str) -> str:
    """The results key of a config: its path relative to the repository (examples/digits_cnn.toml)."""
    path = Path(config).resolve()
    root = Path(__file__).resolve().parents[1]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(config)


if __name__ == "__main__":
    main()
