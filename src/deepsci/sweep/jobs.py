"""`deepsci sweep --jobs N`: N trials at once on one machine: the command's own process and N - 1 worker processes,
on one study.

Optuna's own `n_jobs` runs trials in threads of one process, where Python's GIL and torch's shared thread
pool serialise them; processes do not. What makes N processes pay (benchmarks/sweep_jobs.py):

- The command's process runs trials itself, from the start, importing what a trial needs as it goes (as
  `--jobs 1` does), instead of waiting: the imports are seconds of CPU that every process pays once.
- The other workers start with those libraries already imported (`PRELOAD`, about 6 s of CPU): on Linux
  they are forked from a fork server that the command starts before it opens the study, and that imports them
  once, on the other cores, while the command works; elsewhere (macOS's system libraries are not fork-safe)
  they are spawned and import them each. A fork server, not a fork of the command itself: GNU OpenMP,
  torch's thread pool, hangs in a child forked after a parallel region, and the server never computes. The
  workers are started from a thread of the command, since each start waits for the server's imports.
- Workers share one count of the trials left (`tickets`): a worker takes the next trial as soon as its
  last one ends, so two long trials never queue behind one worker while the other idles.
- Each process is registered in deepsci's process registry (deepsci.training.threads) while it runs trials:
  their fits, evaluations, theory and reports all run on their share of the cores, and the last one still
  working takes the cores the others gave back. A worker is counted from before its start (`reserve_share`):
  the command's first trial does not take the core on which the fork server imports.

The study, its pruner and its seeds are those of workers started by hand: trial k draws from (seed, k)
whichever worker runs it.

Stopping: Ctrl-C reaches every worker (the terminal signals the whole process group; a SIGINT or SIGTERM to
the command alone is passed on as SIGTERM). A worker's first signal ends its trial, which Optuna marks
failed; later ones are ignored, so the marking is never cut short. A worker that dies without that chance
(SIGKILL, the out-of-memory killer) leaves its trial RUNNING: the command marks it failed once the others are
done, and Optuna's heartbeat (deepsci.sweep.study) fails it for any other worker of the study. A trial of the
command's own that fails on its config or data (a DeepSciError) stops the workers as Ctrl-C does.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from deepsci.errors import ConfigError, DeepSciError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Semaphore

    from deepsci.sweep.study import SweepSetup

__all__ = ["PRELOAD", "check_jobs", "run_jobs", "start_server"]

STOP_SECONDS = 60  # after Ctrl-C, how long workers get to mark their trials failed before they are killed
INTERRUPTED = 130  # a worker's status when a signal stopped it (the shell's 128 + SIGINT)
#: What a trial imports (run_experiment, its data, the report): once in the fork server, instead of once per worker.
PRELOAD = ("deepsci.cli", "deepsci.experiment", "deepsci.data.build", "deepsci.sweep.trial", "deepsci.sweep.reporter",
           "deepsci.sweep.sampler", "deepsci.sweep.summary")


def check_jobs(jobs: int) -> int:
    """`jobs` if it is a usable number of worker processes, else a ConfigError naming the fix."""
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: the number of trials run at once must be 1 or more; use --jobs 1 for "
                          "one trial at a time, or --jobs N for N worker processes on this machine.")
    return jobs


def start_server() -> Any:
    """The multiprocessing context workers start from. On Linux its fork server is started now, if it is not
    running yet: it imports PRELOAD in the background (seconds) while this process goes on."""
    context = _context()
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(list(PRELOAD))
        from multiprocessing import forkserver

        forkserver.ensure_running()
    return context


def run_jobs(setup: "SweepSetup", trials: int, jobs: int, *, prune: bool = True, progress: bool = True) -> int:
    """Run `trials` trials of the setup's study in this process and min(jobs, trials) - 1 worker processes, and
    wait for all.

    The study must exist in its storage already (`deepsci.sweep.study.open_study`): workers only load it.

    Returns:
        0, or the status of the first worker that failed (2: a DeepSciError it printed; 128 + N: killed by
            signal N, its trial marked failed here).

    Raises:
        KeyboardInterrupt: on Ctrl-C or SIGTERM, once every worker has stopped (each marks its trial failed;
            one that does not stop within STOP_SECONDS is killed and its trial marked failed here).
        DeepSciError: a trial of this process failed on its config or data; the workers were stopped first.
    """
    from deepsci.training.threads import reserve_share  # torch: on use, once the fork server has started

    others = min(check_jobs(jobs), trials) - 1
    context = start_server() if others else _context()
    tickets = context.Semaphore(trials)  # one per trial: a worker takes one before each trial
    args = (setup, trials, tickets, prune, progress, dict(os.environ), os.getcwd())
    workers = [context.Process(target=work, args=args, name=f"deepsci-sweep-{k + 1}") for k in range(others)]
    # Each start waits for the fork server's imports: a thread starts them while this process runs trials, on its
    # share of the cores with them counted already.
    releases = [reserve_share() for _ in workers]
    starter = threading.Thread(target=_start, args=(workers, releases), name="deepsci-sweep-start", daemon=True)
    # A SIGTERM (`kill`, a batch system's time limit) stops the workers as Ctrl-C does, instead of orphaning them.
    terminate = signal.signal(signal.SIGTERM, _interrupt)
    try:
        starter.start()
        _work_here(setup, trials, tickets, prune, progress)
        starter.join()
        for worker in workers:
            if worker.pid is not None:  # not started only if its start failed (the thread printed why)
                worker.join()
    except (KeyboardInterrupt, DeepSciError):
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the wind-down short
        try:
            starter.join()
            _stop([worker for worker in workers if worker.pid is not None])
            fail_orphans(setup, workers)
        finally:
            signal.signal(signal.SIGINT, interrupt)
        raise
    finally:
        signal.signal(signal.SIGTERM, terminate)
        for release in releases:  # a start that failed, or was cut short, released nothing
            release()
    if any(worker.exitcode for worker in workers):
        fail_orphans(setup, workers)  # a worker that ended normally leaves no trial running
    return next((_status(worker) for worker in workers if worker.exitcode), 0)


def _start(workers: "list[BaseProcess]", releases: "list[Callable[[], None]]") -> None:
    """Start each worker (each start returns once the fork server has forked it), then give back the share of the
    cores held for it (`reserve_share`): it takes its own."""
    for worker, release in zip(workers, releases):
        try:
            worker.start()
        finally:
            release()


def _work_here(setup: "SweepSetup", trials: int, tickets: "Semaphore", prune: bool, progress: bool) -> None:
    """This process's part: trials while tickets are left, on its share of the cores, then the cores given back."""
    import optuna

    from deepsci.sweep.study import run_sweep
    from deepsci.training.threads import share_threads

    with share_threads():
        run_sweep(setup, trials, pruner=None if prune else optuna.pruners.NopPruner(), progress=progress,
                  take=lambda: tickets.acquire(block=False))


def work(setup: "SweepSetup", trials: int, tickets: "Semaphore", prune: bool, progress: bool,
         environ: dict[str, str], cwd: str) -> None:
    """One worker: take a ticket, run one trial, until none of the `trials` tickets is left; exit 2 on a
    DeepSciError (one line on stderr), INTERRUPTED on a signal.

    `environ` and `cwd` are the command's: a fork server started by an earlier command in this Python process
    (a test session, a notebook) holds that command's environment and folder.
    """
    _stop_on_first_signal()
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    try:
        import optuna

        from deepsci.sweep.study import run_sweep
        from deepsci.training.threads import take_share

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        take_share()  # for the worker's whole life: the fit chooses again, the rest of each trial keeps it
        run_sweep(setup, trials, pruner=None if prune else optuna.pruners.NopPruner(), progress=progress,
                  take=lambda: tickets.acquire(block=False))
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except DeepSciError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def worker_id(pid: int) -> str:
    """How a trial names the worker that ran it (its `worker` user attribute): host:pid."""
    return f"{socket.gethostname()}:{pid}"


def fail_orphans(setup: "SweepSetup", workers: "list[BaseProcess]") -> list[int]:
    """Mark failed the trials that ended workers left RUNNING (a worker killed mid-trial); their numbers.

    A worker that stops normally, or on a signal it could catch, leaves none: Optuna marks its trial failed.
    """
    import optuna

    from deepsci.sweep.study import open_study

    ended = {worker_id(w.pid): w for w in workers if w.pid is not None and w.exitcode is not None}
    study = open_study(setup, seed=0, pruner=optuna.pruners.NopPruner())  # the seed and pruner are unused
    failed = []
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = ended.get(str(frozen.user_attrs.get("worker")))
        if worker is None:
            continue  # another command's, or a worker still running
        trial = optuna.trial.Trial(study, frozen._trial_id)
        trial.set_user_attr("note", f"its worker (pid {worker.pid}) ended with {_how(worker.exitcode)} mid-trial")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        failed.append(frozen.number)
        print(f"trial {frozen.number}: marked failed: its worker (pid {worker.pid}) ended with "
              f"{_how(worker.exitcode)}", file=sys.stderr, flush=True)
    return failed


def _context() -> Any:
    """Linux: a fork server (forks that start warm and safe); elsewhere: spawned interpreters."""
    return multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")


def _stop_on_first_signal() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt once, then are ignored while the worker winds down."""

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(workers: "list[BaseProcess]") -> None:
    """SIGTERM to every started worker still running (one the terminal's SIGINT reached ignores it), then wait up
    to STOP_SECONDS for each before killing it."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(timeout=STOP_SECONDS)
        if worker.is_alive():
            worker.kill()
            worker.join()


def _status(worker: "BaseProcess") -> int:
    """A worker's exit status as a shell tells it: 128 + N when signal N ended it."""
    code = worker.exitcode or 0
    return 128 - code if code < 0 else code


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return signal.Signals(-exitcode).name
    return f"status {exitcode}"
