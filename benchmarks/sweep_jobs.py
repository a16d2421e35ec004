"""`deepsci sweep --jobs N` against `--jobs 1`: the same sweep (examples/solubility_sweep.toml, 4 trials), timed
back to back, several times, so that each ratio compares runs a minute apart under the same load.

Each run is `deepsci sweep examples/solubility_sweep.toml --trials 4 --jobs N --out <fresh folder> --quiet` in its
own process, with no OMP_NUM_THREADS in its environment (deepsci chooses the threads), sharing one featurisation
cache that an untimed one-trial sweep fills first. For each run: the wall seconds, the CPU seconds of the command
and all its processes (the work done, which the load of other processes changes little), the states of the
study's trials and the load average; for each repeat the ratio of the --jobs N wall time
to the --jobs 1 wall time of that repeat (below 1 is a gain; issue 27 asks for at most 0.65 with N = 2 on two
cores).

    .venv/bin/python benchmarks/sweep_jobs.py [--jobs 1,2] [--trials 4] [--repeats 3] [--one-thread] [--smoke]

Writes benchmarks/results/sweep_jobs.json (`--out` elsewhere) and prints one line per run. Run it on a quiet
machine: other processes on the cores change both times, and the ratio with them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from deepsci.training.threads import available_cores

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sweep_jobs.json"
CONFIG = ROOT / "examples" / "solubility_sweep.toml"


def sweep_command(out: Path, trials: int, jobs: int, sets: list[str]) -> list[str]:
    """`deepsci sweep` of the solubility sweep as a process of this Python."""
    return [sys.executable, "-m", "deepsci", "sweep", str(CONFIG), "--trials", str(trials), "--jobs", str(jobs),
            "--out", str(out), "--quiet", *(a for s in sets for a in ("--set", s))]


def adopt_orphans() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux's PR_SET_CHILD_SUBREAPER), so the CPU time
    of a sweep's workers, whose fork server outlives the command, is counted; False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans() -> float:
    """Wait for every process this one adopted (`adopt_orphans`); their user + system CPU seconds, their own
    children's included."""
    cpu = 0.0
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return cpu
        cpu += usage.ru_utime + usage.ru_stime


def run_sweep(out: Path, trials: int, jobs: int, sets: list[str], env: dict[str, str],
              cpu_time: bool = True) -> dict[str, Any]:
    """One timed sweep in a fresh folder: wall seconds, CPU seconds of the command and every process it started
    (None when not `cpu_time` or where orphans cannot be adopted), how many trials ended in each state, the load
    average. `cpu_time` waits for every child of this process: only where it has no others (not in a test)."""
    import optuna

    counted = cpu_time and adopt_orphans()
    start = time.perf_counter()
    done = subprocess.Popen(sweep_command(out, trials, jobs, sets), env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(done.pid, 0)
    wall = time.perf_counter() - start
    done.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime + reap_orphans() if counted else None
    if done.returncode:
        raise SystemExit(f"the sweep with --jobs {jobs} failed (exit {done.returncode}); run it alone to see why")
    study = optuna.load_study(study_name="solubility_sweep",
                              storage=f"sqlite:///{out / 'solubility_sweep.sweep' / 'study.db'}")
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    return {"jobs": jobs, "wall_seconds": wall, "cpu_seconds": cpu, "states": states,
            "load_average": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values; the first is the reference")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one-thread", action="store_true", help="OMP_NUM_THREADS=1 in every run: the processes "
                        "compared alone, for a machine other work loads (its other processes are not in deepsci's "
                        "registry, so one sweep alone would take two threads that wait on them)")
    parser.add_argument("--smoke", action="store_true", help="2 trials of 1 epoch, --jobs 1, once, results to a "
                                                           "temporary file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sets: list[str] = []
    if args.smoke:  # the code runs (--jobs 2 itself: tests/test_sweep_jobs.py); the numbers stay out of results/
        args.jobs, args.trials, args.repeats, sets = "1", 2, 1, ["train.epochs=1"]
        args.out = args.out if args.out != RESULTS else Path(tempfile.gettempdir()) / "sweep_jobs_smoke.json"
    jobs = [int(j) for j in args.jobs.split(",") if j]
    env = {key: v for key, v in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if args.one_thread:
        env["OMP_NUM_THREADS"] = "1"
    runs: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        env["DEEPSCI_CACHE"] = str(Path(tmp) / "cache")
        if not args.smoke:  # the featurised table cached, the files read once: no run pays for being first
            run_sweep(Path(tmp) / "warm", 1, 1, sets, env, cpu_time=False)
        for repeat in range(args.repeats):
            for n in jobs:
                run = {"repeat": repeat, **run_sweep(Path(tmp) / f"r{repeat}-j{n}", args.trials, n, sets, env,
                                                     cpu_time=not args.smoke)}
                runs.append(run)
                print(f"repeat {repeat}, --jobs {n}: {run['wall_seconds']:.1f} s wall, {run['cpu_seconds'] or 0:.1f} s "
                      f"CPU, trials {run['states']}, load {run['load_average']:.1f}", flush=True)
    reference = {r["repeat"]: r["wall_seconds"] for r in runs if r["jobs"] == jobs[0]}
    for run in runs:
        run["ratio"] = run["wall_seconds"] / reference[run["repeat"]]
    ratios = {str(n): statistics.median(r["ratio"] for r in runs if r["jobs"] == n) for n in jobs}
    result = {"cores": available_cores(), "platform": platform.platform(), "trials": args.trials,
              "config": str(CONFIG.relative_to(ROOT)), "one_thread": args.one_thread,
              "load_average_start": load, "median_ratio": ratios, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"median wall-time ratio to --jobs {jobs[0]}: " + ", ".join(f"--jobs {k}: {v:.2f}" for k, v in
                                                                      ratios.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
