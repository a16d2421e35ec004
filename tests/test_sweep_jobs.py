"""`deepsci sweep --jobs N`: trials shared by worker processes on one study; bad values are one line; a killed
worker's trial and Ctrl-C leave no trial running; the study's storage keeps heartbeats and a write-ahead log."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from deepsci.cli import main
from deepsci.config import load_raw
from deepsci.errors import ConfigError
from deepsci.sweep import prepare_sweep, run_sweep
from deepsci.sweep import study as sweep_study
from deepsci.sweep.jobs import check_jobs
from deepsci.sweep.study import open_study
from deepsci.training.threads import live_processes

ROOT = Path(__file__).resolve().parents[1]
RUNNING, FAIL, COMPLETE = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL,
                           optuna.trial.TrialState.COMPLETE)


def tiny_sweep(tmp_path: Path, epochs: int = 1) -> Path:
    """A sweep of 120 diabetes rows, two choices of width: a trial is a fraction of a second per 100 epochs."""
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.iloc[:120].to_csv(tmp_path / "d.csv", index=False)
    config = tmp_path / "tiny.toml"
    config.write_text(f'name = "tiny"\nseed = 0\n[data]\nsource = "{tmp_path / "d.csv"}"\ntarget = "target"\n'
                      '[model]\nhidden = {choices = [[4], [8]]}\n[train]\n'
                      f'epochs = {epochs}\npatience = {epochs}\n[uncertainty]\nmethod = "none"\n[report]\n'
                      'html = false\n')
    return config


def trials_of(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    path = tmp_path / "runs" / "tiny.sweep" / "study.db"
    if not path.is_file():
        return []
    storage = f"sqlite:///{path}"
    try:
        return optuna.load_study(study_name="tiny", storage=storage).trials
    except (KeyError, sqlalchemy.exc.OperationalError):  # the study or its tables are being created
        return []


def wait_for(condition, what: str, seconds: float = 240.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds:.0f} s for {what}")


@pytest.mark.parametrize("jobs", [0, -2])
def test_bad_jobs_are_one_line_and_status_2(jobs, capsys):
    with pytest.raises(ConfigError, match=f"--jobs {jobs}"):
        check_jobs(jobs)
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(ROOT / "examples" / "solubility_sweep.toml"), "--trials", "2", "--jobs", str(jobs)])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and len(err.splitlines()) == 1 and f"--jobs {jobs}" in err


@pytest.mark.slow
def test_two_jobs_fill_one_study(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the workers inherit it
    config = tiny_sweep(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(config), "--trials", "3", "--jobs", "2", "--out", str(tmp_path / "runs"), "--quiet"])
    assert done.value.code in (0, None)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'runs' / 'tiny.sweep' / 'study.db'}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert (tmp_path / "runs" / "tiny.sweep" / "trials.csv").read_text().count("\n") == 4  # summarised once
    assert all((tmp_path / "runs" / f"tiny-t{k:03d}" / "metrics.json").is_file() for k in range(3))
    assert live_processes(tmp_path / "cache" / "processes") == 0  # the share held for the worker was given back


def _terminal_signals() -> None:
    """In the child before it runs: SIGINT handled and not blocked, as in a terminal's foreground process (a test
    process may pass on an ignored or blocked SIGINT, and Python keeps an ignored one ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@pytest.mark.slow
def test_a_killed_worker_and_ctrl_c_leave_no_trial_running(tmp_path):
    """SIGKILL the worker process mid-trial (its trial is marked failed, the command's own trials go on), then
    Ctrl-C the whole process group as a terminal does: every worker stops, its trial failed, status 130, no worker
    left."""
    config = tiny_sweep(tmp_path, epochs=100_000)  # trials that last until stopped
    env = {**os.environ, "DEEPSCI_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen([sys.executable, "-m", "deepsci", "sweep", str(config), "--trials", "3", "--jobs", "2",
                              "--out", str(tmp_path / "runs"), "--quiet"], env=env, stderr=subprocess.PIPE,
                             text=True, start_new_session=True, preexec_fn=_terminal_signals)
    try:
        running = wait_for(lambda: [t for t in trials_of(tmp_path) if t.state == RUNNING and "worker" in t.user_attrs
                                    and not t.user_attrs["worker"].endswith(f":{sweep.pid}")],
                           "a running trial of the worker process")
        killed = running[0]
        os.kill(int(killed.user_attrs["worker"].split(":")[1]), signal.SIGKILL)
        # the other worker holds its trial, and takes the killed one's place once it is seen gone
        busy = wait_for(lambda: [t for t in trials_of(tmp_path) if t.state == RUNNING and t.number != killed.number
                                 and "worker" in t.user_attrs and t.user_attrs["worker"] != killed.user_attrs["worker"]],
                        "the other worker's trial")
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C
        try:
            _, err = sweep.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say which process of the sweep's session still runs, and in what state
            left = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-s", str(sweep.pid)], capture_output=True,
                                  text=True).stdout
            masks = [line for line in Path(f"/proc/{sweep.pid}/status").read_text().splitlines()
                     if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            pytest.fail(f"the sweep did not end within 120 s of Ctrl-C (command exit {sweep.poll()}); its session "
                        f"still holds:\n{left}\nthe command's signals: {masks}")
    finally:
        if sweep.poll() is None or subprocess.run(["pgrep", "-s", str(sweep.pid)], capture_output=True).returncode == 0:
            with contextlib.suppress(ProcessLookupError):  # the last of them ended meanwhile
                os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 130, err
    trials = {t.number: t for t in trials_of(tmp_path)}
    assert not [t for t in trials.values() if t.state == RUNNING], err
    assert trials[killed.number].state == FAIL and "SIGKILL" in trials[killed.number].user_attrs["note"]
    assert trials[busy[0].number].state == FAIL
    assert f"trial {killed.number}: marked failed" in err and "interrupted" in err
    for trial in trials.values():  # every worker is gone
        pid = int(trial.user_attrs["worker"].split(":")[1])
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
                 f"worker {pid} to end", seconds=30)


@pytest.mark.slow
def test_a_failed_trial_of_the_command_stops_the_workers(tmp_path):
    """The command's own trial fails on its config (a regression scored by accuracy): the workers are stopped as by
    Ctrl-C, the error is one line with status 2, and no trial is left running."""
    config = tiny_sweep(tmp_path)
    env = {**os.environ, "DEEPSCI_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "deepsci", "sweep", str(config), "--trials", "3", "--jobs", "2",
                           "--out", str(tmp_path / "runs"), "--quiet", "--metric", "accuracy"], env=env,
                          capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) >= 1 and all("--metric 'accuracy'" in e for e in errors), done.stderr
    assert "Traceback" not in done.stderr
    trials = trials_of(tmp_path)
    assert trials and not [t for t in trials if t.state == RUNNING]
    assert all(t.state == FAIL for t in trials)


def test_a_stale_trial_is_failed_by_the_next_trial(tmp_path, monkeypatch):
    """A worker that died without a word (its heartbeat stopped): the next trial of any worker marks its trial
    failed after the grace period."""
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sweep_study, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(sweep_study, "GRACE_SECONDS", 1)
    setup = prepare_sweep(load_raw(tiny_sweep(tmp_path)), out=tmp_path / "runs")
    study = open_study(setup, seed=0, pruner=optuna.pruners.NopPruner())
    dead = study.ask()  # a trial whose worker beat once and died
    study._storage.record_heartbeat(dead._trial_id)
    time.sleep(2.5)  # SQLite's CURRENT_TIMESTAMP counts whole seconds: stale only once they differ by 2 or more
    run_sweep(setup, 1, progress=False)
    states = {t.number: t.state for t in trials_of(tmp_path)}
    assert states == {dead.number: FAIL, dead.number + 1: COMPLETE}


def test_a_local_sqlite_study_writes_ahead_and_a_network_one_would_not(tmp_path):
    setup = prepare_sweep(load_raw(tiny_sweep(tmp_path)), out=tmp_path / "runs")
    open_study(setup, seed=0, pruner=optuna.pruners.NopPruner())
    with sqlite3.connect(tmp_path / "runs" / "tiny.sweep" / "study.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    table = tmp_path / "mounts"
    table.write_text("/dev/sda1 / ext4 rw 0 0\nserver:/home /home nfs4 rw 0 0\nsshfs#h: /mnt/h fuse.sshfs rw 0 0\n")
    assert sweep_study._on_local_disk(Path("/data/runs/study.db"), table)
    assert not sweep_study._on_local_disk(Path("/home/me/runs/study.db"), table)
    assert not sweep_study._on_local_disk(Path("/mnt/h/study.db"), table)
    assert not sweep_study._on_local_disk(Path("/x.db"), tmp_path / "no-such-table")  # unknown: not local


def _ratios(stored: dict) -> list[float]:
    """Each repeat's --jobs 2 wall time over its --jobs 1 wall time."""
    wall = {(r["jobs"], r["repeat"]): r["wall_seconds"] for r in stored["runs"]}
    return [wall[2, k] / wall[1, k] for k in sorted({k for _, k in wall})]


def test_the_docs_say_the_stored_benchmark_and_the_heartbeat_settings():
    text = " ".join((ROOT / "docs" / "sweeps.md").read_text().split())
    assert (sweep_study.HEARTBEAT_SECONDS, sweep_study.GRACE_SECONDS) == (10, 60)
    assert "the heartbeat its trial writes every 10 s; a minute later" in text
    stored = json.loads((ROOT / "benchmarks" / "results" / "sweep_jobs.json").read_text())
    assert stored["trials"] == 4 and not stored["one_thread"] and stored["cores"] == 2
    ratios = sorted(f"{r:.2f}" for r in _ratios(stored))
    assert len(ratios) == 5 and f"`--jobs 2` took {', '.join(ratios[:4])} and {ratios[4]} of the `--jobs 1` wall" in text
    assert f"a median of {stored['median_ratio']['2']:.2f}" in text
    one, two = ([r for r in stored["runs"] if r["jobs"] == n and r["repeat"] == 0][0] for n in (1, 2))
    assert one["states"] == two["states"] == {"complete": 4}
    assert (f"`--jobs 1` took {one['wall_seconds']:.1f} s ({one['cpu_seconds']:.1f} s of CPU), `--jobs 2` "
            f"{two['wall_seconds']:.1f} s ({two['cpu_seconds']:.1f} s of CPU)") in text
    assert f"`--jobs 2` does {two['cpu_seconds'] - one['cpu_seconds']:.1f} s more" in text
    alone = json.loads((ROOT / "benchmarks" / "results" / "sweep_jobs_one_thread.json").read_text())
    assert alone["trials"] == 4 and alone["one_thread"] and alone["cores"] == 2
    assert {r["states"]["complete"] for r in alone["runs"]} == {4}
    ratios = sorted(f"{r:.2f}" for r in _ratios(alone))
    assert len(ratios) == 3 and f"three pairs) `--jobs 2` took {ratios[0]}, {ratios[1]} and {ratios[2]} of" in text
