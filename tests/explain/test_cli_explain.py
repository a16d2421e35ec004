"""`deepsci explain`, `deepsci distill`, `[report] explain` and the theory commands, end to end."""

import json

import pandas as pd
import pytest

from deepsci.cli import main
from deepsci.run import Run

QUICK = ["--set", "train.epochs=4", "--set", "model.hidden=[16]", "--quiet"]


def _ok(capsys, *args):
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    return capsys.readouterr()


def _fails(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


def _digits(tmp_path, name="d", extra=""):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nseed = 0\n[data]\nsource = "digits"\n{extra}')
    return path


@pytest.mark.slow
def test_fit_with_explain_then_explain_and_distill(tmp_path, capsys):
    runs = tmp_path / "runs"
    config = _digits(tmp_path, extra='[report]\nexplain = true\nexplain_rows = 30\nrobustness = [0.0, 0.5]\n')
    _ok(capsys, "fit", config, "--out", runs, *QUICK)
    report = (runs / "d" / "report.html").read_text()
    assert "Attributions: which inputs drove the predictions" in report and "Adversarial robustness" in report
    before = report

    out = _ok(capsys, "explain", runs / "d", "--rows", "20", "--methods", "integrated-gradients,permutation",
              "--robustness", "0,0.3").out
    assert "integrated gradients completeness error" in out and "PGD accuracy" in out
    frame = pd.read_csv(runs / "d" / "attributions.csv")
    assert list(frame.columns) == ["unit", "integrated-gradients", "integrated-gradients_rank", "permutation",
                                   "permutation_rank"]
    assert len(frame) == 64 and sorted(frame["permutation_rank"]) == list(range(1, 65))
    assert "Adversarial robustness" in (runs / "d" / "explain.html").read_text()
    assert (runs / "d" / "report.html").read_text() == before  # the fit's report is left as it was
    explained = Run.load(runs / "d").explain(rows=20, methods=["integrated-gradients"])  # the Python API, same table
    pd.testing.assert_series_equal(explained.frame()["integrated-gradients_rank"],
                                   frame["integrated-gradients_rank"], check_dtype=False)
    assert explained.robustness is None and explained.rows == 20

    teacher = _digits(tmp_path, "t", '[uncertainty]\nmethod = "ensemble"\nmembers = 2\n')
    _ok(capsys, "fit", teacher, "--out", runs, *QUICK)
    student = _digits(tmp_path, "s", "[model]\nhidden = [8]\n[train]\nepochs = 3\n")
    out = _ok(capsys, "distill", runs / "t", "--student", student, "--temperature", "2", "--out", runs).out
    assert "student, distilled (T = 2)" in out and "teacher (2 members)" in out
    result = json.loads((runs / "s-distill" / "distill.json").read_text())
    assert {"accuracy", "nll", "ece"} <= set(result["distilled"]) and result["members"] == 2


def test_bad_options_are_one_line(tmp_path, capsys):
    code, err = _fails(capsys, "explain", tmp_path / "nowhere")
    assert code == 2 and "not a complete run folder" in err and "Traceback" not in err
    config = _digits(tmp_path, extra='[report]\nexplain_methods = ["shapley"]\n')
    code, err = _fails(capsys, "fit", config, "--out", tmp_path / "runs")
    assert code == 2 and "unknown attribution method 'shapley'" in err
    code, err = _fails(capsys, "theory", "capacity", "--ratios", "1,x")
    assert code == 2 and "--ratios" in err


def test_theory_capacity_and_double_descent_write_reports(tmp_path, capsys):
    out = _ok(capsys, "theory", "capacity", "--n", "10", "--ratios", "1,2,3", "--trials", "20", "--out",
              tmp_path / "cap").out
    assert "largest deviation" in out and (tmp_path / "cap" / "report.html").exists()
    assert json.loads((tmp_path / "cap" / "capacity.json").read_text())["p"] == [10, 20, 30]
    out = _ok(capsys, "theory", "double-descent", "--n", "40", "--seeds", "1", "--out", tmp_path / "dd").out
    assert "peak test MSE" in out and (tmp_path / "dd" / "double_descent.png").exists()
