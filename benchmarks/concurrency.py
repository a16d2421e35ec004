"""Fits at once on one machine: one, two and (where there are more cores) as many as cores, against the same
fits run one after another, for the solubility MLP, the digits CNN and the co2 forecaster.

Each fit is `deepsci fit EXAMPLE --set train.epochs=E` in its own process, with no OMP_NUM_THREADS in its
environment, under two thread policies:
- `deepsci`: deepsci's choice (deepsci.training.threads: one thread for a small step, else a share of the
  cores among the deepsci processes running);
- `all-cores`: `train.threads` = every core in each fit (what torch does by default, and deepsci did before).
For k fits at once the table gives the training seconds of each fit (metrics.json `timings.training_seconds`,
the slowest of the k), the wall time of the k, and the throughput against the same k fits run one after
another (k x the wall time of one fit alone / the wall time of the k at once; above 1 is a gain).

    .venv/bin/python benchmarks/concurrency.py [--epochs co2_lstm=40,digits_cnn=10,solubility=100]
                                               [--only co2_lstm,digits_cnn] [--policies deepsci,all-cores] [--smoke]

Writes benchmarks/results/concurrency.json (`--out` elsewhere) and prints a Markdown table for docs/scale.md.
Run it on a quiet machine: other processes on the cores are exactly what it measures the effect of.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from deepsci.training.threads import available_cores

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "concurrency.json"
EPOCHS = {"solubility": 100, "digits_cnn": 10, "co2_lstm": 40}


def fit_command(example: str, epochs: int, out: Path, name: str, threads: int | None) -> list[str]:
    """`deepsci fit` of an example as a process of this Python, its run named `name` under `out`."""
    sets = [f"train.epochs={epochs}", f"name={name}", "report.html=false", "train.patience=100000"]
    if threads is not None:
        sets.append(f"train.threads={threads}")
    return [sys.executable, "-m", "deepsci", "fit", str(ROOT / "examples" / f"{example}.toml"), "--out", str(out),
            "--quiet", *(a for s in sets for a in ("--set", s))]


def run_at_once(example: str, epochs: int, k: int, threads: int | None, out: Path, cache: Path) -> dict[str, Any]:
    """k fits started together: wall seconds of the k, and each fit's training seconds and thread record."""
    env = {key: v for key, v in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["DEEPSCI_CACHE"] = str(cache)
    names = [f"{example}-{k}-{j}-{time.monotonic_ns()}" for j in range(k)]
    start = time.perf_counter()
    procs = [subprocess.Popen(fit_command(example, epochs, out, n, threads), env=env, stdout=subprocess.DEVNULL)
             for n in names]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"a fit of {example} failed (exit {codes}); run it alone to see why")
    metrics = [json.loads((out / n / "metrics.json").read_text()) for n in names]
    return {"wall_seconds": wall, "training_seconds": [m["timings"]["training_seconds"] for m in metrics],
            "threads": [m["environment"].get("threads") for m in metrics]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the co2 forecaster, one epoch, deepsci's policy, "
                                                           "results to a temporary file")
    parser.add_argument("--epochs", default=",".join(f"{k}={v}" for k, v in EPOCHS.items()),
                        help="example=epochs, comma-separated")
    parser.add_argument("--only", default=",".join(EPOCHS), help="comma-separated examples")
    parser.add_argument("--policies", default="deepsci,all-cores")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:  # the code runs; the numbers mean nothing and stay out of results/
        args.only, args.epochs, args.policies = "co2_lstm", "co2_lstm=1", "deepsci"
        args.out = args.out if args.out != RESULTS else Path(tempfile.gettempdir()) / "concurrency_smoke.json"
    epochs = {**EPOCHS, **{k: int(v) for k, v in (p.split("=") for p in args.epochs.split(",") if p)}}
    cores = available_cores()
    counts = sorted({1, 2, cores})
    policies = {"deepsci": None, "all-cores": cores}
    rows: list[dict[str, Any]] = []
    print("| example | policy | fits at once | training s (slowest) | wall s | throughput vs one after another |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        out, cache = Path(tmp) / "runs", Path(tmp) / "cache"
        for example in [e for e in args.only.split(",") if e]:
            for policy in [p for p in args.policies.split(",") if p]:
                alone = run_at_once(example, epochs[example], 1, policies[policy], out, cache)
                for k in counts:
                    r = alone if k == 1 else run_at_once(example, epochs[example], k, policies[policy], out, cache)
                    row = {"example": example, "policy": policy, "fits": k, "epochs": epochs[example], **r,
                           "throughput": k * alone["wall_seconds"] / r["wall_seconds"]}
                    rows.append(row)
                    print(f"| {example} | {policy} | {k} | {max(r['training_seconds']):.2f} | "
                          f"{r['wall_seconds']:.2f} | {row['throughput']:.2f} |", flush=True)
    result = {"cores": cores, "platform": platform.platform(), "load_average": os.getloadavg(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
