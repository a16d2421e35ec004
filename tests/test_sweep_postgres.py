"""Two `deepsci sweep` workers, as separate processes, share one study on a PostgreSQL server the test starts.

The server is a throwaway cluster (initdb in a temporary folder, reached by its Unix socket only, no
TCP port), run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
The test skips, saying why, only where PostgreSQL's programs cannot be found; `.ci/run` installs
Debian's `postgresql` package so that they can.
"""

import csv
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from sklearn.datasets import load_diabetes

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 2  # per worker

SWEEP = """
name = "shared"
seed = 0

[data]
source = "{csv}"
target = "target"

[model]
hidden = {{choices = [[4], [8, 8]]}}

[train]
lr = {{low = 1e-3, high = 3e-2, log = true}}
epochs = 2

[report]
html = false
"""


def _postgres_programs() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file()), None)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server in a temporary folder for this module; its SQLAlchemy URL (Unix socket)."""
    programs = _postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL not found (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin); install it "
                    "with `apt-get install -y postgresql` to run this test")
    user = None
    if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's `postgres` user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the PostgreSQL server as")
    folder = Path(tempfile.mkdtemp(prefix="pg-"))  # short: a socket path must stay under 108 bytes
    as_user = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid}
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, log = folder / "data", folder / "server.log"
    # A throwaway cluster: no fsync, no TCP, trust for local connections.
    subprocess.run([programs / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True, **as_user)
    started = subprocess.run([programs / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o",
                              f"-c listen_addresses='' -k {folder} -c fsync=off", "start"],
                             capture_output=True, text=True, **as_user)
    if started.returncode != 0:
        pytest.fail(f"the PostgreSQL server did not start: {started.stderr} {log.read_text() if log.exists() else ''}")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}"
    finally:
        subprocess.run([programs / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True, **as_user)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_one_study_on_postgres(postgres_url, tmp_path):
    table = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(table, index=False)
    config = tmp_path / "shared.toml"
    config.write_text(SWEEP.format(csv=table))
    out = tmp_path / "runs"
    env = {**os.environ, "DEEPSCI_FAST": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "deepsci", "sweep", str(config), "--trials", str(TRIALS),
               "--storage", postgres_url, "--study", "shared", "--out", str(out), "--quiet"]
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    results = [w.communicate(timeout=600) for w in workers]
    for w, (stdout, stderr) in zip(workers, results):
        assert w.returncode == 0, f"a worker exited {w.returncode}: {stderr[-2000:]}"

    trials = optuna.load_study(study_name="shared", storage=postgres_url).get_trials()
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(2 * TRIALS))  # every trial of both workers, no number twice
    by_worker: dict[str, list[int]] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t.number)
    assert sorted(len(v) for v in by_worker.values()) == [TRIALS, TRIALS]  # two processes, each its N trials
    assert {w.split(":")[-1] for w in by_worker} == {str(w.pid) for w in workers}
    for t in trials:
        assert t.state == optuna.trial.TrialState.COMPLETE  # the median pruner waits for 5 completed trials
        assert (out / f"shared-t{t.number:03d}" / "metrics.json").is_file()
    # The summary is read back from the shared storage: whichever worker wrote it last lists all trials.
    rows = list(csv.DictReader((out / "shared.sweep" / "trials.csv").open()))
    assert sorted(int(r["trial"]) for r in rows) == numbers
    assert (out / "shared.sweep" / "best.toml").is_file() and not (out / "shared.sweep" / "study.db").exists()
