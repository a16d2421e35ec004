"""Issue 31 end to end: a resume refuses changed data, `deepsci evaluate` says when it is given the run's own
test file, `deepsci predict` refuses a record with a gap; each refusal one line, exit 2, nothing changed."""

import json

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main

pytestmark = pytest.mark.slow
QUICK = ["--set", "train.epochs=2", "--quiet"]


def _cli(capsys, *args):
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def _refused(capsys, match, *args):
    code, _, err = _cli(capsys, *args)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert match in err, err
    return err


def _record(tmp_path, start, n, name):
    months = pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m")
    pd.DataFrame({"month": months, "v": np.sin(np.arange(n) / 2.0)}).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _series_run(tmp_path, capsys):
    train, test = _record(tmp_path, "2000-01-01", 60, "train.csv"), _record(tmp_path, "2005-01-01", 16, "test.csv")
    config = tmp_path / "s.toml"
    config.write_text(f'name = "s"\nseed = 0\n[data]\nkind = "series"\nsource = "{train}"\ntest_source = "{test}"\n'
                      'time_column = "month"\ninput_length = 6\nhorizon = 1\nvalid_size = 8\n[model]\nkind = "rnn"\n'
                      'hidden = [8]\n[uncertainty]\nmethod = "none"\n[report]\nhtml = false\n')
    code, _, err = _cli(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK)
    assert code == 0, err
    return config, train, test


def test_resume_refuses_data_that_changed_and_evaluate_names_its_own_test_file(tmp_path, capsys):
    config, train, test = _series_run(tmp_path, capsys)
    run = tmp_path / "runs" / "s"
    metrics = json.loads((run / "metrics.json").read_text())
    assert sorted(metrics["data"]["fingerprint"]) == ["source", "test_source"]
    assert metrics["data"]["integrity"] == {"frequency": "1 month", "duplicates_merged": 0, "steps_filled": 0}

    code, out, err = _cli(capsys, "evaluate", run, test)
    assert code == 0 and "the run's own test file (data.test_source)" in err, err

    frame = pd.read_csv(train)
    frame.assign(v=frame["v"] * -100).to_csv(train, index=False)
    before = (run / "checkpoint" / "state.safetensors").read_bytes()
    _refused(capsys, f"'{train}' (data.source) differ", "fit", config, "--out", tmp_path / "runs",
             "--resume", "--set", "train.epochs=4", "--quiet")
    assert (run / "checkpoint" / "state.safetensors").read_bytes() == before

    holed = pd.read_csv(test).drop(index=[5, 6])
    holed.to_csv(tmp_path / "holed.csv", index=False)
    _refused(capsys, "2 step(s) missing at the inferred step of 1 month", "predict", run, tmp_path / "holed.csv",
             "-o", tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
