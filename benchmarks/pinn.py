"""Physics-informed training of the two shipped problems: the error each way of training reaches, over seeds.

For the damped oscillator and the 1-D heat equation (deepsci.training.equations, the parameters of
examples/pinn_oscillator.toml and examples/pinn_heat.toml), each seed fits the network of the examples
(tanh MLP 2 x 32, float64) in three ways and measures the relative L2 error against the closed form on the
evaluation grid (1001 points; 101 x 101):

- `hard`: conditions built into the solution (the ansatz), Adam then L-BFGS: the examples as shipped;
- `soft`: the same optimisers and budget, conditions as penalties of weight 1 (the form a user's equation
  without an ansatz takes);
- `hard-adam`: the ansatz, Adam alone for as many loss evaluations as `hard` made in all.

It also records the loss evaluations and the CPU seconds of each fit (process time, one thread: the fit runs
on one; read them as ratios, the machine's load moves them).

    .venv/bin/python benchmarks/pinn.py [--seeds 0 1 2] [--smoke]

Writes benchmarks/results/pinn.json; docs/physics.md quotes it (tests/training/test_physics_informed.py
holds the quotes to the file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from deepsci.config import PhysicsConfig, load_fit_config
from deepsci.evaluation.physics_informed import check_solution
from deepsci.physics_run import problem_of_config
from deepsci.training.physics_informed import fit

RESULTS = Path(__file__).parent / "results" / "pinn.json"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROBLEMS = ("oscillator", "heat")
WAYS = ("hard", "soft", "hard-adam")


def measure(config: PhysicsConfig, way: str, seed: int, *, adam_steps: int | None = None) -> dict[str, Any]:
    """One fit of `config`'s problem the way `way` says; its error, loss evaluations and CPU seconds."""
    t, m = config.train, config.model
    problem = problem_of_config(config)
    epochs, lbfgs = (adam_steps or t.epochs, 0) if way == "hard-adam" else (t.epochs, t.lbfgs_steps)
    start = time.process_time()
    result = fit(problem, hidden=m.hidden, activation=m.activation, init=m.init, seed=seed, epochs=epochs, lr=t.lr,
                 lbfgs_steps=lbfgs, collocation=t.collocation_points,
                 constraints="soft" if way == "soft" else "hard")
    seconds = time.process_time() - start
    error = check_solution(problem, result.solution()).relative_l2
    return {"relative_l2": error, "evaluations": len(result.history), "cpu_seconds": seconds,
            "final_loss": result.history[-1]["loss"]}


def run(problem: str, seeds: list[int], smoke: bool) -> dict[str, Any]:
    """Every way and seed of one problem, with the example's settings (smoke: a few steps)."""
    overrides = ["train.epochs=2", "train.lbfgs_steps=2"] if smoke else []
    config = load_fit_config(EXAMPLES / f"pinn_{problem}.toml", overrides)
    assert isinstance(config, PhysicsConfig)
    out: dict[str, Any] = {"settings": config.train.model_dump(), "physics": config.physics, "ways": {}}
    for way in WAYS:
        rows = {}
        for seed in seeds:
            budget = out["ways"]["hard"]["per_seed"][str(seed)]["evaluations"] if way == "hard-adam" else None
            rows[str(seed)] = measure(config, way, seed, adam_steps=budget)
            print(f"{problem:10s} {way:9s} seed {seed}: relative L2 {rows[str(seed)]['relative_l2']:.2e}, "
                  f"{rows[str(seed)]['evaluations']} evaluations, {rows[str(seed)]['cpu_seconds']:.1f} s CPU",
                  flush=True)
        errors = [r["relative_l2"] for r in rows.values()]
        out["ways"][way] = {"per_seed": rows, "max_relative_l2": max(errors),
                            "median_relative_l2": statistics.median(errors)}
    return out


def _warm_up() -> None:
    """One tiny fit first: torch's optimisers import their lazy parts (a second of CPU) on the first step."""
    config = load_fit_config(EXAMPLES / "pinn_oscillator.toml", ["train.epochs=1", "train.lbfgs_steps=1"])
    assert isinstance(config, PhysicsConfig)
    fit(problem_of_config(config), epochs=1, lbfgs_steps=1, collocation=8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--smoke", action="store_true", help="two steps of each optimiser, one seed, results to a "
                                                             "temporary file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:  # the code runs; the numbers mean nothing and stay out of results/
        args.seeds = args.seeds[:1]
        args.out = args.out if args.out != RESULTS else Path(tempfile.gettempdir()) / "pinn_smoke.json"
    _warm_up()
    result = {"seeds": args.seeds, "problems": {p: run(p, args.seeds, args.smoke) for p in PROBLEMS},
              "torch": torch.__version__, "platform": platform.platform(), "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
