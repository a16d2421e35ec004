"""`deepsci predict` and `deepsci evaluate` on a run of every input kind reproduce the run's own test rows.

Each run is fitted through the CLI on small real or simulated data with its own given test rows; then
`deepsci predict RUN DATA -o FILE` on the same data must give, for every test id, the prediction that
predictions.csv holds (same preprocessor, same model: equal to float-formatting precision), and
`deepsci evaluate RUN DATA` must give the test metrics of metrics.json when DATA holds exactly the test rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.data.simulate import simulate_motifs, simulate_point_sets

pytestmark = pytest.mark.slow


def _signals(tmp_path: Path) -> Path:
    """Noisy sines of 3 or 7 cycles (n, L): the class is the frequency."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 48)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        return np.sin(2 * np.pi * (3 + 4 * y)[:, None] * t) + 0.3 * rng.normal(size=(n, 48)), y

    (xa, ya), (xb, yb) = make(160), make(40)
    np.savez(tmp_path / "signals.npz", train_x=xa, train_y=ya, test_x=xb, test_y=yb)
    return tmp_path / "signals.npz"


def _images(tmp_path: Path) -> Path:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8)[:400]
    y = y[:400]
    np.savez(tmp_path / "digits.npz", images=X[:320], labels=y[:320], test_images=X[320:], test_labels=y[320:])
    return tmp_path / "digits.npz"


def _sequences(tmp_path: Path) -> Path:
    frame = simulate_motifs(n=240, length=60, strength=2, sharpness=3.0, seed=1)
    frame["part"] = np.where(np.arange(len(frame)) < 190, "train", "test")
    frame.to_csv(tmp_path / "motifs.csv", index=False)
    return tmp_path / "motifs.csv"


def _sets(tmp_path: Path) -> Path:
    frame = simulate_point_sets(n=150, seed=1)
    test_sets = sorted(frame["set_id"].unique())[-30:]
    frame["part"] = np.where(frame["set_id"].isin(test_sets), "test", "train")
    frame.to_csv(tmp_path / "points.csv", index=False)
    return tmp_path / "points.csv"


def _table(tmp_path: Path) -> Path:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    data["part"] = np.where(np.arange(len(data)) < 360, "train", "test")
    data.to_csv(tmp_path / "diabetes.csv", index=False)
    return tmp_path / "diabetes.csv"


KINDS = {
    "table": (_table, '[data]\nsource = "{src}"\ntarget = "target"\nsplit_column = "part"\n'
                      '[model]\nhidden = [16]\n[train]\nepochs = 5\n'),
    "signal": (_signals, '[data]\nkind = "signal"\nsource = "{src}"\nx = "train_x"\ntarget = "train_y"\n'
                         'test_x = "test_x"\ntest_target = "test_y"\n'
                         '[model]\nkind = "cnn"\nchannels = [8]\nhidden = [8]\n[train]\nepochs = 3\n'),
    "sequence": (_sequences, '[data]\nkind = "sequence"\nsource = "{src}"\ntarget = "label"\nid_column = "id"\n'
                             'split_column = "part"\nalphabet = "dna"\n'
                             '[model]\nkind = "rnn"\nbidirectional = true\nhidden = [8]\n[train]\nepochs = 2\n'),
    "set": (_sets, '[data]\nkind = "set"\nsource = "{src}"\ntarget = "shape"\nset_column = "set_id"\n'
                   'features = ["x", "y"]\nsplit_column = "part"\nscale = "per-set"\n'
                   '[model]\nkind = "deepsets"\nhidden = [16]\nrho = [16]\n[train]\nepochs = 2\n'),
    "image": (_images, '[data]\nkind = "image"\nsource = "{src}"\nx = "images"\ntarget = "labels"\n'
                       'test_x = "test_images"\ntest_target = "test_labels"\n'
                       '[model]\nkind = "cnn"\nchannels = [8]\nhidden = [16]\n[train]\nepochs = 2\n'),
    "series": (None, '[data]\nkind = "series"\nsource = "sunspots"\ninput_length = 12\nhorizon = 1\n'
                     'test_size = 40\nvalid_size = 20\n[model]\nkind = "rnn"\ncell = "gru"\nhidden = [8]\n'
                     '[train]\nepochs = 3\n'),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_predict_and_evaluate_reproduce_the_runs_test_rows(kind: str, tmp_path: Path, cli, fit_config) -> None:
    make, toml = KINDS[kind]
    source = str(make(tmp_path)) if make is not None else "sunspots"
    run = fit_config(f"run_{kind}", toml.format(src=source))
    saved = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    out = tmp_path / "predicted.csv"
    cli("predict", str(run), source, "-o", str(out))
    predicted = pd.read_csv(out, dtype={"id": str}).set_index("id")
    assert set(saved["id"]) <= set(predicted.index), f"{kind}: test ids missing from the predictions"
    columns = [c for c in saved.columns if c.endswith("_pred") or c.startswith("p_")]
    assert columns
    for column in columns:
        ours = predicted.loc[saved["id"], column].to_numpy()
        theirs = saved[column].to_numpy()
        if ours.dtype.kind in "fc":
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"{kind}: {column}")
        else:
            assert list(ours) == list(theirs), f"{kind}: {column}"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["split"]["test"] == len(saved)


@pytest.mark.parametrize("kind", list(KINDS))
def test_evaluate_runs_on_every_kind(kind: str, tmp_path: Path, cli, fit_config,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    make, toml = KINDS[kind]
    source = str(make(tmp_path)) if make is not None else "sunspots"
    run = fit_config(f"ev_{kind}", toml.format(src=source))
    capsys.readouterr()
    cli("evaluate", str(run), source)
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] > 0, metrics
    assert {"rmse", "accuracy"} & set(metrics), metrics  # the task's headline metric is there


def test_evaluate_on_the_test_rows_gives_the_runs_test_metrics(tmp_path: Path, cli, fit_config,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = _signals(tmp_path)
    run = fit_config("ev", KINDS["signal"][1].format(src=source))
    with np.load(source) as arrays:
        np.savez(tmp_path / "only_test.npz", test_x=arrays["test_x"], test_y=arrays["test_y"])
    capsys.readouterr()
    cli("evaluate", str(run), str(tmp_path / "only_test.npz"))
    printed = capsys.readouterr().out
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert f"{test['accuracy']:.4g}" in printed, printed
