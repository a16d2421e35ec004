"""`deepsci sweep`: ranges checked before any trial, trials as run folders, pruning, the best config."""

import csv
import json
import re
import tomllib
from pathlib import Path

import optuna
import pandas as pd
import pytest

from deepsci.cli import main
from deepsci.config import load_config, load_raw
from deepsci.errors import ConfigError
from deepsci.sweep import parse_space, prepare_sweep, run_sweep, sample, summarise
from deepsci.sweep.sampler import TrialSeededTPE

ROOT = Path(__file__).resolve().parents[1]

# A tiny search on scikit-learn's diabetes table (442 patients, 10 features; a regression, so each trial's
# references are cheap): two choices, a log-uniform float, an int grid.
SWEEP = """
name = "tiny"
seed = 0

[data]
source = "DIABETES_CSV"
target = "target"

[model]
hidden = {choices = [[4], [8, 8]]}
activation = "tanh"

[train]
lr = {low = 1e-3, high = 3e-2, log = true}
batch_size = {low = 16, high = 64, step = 16}
epochs = 3

[report]
html = false
"""


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    from sklearn.datasets import load_diabetes

    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture()
def sweep_text(diabetes_csv):
    return SWEEP.replace("DIABETES_CSV", str(diabetes_csv))


@pytest.fixture()
def config(tmp_path, sweep_text):
    path = tmp_path / "tiny.toml"
    path.write_text(sweep_text)
    return path


def _raw(text: str, **replace: str) -> dict:
    for old, new in replace.items():
        text = text.replace(old, new)
    return tomllib.loads(text)


def test_ranges_are_parsed_by_kind(config):
    ranges = {r.name: r for r in parse_space(load_raw(config))}
    assert list(ranges) == ["model.hidden", "train.lr", "train.batch_size"]
    assert ranges["model.hidden"].choices == ([4], [8, 8]) and ranges["model.hidden"].labels() == ["[4]", "[8, 8]"]
    assert ranges["train.lr"].log and not ranges["train.lr"].is_int
    assert ranges["train.batch_size"].is_int and ranges["train.batch_size"].step == 16


@pytest.mark.parametrize("old,new,match", [
    ("{low = 1e-3, high = 3e-2, log = true}", "{low = 3e-2, high = 1e-3}", "low must be below high"),
    ("{low = 1e-3, high = 3e-2, log = true}", "{low = 0.0, high = 3e-2, log = true}", "a log range needs low > 0"),
    ("{low = 16, high = 64, step = 16}", "{low = 16, high = 64, step = 15}", "not a multiple of step 15"),
    ("{choices = [[4], [8, 8]]}", "{choices = []}", "choices must be a non-empty list"),
    ("{low = 16, high = 64, step = 16}", "{low = 16}", "needs both low and high"),
])
def test_malformed_range_is_one_line_naming_the_key(sweep_text, old, new, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_space(_raw(sweep_text, **{old: new}))
    assert "\n" not in str(info.value) and "range " in str(info.value)


@pytest.mark.parametrize("old,new,match", [
    # a range on a key that does not exist: the config's own check names it and the nearest key
    ("lr = {", "lrr = {", r"with each range at its low bound or first choice, unknown config key 'train.lrr'. "
                          r"Did you mean 'train.lr'"),
    # each choice is validated: a bad one fails before the first trial, not when it is drawn
    ('activation = "tanh"', 'activation = {choices = ["tanh", "rleu"]}', r"range model.activation cannot take 'rleu'"),
    ('activation = "tanh"', 'activation = {choices = ["rleu", "tanh"]}', r"config key 'model.activation' = 'rleu'"),
    ("{low = 1e-3, high = 3e-2, log = true}", "{low = 1e-3, high = 30.0}", r"range train.lr cannot take 30.0"),
])
def test_config_is_validated_at_every_edge_before_any_trial(tmp_path, sweep_text, old, new, match):
    with pytest.raises(ConfigError, match=match):
        prepare_sweep(_raw(sweep_text, **{old: new}), out=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_the_example_sweep_is_valid_at_every_edge(tmp_path):
    setup = prepare_sweep(load_raw(ROOT / "examples" / "solubility_sweep.toml"), out=tmp_path)
    assert [r.name for r in setup.ranges] == ["model.hidden", "model.activation", "model.dropout", "train.lr",
                                              "train.weight_decay", "train.batch_size"]
    assert setup.study == "solubility_sweep" and setup.storage.endswith("solubility_sweep.sweep/study.db")


def test_config_without_ranges_and_bad_metric_are_refused(tmp_path, sweep_text):
    with pytest.raises(ConfigError, match="marks no key as a range"):
        prepare_sweep(tomllib.loads('name = "x"\n[data]\nsource = "digits"\n'), out=tmp_path)
    with pytest.raises(ConfigError, match="--metric 'rsme' is not one a sweep can optimise"):
        prepare_sweep(_raw(sweep_text), out=tmp_path, metric="rsme")
    with pytest.raises(ConfigError, match="--study 'a/b' cannot name run folders"):
        prepare_sweep(_raw(sweep_text), out=tmp_path, study="a/b")


def test_fit_refuses_a_config_with_ranges_in_one_line(config, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", str(config), "--out", str(tmp_path / "runs")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model.hidden, train.lr, train.batch_size" in err and f"deepsci sweep {config} --trials N" in err
    with pytest.raises(ConfigError, match="as ranges to search"):
        load_config(config)


def test_sampled_values_are_config_values_and_the_sampler_repeats_per_trial_number(config):
    ranges = parse_space(load_raw(config))

    def draws(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=TrialSeededTPE(seed))
        out = []
        for _ in range(4):
            trial = study.ask()
            values = sample(trial, ranges)
            out.append(values)
            study.tell(trial, values[("train", "lr")])
        return out

    first = draws(0)
    for values in first:
        assert values[("model", "hidden")] in ([4], [8, 8])  # the list itself, not its label
        assert 1e-3 <= values[("train", "lr")] <= 3e-2
        assert values[("train", "batch_size")] in (16, 32, 48, 64)
    assert draws(0) == first  # the same seed draws the same points for the same trial numbers
    assert draws(1) != first


@pytest.mark.slow
def test_six_trial_sweep_on_sqlite_leaves_run_folders_and_the_best_config(config, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSCI_FAST", "1")  # 2 epochs a trial
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(config), "--trials", "6", "--out", str(out)])
    assert info.value.code == 0
    folder = out / "tiny.sweep"
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder / 'study.db'}")
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    states = [t.state for t in trials]
    # The median pruner judges no trial before 5 have completed: the first five run to the end.
    assert states[:5] == [optuna.trial.TrialState.COMPLETE] * 5
    assert states[5] in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in trials:
        run = out / f"tiny-t{t.number:03d}"
        if t.state == optuna.trial.TrialState.PRUNED:
            assert not run.exists() and not (out / f".tiny-t{t.number:03d}.checkpoint").exists()
            continue
        metrics = json.loads((run / "metrics.json").read_text())
        resolved = tomllib.loads((run / "config.toml").read_text())
        assert metrics["epochs_run"] == 2 and t.user_attrs["run"] == run.name
        assert resolved["train"]["lr"] == pytest.approx(t.params["train.lr"], rel=1e-12)
        assert resolved["train"]["batch_size"] == t.params["train.batch_size"]
        assert json.dumps(resolved["model"]["hidden"]) == t.params["model.hidden"]
        # the score is the validation loss at the epoch whose weights the run kept, as history.csv has it
        history = pd.read_csv(run / "history.csv")
        assert t.value == pytest.approx(history["valid_loss"].iloc[metrics["best_epoch"] - 1], rel=1e-9)

    best = study.best_trial
    assert best.value == min(t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    best_config = load_config(folder / "best.toml")  # runnable by `deepsci fit`: no ranges left
    assert best_config.name == "tiny" and best_config.train.lr == pytest.approx(best.params["train.lr"], rel=1e-12)
    assert best_config.model.hidden == json.loads(best.params["model.hidden"])
    assert best_config.train.batch_size == best.params["train.batch_size"]

    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [int(r["trial"]) for r in rows] == list(range(6))
    assert {r["run"] for r in rows if r["state"] == "complete"} == {t.user_attrs["run"] for t in trials
                                                                     if "run" in t.user_attrs}
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # history, learning curves, importances
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)  # nothing loaded from anywhere
    printed = capsys.readouterr().out
    assert f"best: trial {best.number}, validation loss {best.value:.4g}" in printed


def test_pruned_trials_are_recorded_and_leave_no_folder(tmp_path, sweep_text, one_thread):
    # A pruner that stops every trial once it reports a loss above 0: each ends after its first epoch.
    setup = prepare_sweep(_raw(sweep_text), out=tmp_path)
    study = run_sweep(setup, 2, pruner=optuna.pruners.ThresholdPruner(upper=0.0), progress=False)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [1] and t.intermediate_values[1] > 0 for t in trials)
    summary = summarise(setup, study)
    assert summary.best is None and [r.state for r in summary.rows] == ["pruned", "pruned"]
    assert all(r.value is None and r.epochs == 1 and "pruned after epoch 1" in r.note for r in summary.rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.sweep"]  # no run folder, no checkpoint
    # the write-ahead log's two files lie beside study.db while a connection to it is open
    files = sorted(p.name for p in (tmp_path / "tiny.sweep").iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert files == ["report.html", "study.db", "trials.csv"]
    # The study remembers what it searched: a worker with other ranges is refused before any trial.
    other = prepare_sweep(_raw(sweep_text, **{"{low = 16, high = 64, step = 16}": "{choices = [16, 32]}"}),
                          out=tmp_path)
    with pytest.raises(ConfigError, match=r"study 'tiny' in sqlite:///.* searched .* Name a new study with --study"):
        run_sweep(other, 1, progress=False)


def test_a_diverging_trial_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, sweep_text, one_thread):
    # Plain SGD at lr = 10 overflows in the first epoch on these targets (a TrainingError, not a crash).
    raw = _raw(sweep_text, **{"{low = 1e-3, high = 3e-2, log = true}": "{choices = [10.0]}",
                              "[train]": '[train]\noptimizer = "sgd"'})
    setup = prepare_sweep(raw, out=tmp_path)
    rows = summarise(setup, run_sweep(setup, 2, progress=False)).rows
    assert [r.state for r in rows] == ["fail", "fail"]
    assert all("the training loss became" in r.note and r.run == "" for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.sweep"]
