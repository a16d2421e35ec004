"""Multi-label and tagging runs through the CLI: `deepsci predict` and `deepsci evaluate` reproduce the
run's own test rows (predictions.csv, metrics.json), and `Run.predict` gives the same table.

Small simulated DNA (deepsci.data.simulate) with a split column; a few epochs each: the point is the round
trip, not the skill.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci import Run
from deepsci.data.simulate import MOTIF_PWMS, simulate_motif_labels, simulate_motif_tags

pytestmark = pytest.mark.slow


def _split(frame: pd.DataFrame, path: Path) -> tuple[Path, Path]:
    """The frame with a split column (last 40 rows test) at `path`, and its test rows alone beside it."""
    frame["part"] = np.where(np.arange(len(frame)) < len(frame) - 40, "train", "test")
    frame.to_csv(path, index=False)
    only = path.with_name("test_" + path.name)
    frame[frame["part"] == "test"].to_csv(only, index=False)
    return path, only


CASES = {
    "tagging": (lambda: simulate_motif_tags(n=160, length=50, min_length=30, seed=1),
                '[data]\nkind = "sequence"\nsource = "{src}"\ntarget = "tags"\ntask = "tagging"\nid_column = "id"\n'
                'split_column = "part"\nalphabet = "dna"\n'
                '[model]\nkind = "rnn"\nbidirectional = true\nhidden = [8]\nembedding = 4\n[train]\nepochs = 2\n'),
    "tagging-transformer": (lambda: simulate_motif_tags(n=160, length=50, min_length=30, seed=1),
                            '[data]\nkind = "sequence"\nsource = "{src}"\ntarget = "tags"\ntask = "tagging"\n'
                            'id_column = "id"\nsplit_column = "part"\nalphabet = "dna"\n'
                            '[model]\nkind = "transformer"\nwidth = 8\nheads = 2\nlayers = 1\nfeedforward = 16\n'
                            '[train]\nepochs = 1\n[report]\nhtml = false\n'),
    "multilabel": (lambda: simulate_motif_labels(n=200, length=60, seed=1),
                   '[data]\nkind = "sequence"\nsource = "{src}"\ntarget = ' + json.dumps(list(MOTIF_PWMS))
                   + '\ntask = "multilabel"\nid_column = "id"\nsplit_column = "part"\nalphabet = "dna"\n'
                   '[model]\nkind = "cnn"\nblocks = [{{type = "conv", channels = 8, kernel = 6}}]\n'
                   'global_pool = "max"\nhidden = [8]\n[train]\nepochs = 2\n'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_predict_and_evaluate_reproduce_the_runs_test_rows(case: str, tmp_path: Path, cli, fit_config,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    make, toml = CASES[case]
    source, only_test = _split(make(), tmp_path / "data.csv")
    run = fit_config(case.replace("-", "_"), toml.format(src=source))
    saved = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    keys = ["id", "position"] if case.startswith("tagging") else ["id"]
    out = tmp_path / "predicted.csv"
    cli("predict", str(run), str(only_test), "-o", str(out))
    predicted = pd.read_csv(out, dtype={"id": str})
    assert len(predicted) == len(saved)  # tagging: one row per real base of the 40 test sequences
    merged = saved.merge(predicted, on=keys, suffixes=("", "_new"))
    assert len(merged) == len(saved)
    columns = [c for c in saved.columns if c.endswith("_pred") or c.startswith("p_")]
    assert len(columns) == (3 * 2 if case == "multilabel" else 3)
    for column in columns:
        if merged[column].dtype.kind == "f":
            np.testing.assert_allclose(merged[f"{column}_new"], merged[column], rtol=1e-5, atol=1e-6)
        else:
            assert merged[f"{column}_new"].tolist() == merged[column].tolist(), column
    api = Run.load(run).predict(str(only_test))
    assert len(api) == len(saved) and list(api.columns) == list(predicted.columns)
    capsys.readouterr()
    cli("evaluate", str(run), str(only_test))
    metrics = json.loads(capsys.readouterr().out)
    test = json.loads((run / "metrics.json").read_text())["test"]
    headline = "f1" if case.startswith("tagging") else "roc_auc_macro"
    assert metrics[headline] == pytest.approx(test[headline], abs=1e-9)
    assert metrics["rows"] == 40
    if case.startswith("tagging"):
        assert metrics["steps"] == test["steps"] == len(saved)
