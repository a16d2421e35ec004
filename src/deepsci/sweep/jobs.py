"""`deepsci sweep --jobs N`: N trials at once on one machine, as N worker processes on the same study.

Optuna's own `n_jobs` runs trials in threads of one process, where Python's GIL and torch's shared thread
pool serialise them; processes do not. Each worker is `python -m deepsci sweep ... --trials k --worker`
on the study's storage (the sweep folder's SQLite file, or the URL given), so the study, its pruner and its
seeds are those of workers started by hand: trial k draws from (seed, k) whichever worker runs it. Each
worker's fits register in deepsci's process registry (deepsci.training.threads) and take their share of
the cores. Ctrl-C reaches every worker (the terminal signals the whole process group; a signal to this
process alone is passed on): each marks its running trial failed, as Optuna does, and the finished trials
stay in the study.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Sequence

from deepsci.errors import ConfigError

__all__ = ["check_jobs", "run_workers", "worker_trials"]

STOP_SECONDS = 60  # after Ctrl-C, how long workers get to mark their trials failed before they are killed


def check_jobs(jobs: int) -> int:
    """`jobs` if it is a usable number of worker processes, else a ConfigError naming the fix."""
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: the number of trials run at once must be 1 or more; use --jobs 1 for "
                          "one trial at a time, or --jobs N for N worker processes on this machine.")
    return jobs


def worker_trials(trials: int, jobs: int) -> list[int]:
    """Trials of each worker: `trials` split as evenly as possible over min(jobs, trials) workers."""
    workers = min(check_jobs(jobs), trials)
    return [trials // workers + (k < trials % workers) for k in range(workers)]


def run_workers(commands: Sequence[Sequence[str]]) -> int:
    """Run the worker commands at once and wait for all; the exit status of the first that failed, else 0.

    On KeyboardInterrupt (or SIGTERM) every worker gets SIGINT (if the terminal did not send it already), then up to
    STOP_SECONDS to finish its trial's bookkeeping, and the KeyboardInterrupt goes on to the caller.
    """
    workers = [subprocess.Popen(list(command)) for command in commands]
    # A SIGTERM (`kill`, a batch system's time limit) stops the workers as Ctrl-C does, instead of orphaning them.
    terminate = signal.signal(signal.SIGTERM, _interrupt)
    try:
        codes = [worker.wait() for worker in workers]
    except KeyboardInterrupt:
        _stop(workers)
        raise
    finally:
        signal.signal(signal.SIGTERM, terminate)
    return next((code for code in codes if code != 0), 0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def worker_command(args: Sequence[str]) -> list[str]:
    """The command line of a worker: this Python running deepsci with `args`."""
    return [sys.executable, "-m", "deepsci", *args]


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGINT)
    for worker in workers:
        try:
            worker.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
