"""`deepsci fit / predict / evaluate` end to end, and every bad input of the foundation issue:
one line on stderr, no traceback, exit status 2, and no half-written run folder."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main

QUICK = ["--set", "train.epochs=3", "--set", "model.hidden=[8]", "--quiet"]


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def _ok(capsys, *args):
    try:
        main([str(a) for a in args])
    except SystemExit as exc:  # typer may exit 0 explicitly
        assert exc.code in (0, None), capsys.readouterr().err
    return capsys.readouterr()


def _config(tmp_path, data: str, name="t"):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nseed = 0\n[data]\n{data}\n')
    return path


def _table(tmp_path, frame, name="table.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["y"] = 2 * frame["a"] - frame["b"] + 0.1 * rng.normal(size=n)
    return frame


def _assert_bad(capsys, tmp_path, config, match, *extra):
    code, _, err = _cli(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK, *extra)
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert match in err, err
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a failed fit left files behind"
    return err


def test_fit_predict_evaluate_on_a_csv(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"')
    out = _ok(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK)
    run = tmp_path / "runs" / "t"
    for name in ("config.toml", "metrics.json", "history.csv", "predictions.csv", "model.safetensors",
                 "model.json", "report.html"):
        assert (run / name).is_file(), name
    assert out.out.strip() == str(run), "--quiet prints the run folder's path and nothing else"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and set(metrics["test"]) >= {"rmse", "r2"}

    new = _table(tmp_path, _frame(10, seed=1).drop(columns="y"), "new.csv")
    _ok(capsys, "predict", run, new, "-o", tmp_path / "pred.csv")
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == 10 and "y_pred" in pred

    labelled = _table(tmp_path, _frame(30, seed=2), "labelled.csv")
    result = json.loads(_ok(capsys, "evaluate", run, labelled).out)
    assert result["rmse"] > 0


def test_missing_file(tmp_path, capsys):
    _assert_bad(capsys, tmp_path, _config(tmp_path, f'source = "{tmp_path / "nope.csv"}"\ntarget = "y"'),
                "nope.csv")


def test_missing_config_file(tmp_path, capsys):
    code, _, err = _cli(capsys, "fit", tmp_path / "none.toml")
    assert code == 2 and "not found" in err and "Traceback" not in err


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    _assert_bad(capsys, tmp_path, _config(tmp_path, f'source = "{tmp_path / "empty.csv"}"\ntarget = "y"'),
                "empty")


def test_missing_target_lists_the_columns(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    err = _assert_bad(capsys, tmp_path, _config(tmp_path, f'source = "{data}"\ntarget = "logS"'), "logS")
    assert "a" in err and "b" in err and "y" in err


def test_non_numeric_feature_is_named(tmp_path, capsys):
    frame = _frame()
    frame["colour"] = "red"
    data = _table(tmp_path, frame)
    _assert_bad(capsys, tmp_path,
                _config(tmp_path, f'source = "{data}"\ntarget = "y"\nfeatures = ["a", "colour"]'), "colour")


def test_nan_is_named_and_counted_or_dropped(tmp_path, capsys):
    frame = _frame()
    frame.loc[[3, 7, 9], "b"] = np.nan
    frame.loc[5, "y"] = np.inf
    data = _table(tmp_path, frame)
    err = _assert_bad(capsys, tmp_path, _config(tmp_path, f'source = "{data}"\ntarget = "y"'), "'b'")
    assert "3" in err
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"\nmissing = "drop"', name="dropped")
    _ok(capsys, "fit", config, "--out", tmp_path / "ok", *QUICK)
    metrics = json.loads((tmp_path / "ok" / "dropped" / "metrics.json").read_text())
    assert "4" in json.dumps(metrics["data"])  # 4 rows dropped, and why
    assert "4" in (tmp_path / "ok" / "dropped" / "report.html").read_text()


def test_unparsable_smiles_are_counted_and_listed(tmp_path, capsys):
    smiles = ["CCO", "CCCO", "c1ccccc1", "CC(=O)O", "CCN", "CCCCO", "C1CCCCC1", "CCOCC", "not_a_smiles",
              "CC(C)O", "OCCO", "CCCl", "c1ccncc1", "C1=CC=CN1", "CCC(=O)C", "C(((", "CCCCCC", "CCS", "NCCO",
              "CC#N"] * 2
    frame = pd.DataFrame({"smiles": smiles, "y": np.arange(len(smiles), dtype=float) % 7})
    data = _table(tmp_path, frame)
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"\nsmiles_column = "smiles"')
    _ok(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK)
    skipped = pd.read_csv(tmp_path / "runs" / "t" / "skipped.csv")
    assert len(skipped) == 4 and skipped["reason"].str.contains("SMILES").all()


def test_unknown_config_key_suggests_the_nearest(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    _assert_bad(capsys, tmp_path, _config(tmp_path, f'source = "{data}"\ntarget = "y"\ntargte = "y"'),
                "Did you mean 'data.target'")


def test_wrong_type_and_out_of_range(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"')
    _assert_bad(capsys, tmp_path, config, "train.lr", "--set", "train.lr=-0.1")
    _assert_bad(capsys, tmp_path, config, "train.batch_size", "--set", "train.batch_size='big'")


def test_predict_on_a_table_lacking_a_feature(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"')
    _ok(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK)
    new = _table(tmp_path, _frame(5).drop(columns=["b", "y"]), "new.csv")
    code, _, err = _cli(capsys, "predict", tmp_path / "runs" / "t", new, "-o", tmp_path / "p.csv")
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.search(r"\bb\b", err), err  # the missing column is named
    assert not (tmp_path / "p.csv").exists()


def test_a_failed_fit_keeps_the_earlier_run(tmp_path, capsys):
    data = _table(tmp_path, _frame())
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"')
    _ok(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK)
    before = (tmp_path / "runs" / "t" / "metrics.json").read_text()
    code, _, _ = _cli(capsys, "fit", config, "--out", tmp_path / "runs", *QUICK, "--set", "data.target='zz'")
    assert code == 2
    assert (tmp_path / "runs" / "t" / "metrics.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["t"]


def test_datasets_lists_the_catalog(capsys):
    out = _ok(capsys, "datasets").out
    for name in ("solubility", "digits", "breast-cancer"):
        assert name in out


def test_predict_on_an_image_run_with_a_table_says_what_is_missing(tmp_path, capsys):
    config = tmp_path / "img.toml"
    config.write_text('name = "img"\n[data]\nkind = "image"\nsource = "digits"\n[model]\nkind = "cnn"\n'
                      'channels = [4]\nhidden = [8]\n[train]\nepochs = 1\n')
    _ok(capsys, "fit", config, "--out", tmp_path / "runs", "--quiet")
    table = _table(tmp_path, _frame())
    code, _, err = _cli(capsys, "predict", tmp_path / "runs" / "img", table, "-o", tmp_path / "p.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_resume_trains_on_exactly_as_an_uninterrupted_run(tmp_path, capsys):
    data = _table(tmp_path, _frame(200))
    config = _config(tmp_path, f'source = "{data}"\ntarget = "y"')
    model = ["--set", "model.hidden=[8]", "--set", "model.dropout=0.1", "--quiet"]
    _ok(capsys, "fit", config, "--out", tmp_path / "a", "--set", "train.epochs=6", *model)
    _ok(capsys, "fit", config, "--out", tmp_path / "b", "--set", "train.epochs=3", *model)
    assert (tmp_path / "b" / "t" / "checkpoint" / "state.safetensors").is_file()
    _ok(capsys, "fit", config, "--out", tmp_path / "b", "--set", "train.epochs=6", "--resume", *model)
    straight = pd.read_csv(tmp_path / "a" / "t" / "history.csv")
    resumed = pd.read_csv(tmp_path / "b" / "t" / "history.csv")
    assert list(resumed["epoch"]) == list(range(1, 7))
    assert np.array_equal(straight["train_loss"], resumed["train_loss"])
    a = json.loads((tmp_path / "a" / "t" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "t" / "metrics.json").read_text())
    assert a["test"] == b["test"]
    code, _, err = _cli(capsys, "fit", config, "--out", tmp_path / "c", "--resume", *QUICK)
    assert code == 2 and "no checkpoint" in err
