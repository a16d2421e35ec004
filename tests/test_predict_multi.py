"""A two-input run (`data.kind = "multi"`: a 1-D signal and a table of scalars from one .npz) fits, beats
either input alone, and `deepsci predict` / `deepsci evaluate` reproduce its own test rows.

The data: each sample is a noisy sine of 3 or 7 cycles (s = -1 or +1) and a scalar m ~ N(0, 1); the
label is 1 when s + m > 0. The signal alone can do no better than predicting s (wrong where |m| > 1 against
it: accuracy about 0.84), the scalar alone no better than predicting the sign of m (about 0.66); both
together give the label up to the noise on the frequency.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


pytestmark = pytest.mark.slow

LENGTH = 32


def _samples(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signals (n, L), scalars (n, 1), labels (n,)) of the two-input task."""
    s = rng.choice([-1, 1], n)
    t = np.linspace(0, 1, LENGTH)
    signals = np.sin(2 * np.pi * (5 + 2 * s)[:, None] * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    signals += 0.3 * rng.normal(size=(n, LENGTH))
    m = rng.normal(size=(n, 1))
    return signals, m, (s + m[:, 0] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cli) -> tuple[Path, dict[str, Path]]:
    """The .npz (given train and test arrays) and the runs of the signal alone, the scalar alone, and both."""
    folder = tmp_path_factory.mktemp("multi")
    rng = np.random.default_rng(0)
    (xa, ma, ya), (xb, mb, yb) = _samples(rng, 400), _samples(rng, 200)
    source = folder / "signal_meta.npz"
    np.savez(source, signal=xa, meta=ma, y=ya, test_signal=xb, test_meta=mb, test_y=yb)
    pd.DataFrame({"m": ma[:, 0], "y": ya}).to_csv(folder / "meta.csv", index=False)
    pd.DataFrame({"m": mb[:, 0], "y": yb}).to_csv(folder / "meta_test.csv", index=False)
    common = 'seed = 0\n[uncertainty]\nmethod = "none"\n[train]\nepochs = 15\n'  # the numbers of one network
    configs = {
        "both": f'[data]\nkind = "multi"\nsource = "{source}"\ntarget = "y"\ntest_target = "test_y"\n'
                '[data.inputs.wave]\nkind = "signal"\nx = "signal"\ntest_x = "test_signal"\n'
                '[data.inputs.meta]\nkind = "table"\nx = "meta"\ntest_x = "test_meta"\nfeatures = ["m"]\n'
                '[model]\nkind = "multi"\nhidden = [16]\n'
                '[model.inputs.wave]\nkind = "cnn"\nchannels = [8]\nhidden = [8]\n'
                '[model.inputs.meta]\nkind = "mlp"\nhidden = [8]\n',
        "signal": f'[data]\nkind = "signal"\nsource = "{source}"\nx = "signal"\ntarget = "y"\n'
                  'test_x = "test_signal"\ntest_target = "test_y"\n'
                  '[model]\nkind = "cnn"\nchannels = [8]\nhidden = [8]\n',
        "meta": f'[data]\nsource = "{folder / "meta.csv"}"\ntest_source = "{folder / "meta_test.csv"}"\n'
                'target = "y"\n[model]\nhidden = [8]\n',
    }
    made = {}
    for name, toml in configs.items():
        config = folder / f"{name}.toml"
        config.write_text(f'name = "{name}"\n' + common + toml)
        cli("fit", str(config), "--out", str(folder / "runs"), "--quiet")
        made[name] = folder / "runs" / name
    return source, made


def _accuracy(run: Path) -> float:
    return float(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])


def test_two_inputs_beat_either_input_alone(runs: tuple[Path, dict[str, Path]]) -> None:
    _, made = runs
    both, signal, meta = (_accuracy(made[k]) for k in ("both", "signal", "meta"))
    assert signal <= 0.90 and meta <= 0.75, (signal, meta)  # each input alone is capped by the task (0.83, 0.625)
    assert both >= 0.93 and both >= max(signal, meta) + 0.05, (both, signal, meta)  # measured 0.96


def test_predict_and_evaluate_reproduce_the_multi_runs_test_rows(runs: tuple[Path, dict[str, Path]], tmp_path: Path,
                                                                cli, capsys: pytest.CaptureFixture[str]) -> None:
    source, made = runs
    run = made["both"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["split"]["method"] == "given" and metrics["data"]["split"]["test"] == 200
    saved = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    out = tmp_path / "predicted.csv"
    cli("predict", str(run), str(source), "-o", str(out))
    predicted = pd.read_csv(out, dtype={"id": str})
    assert list(predicted["id"]) == list(saved["id"])
    for column in ("p_0", "p_1"):
        np.testing.assert_allclose(predicted[column], saved[column], rtol=1e-5, atol=1e-6, err_msg=column)
    assert list(predicted["y_pred"]) == list(saved["y_pred"])
    capsys.readouterr()
    cli("evaluate", str(run), str(source))
    printed = capsys.readouterr().out
    assert f"{metrics['test']['accuracy']:.4g}" in printed, printed
