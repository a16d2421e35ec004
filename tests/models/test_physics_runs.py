"""The physics-aware model options end to end (issue 25): a run of each through `deepsci fit` on small data,
its run folder reloaded by `deepsci predict` (same predictions), and the property it promises on new rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.data.physics.collider import particle_table, simulate_collider

pytestmark = pytest.mark.slow
NO_REPORT = "[report]\nhtml = false\n"  # the runs, not their reports, are under test


def _predicted(cli, run: Path, source: Path, out: Path) -> pd.DataFrame:
    cli("predict", str(run), str(source), "-o", str(out))
    return pd.read_csv(out, dtype={"id": str}).set_index("id")


def _same_as_the_runs_own(run: Path, predicted: pd.DataFrame) -> None:
    saved = pd.read_csv(run / "predictions.csv", dtype={"id": str}).set_index("id")
    column = next(c for c in saved.columns
                  if (c.endswith("_pred") or c.startswith("p_")) and saved[c].dtype.kind == "f")
    np.testing.assert_allclose(predicted.loc[saved.index, column], saved[column], rtol=1e-5, atol=1e-6)


def test_a_monotone_mlp_run_reloads_and_its_predictions_rise_with_the_column(tmp_path, cli, fit_config):
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame.iloc[:200]
    data.to_csv(tmp_path / "diabetes.csv", index=False)
    run = fit_config("monotone", f'[data]\nsource = "{tmp_path / "diabetes.csv"}"\ntarget = "target"\n'
                                 '[model]\nhidden = [16]\nactivation = "tanh"\nmonotone = { bmi = "increasing" }\n'
                                 '[train]\nepochs = 3\n' + NO_REPORT)
    # rows 0-199 as fitted, rows 200-399 the same people with a higher body-mass index: one predict call
    pd.concat([data, data.assign(bmi=data["bmi"] + 0.02)], ignore_index=True).to_csv(tmp_path / "both.csv",
                                                                                       index=False)
    predicted = _predicted(cli, run, tmp_path / "both.csv", tmp_path / "p.csv")
    _same_as_the_runs_own(run, predicted)
    rise = predicted["target_pred"].to_numpy()
    assert (rise[200:] >= rise[:200] - 1e-6).all()


def test_an_equivariant_cnn_run_reloads(tmp_path, cli, fit_config):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "digits.npz", images=X.reshape(-1, 1, 8, 8)[:240], labels=y[:240])
    run = fit_config("p4m", f'[data]\nkind = "image"\nsource = "{tmp_path / "digits.npz"}"\nx = "images"\n'
                            'target = "labels"\n[model]\nkind = "equivariant-cnn"\nchannels = [4]\nhidden = [16]\n'
                            '[train]\nepochs = 2\n' + NO_REPORT)
    _same_as_the_runs_own(run, _predicted(cli, run, tmp_path / "digits.npz", tmp_path / "p.csv"))


def test_a_lorentz_run_reloads(tmp_path, cli, fit_config):
    particles = particle_table(simulate_collider(240, seed=0, cache=False))
    particles.to_csv(tmp_path / "particles.csv", index=False)
    run = fit_config("lorentz", f'[data]\nkind = "set"\nsource = "{tmp_path / "particles.csv"}"\ntarget = "label"\n'
                                'set_column = "event"\nfeatures = ["pt", "eta", "phi", "energy", "pair_a"]\n'
                                'scale = "none"\n[model]\nkind = "lorentz"\nscalars = ["pair_a"]\nhidden = [16]\n'
                                'rho = [16]\n[train]\nepochs = 2\n' + NO_REPORT)
    _same_as_the_runs_own(run, _predicted(cli, run, tmp_path / "particles.csv", tmp_path / "l.csv"))
