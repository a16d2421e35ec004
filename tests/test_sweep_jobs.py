"""`deepsci sweep --jobs N`: trials split over worker processes on one study; bad values are one line."""

from pathlib import Path

import optuna
import pytest

from deepsci.cli import main
from deepsci.errors import ConfigError
from deepsci.sweep.jobs import check_jobs, worker_trials

ROOT = Path(__file__).resolve().parents[1]


def test_trials_are_split_evenly_over_the_workers():
    assert worker_trials(4, 2) == [2, 2]
    assert worker_trials(5, 2) == [3, 2]
    assert worker_trials(2, 8) == [1, 1]  # never a worker without a trial
    assert sum(worker_trials(7, 3)) == 7


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
    from sklearn.datasets import load_diabetes

    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the workers inherit it
    frame = load_diabetes(as_frame=True).frame.iloc[:120]
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = tmp_path / "tiny.toml"
    config.write_text(f'name = "tiny"\nseed = 0\n[data]\nsource = "{tmp_path / "d.csv"}"\ntarget = "target"\n'
                      '[model]\nhidden = {choices = [[4], [8]]}\n[train]\nepochs = 1\n[uncertainty]\n'
                      'method = "none"\n[report]\nhtml = false\n')
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(config), "--trials", "3", "--jobs", "2", "--out", str(tmp_path / "runs"), "--quiet"])
    assert done.value.code in (0, None)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'runs' / 'tiny.sweep' / 'study.db'}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert (tmp_path / "runs" / "tiny.sweep" / "trials.csv").read_text().count("\n") == 4  # summarised once
    assert all((tmp_path / "runs" / f"tiny-t{k:03d}" / "metrics.json").is_file() for k in range(3))
