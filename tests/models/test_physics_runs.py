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


def _events_as_sets(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n collider events as (n, 4, 5) particles (pT, eta, phi, E, pair tag) and their string labels."""
    events = simulate_collider(n, seed=0, cache=False)
    particles = particle_table(events)[["pt", "eta", "phi", "energy", "pair_a"]].to_numpy(np.float64)
    return particles.reshape(n, 4, 5), events["label"].to_numpy(str)


def _boosted_along_z_and_turned(particles: np.ndarray, beta: float, angle: float) -> np.ndarray:
    """The events seen from a frame moving at speed beta along the beam, turned by `angle` about it: pT and the
    tag stay, phi turns, E' = gamma (E + beta pz), pz' = gamma (pz + beta E), eta' = asinh(pz' / pT)."""
    pt, eta, phi, energy, tag = np.moveaxis(particles, -1, 0)
    gamma, pz = 1 / np.sqrt(1 - beta ** 2), pt * np.sinh(eta)
    phi = np.angle(np.exp(1j * (phi + angle)))  # wrapped to (-pi, pi]
    return np.stack([pt, np.arcsinh(gamma * (pz + beta * energy) / pt), phi, gamma * (energy + beta * pz), tag], -1)


def test_a_multi_run_with_an_equivariant_cnn_and_a_lorentz_encoder_reloads_and_keeps_both_symmetries(
        tmp_path, cli, fit_config):
    from sklearn.datasets import load_digits

    particles, labels = _events_as_sets(240)
    digits = load_digits()
    # (240, 1, 8, 8): a 0 for a signal event, a 1 for a background one, so that the image encoder matters
    zeros, ones = (digits.images[digits.target == d] for d in (0, 1))
    signal = labels == "signal"
    images = np.empty((240, 1, 8, 8))
    images[signal, 0] = np.resize(zeros, (signal.sum(), 8, 8))
    images[~signal, 0] = np.resize(ones, ((~signal).sum(), 8, 8))
    np.savez(tmp_path / "both.npz", particles=particles, images=images, label=labels)
    run = fit_config("symmetric", f'[data]\nkind = "multi"\nsource = "{tmp_path / "both.npz"}"\ntarget = "label"\n'
                                  '[data.inputs.particles]\nkind = "set"\nx = "particles"\nscale = "none"\n'
                                  '[data.inputs.images]\nkind = "image"\nx = "images"\n'
                                  '[model]\nkind = "multi"\nhidden = [8]\n'
                                  '[model.inputs.particles]\nkind = "lorentz"\n'  # an .npz set's features: f0 .. f4
                                  'momentum = ["f0", "f1", "f2", "f3"]\nscalars = ["f4"]\n'
                                  'hidden = [16]\nrho = [16]\n'
                                  '[model.inputs.images]\nkind = "equivariant-cnn"\nchannels = [4]\nhidden = [8]\n'
                                  '[train]\nepochs = 2\nlr = 1e-2\n' + NO_REPORT)
    predicted = _predicted(cli, run, tmp_path / "both.npz", tmp_path / "p.csv")
    _same_as_the_runs_own(run, predicted)
    # every row boosted (beta 0.9 along the beam) and turned, every image turned a quarter and mirrored
    np.savez(tmp_path / "moved.npz", particles=_boosted_along_z_and_turned(particles, 0.9, 1.0),
             images=np.flip(np.rot90(images, 1, axes=(2, 3)), axis=3).copy(), label=labels)
    moved = _predicted(cli, run, tmp_path / "moved.npz", tmp_path / "m.csv")
    column = next(c for c in predicted.columns if c.startswith("p_") and predicted[c].dtype.kind == "f")
    np.testing.assert_allclose(moved[column], predicted[column], atol=1e-4)
    assert np.abs(particles[..., 1] - np.load(tmp_path / "moved.npz")["particles"][..., 1]).min() > 0.5  # truly moved


@pytest.mark.parametrize("data, model, key", [
    ({"kind": "set", "source": "collider-particles"}, {"kind": "lorentz"}, "data.scale"),
    ({"kind": "multi", "source": "x.npz", "inputs": {"p": {"kind": "set", "x": "p"}, "i": {"kind": "image"}}},
     {"kind": "multi", "inputs": {"p": {"kind": "lorentz"}}}, "data.inputs.p.scale"),
])
def test_a_lorentz_network_on_standardised_momenta_is_refused_in_one_line(data, model, key):
    from deepsci.config import config_from_dict
    from deepsci.errors import ConfigError

    with pytest.raises(ConfigError, match=f"reads the momenta in GeV, unscaled; {key} is 'standard'. Set {key} = "
                                          "'none'") as caught:
        config_from_dict({"name": "x", "data": data, "model": model})
    assert "\n" not in str(caught.value).strip()
    config_from_dict({"name": "x", "data": {**data, "scale": "none"} if key == "data.scale" else
                      {**data, "inputs": {**data["inputs"], "p": {"kind": "set", "x": "p", "scale": "none"}}},
                      "model": model})
