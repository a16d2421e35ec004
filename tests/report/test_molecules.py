"""A graph run end to end on 20 real molecules: fit, Run.load, predict with bad SMILES (counted and reported,
never silently dropped, as for descriptor runs), evaluate, and the report's worst-predicted molecules for
graph runs and SMILES table runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main
from deepsci.run import Run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "solubility_sample.csv"


def _cli(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), f"deepsci {' '.join(args)} exited {exc.code}"


def _fit(tmp_path: Path, name: str, data: str, model: str) -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(f'name = "{name}"\nseed = 0\n[data]\nsource = "{SAMPLE}"\ntarget = "SOL"\nid_column = "NAME"\n'
                      f'valid_fraction = 0.2\ntest_fraction = 0.3\n{data}\n[model]\n{model}\n'
                      '[train]\nepochs = 3\nbatch_size = 8\n')
    _cli("fit", str(config), "--out", str(tmp_path / "runs"), "--quiet")
    return tmp_path / "runs" / name


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("graph")
    return _fit(tmp, "graph", 'kind = "graph"', 'kind = "dmpnn"\nwidth = 16\nhidden = [8]\nreadout = "attention"')


def test_graph_run_predicts_new_smiles_and_reports_bad_ones(graph_run: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    run = Run.load(graph_run)
    assert run.meta["inputs"]["x"]["structure"] == "graph"
    frame = pd.read_csv(SAMPLE).head(6)
    frame.loc[2, "smiles"] = "C1CC"  # an unclosed ring
    frame.loc[4, "smiles"] = "not a molecule"
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    _cli("predict", str(graph_run), str(path), "-o", str(tmp_path / "pred.csv"))
    err = capsys.readouterr().err
    assert "2 input rows skipped" in err and "unparsable SMILES 'C1CC'" in err
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert pred["id"].tolist() == [frame["NAME"][i] for i in (0, 1, 3, 5)]
    same = run.predict(path)  # the API: the same rows, the skipped ones listed
    assert np.allclose(same["SOL_pred"], pred["SOL_pred"], atol=1e-6)
    assert [s["row"] for s in run.skipped_] == [2, 4]


def test_graph_run_evaluates_to_its_own_test_metrics(graph_run: Path, tmp_path: Path) -> None:
    run = Run.load(graph_run)
    test_ids = pd.read_csv(graph_run / "predictions.csv")["id"].astype(str).tolist()
    frame = pd.read_csv(SAMPLE)
    frame[frame["NAME"].astype(str).isin(test_ids)].to_csv(tmp_path / "test.csv", index=False)
    metrics = run.evaluate(tmp_path / "test.csv")
    assert metrics["rmse"] == pytest.approx(run.metrics["test"]["rmse"], rel=1e-5)


def test_report_draws_the_worst_predicted_molecules(graph_run: Path, tmp_path: Path) -> None:
    html = (graph_run / "report.html").read_text()
    assert "Worst-predicted test molecules" in html and "data:image/svg+xml;base64," in html
    pred = pd.read_csv(graph_run / "predictions.csv")
    worst = pred.loc[(pred["SOL_pred"] - pred["SOL"]).abs().idxmax(), "id"]
    section = html[html.rindex("Worst-predicted test molecules"):]  # the section, not the menu
    assert section.index(str(worst)) < section.index("</table>")  # the largest error is listed
    table = _fit(tmp_path, "table", 'featuriser = "morgan"\nmorgan_bits = 256', 'hidden = [8]')
    assert "Worst-predicted test molecules" in (table / "report.html").read_text()  # SMILES table runs too
