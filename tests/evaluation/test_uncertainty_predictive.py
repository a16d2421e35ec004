"""From a network to a predictive distribution and conformal bands. Oracles: numpy on the members' own
outputs, and the pure conformal functions (`conformal_interval`, `conformal_sets`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepsci.data.scalers import Scaler
from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty import (
    UncertaintySpec,
    apply_calibration,
    calibrate,
    conformal_interval,
    conformal_sets,
    format_sets,
    mc_dropout_predict,
    mc_dropout_samples,
    predictive,
)
from deepsci.models import MLP
from deepsci.training.ensemble import build_ensemble


pytestmark = pytest.mark.usefixtures("one_thread")


def test_ensemble_regression_mean_and_std_in_target_units():
    X = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    ens = build_ensemble(lambda s: MLP(5, 2, (8,), seed=s), 4)
    scaler = Scaler().fit(torch.tensor([[1.0, 10.0], [3.0, 30.0], [2.0, 0.0]]))
    dist = predictive(ens, X, "regression", UncertaintySpec(method="ensemble", members=4), scaler)
    with torch.no_grad():
        members = np.stack([m(X).double().numpy() for m in ens.unstack()])  # (K, n, t), scaled units
    scale = scaler.inverse_transform_std(torch.ones(1, 2)).double().numpy()  # the per-target scale
    np.testing.assert_allclose(dist["pred"], scaler.inverse_transform(torch.tensor(members.mean(0))).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist["std"], members.std(0) * scale, rtol=1e-5, atol=1e-6)
    assert "aleatoric" not in dist  # no variance head: the spread is all epistemic


def test_heteroscedastic_ensemble_splits_aleatoric_and_epistemic():
    X = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    ens = build_ensemble(lambda s: MLP(3, 2, (8,), seed=s), 3)
    dist = predictive(ens, X, "regression", UncertaintySpec(method="ensemble", members=3, heteroscedastic=True))
    np.testing.assert_allclose(dist["std"] ** 2, dist["aleatoric"] ** 2 + dist["epistemic"] ** 2, rtol=1e-9)
    with torch.no_grad():
        raw = ens(X).double()
    var = torch.nn.functional.softplus(raw[..., 1:]) + 1e-6
    np.testing.assert_allclose(dist["aleatoric"] ** 2, var.mean(0).numpy(), rtol=1e-6)


def test_mc_dropout_samples_match_predict_and_are_reproducible():
    model = MLP(4, 1, (16,), dropout=0.5, seed=0)
    X = torch.randn(10, 4)
    s = mc_dropout_samples(model, X, samples=6, seed=3)
    assert s.shape == (6, 10, 1)
    mean, std = mc_dropout_predict(model, X, samples=6, seed=3)
    torch.testing.assert_close(mean, s.mean(0))
    dist = predictive(model, X, "regression", UncertaintySpec(method="mc-dropout", samples=6, seed=3))
    np.testing.assert_allclose(dist["std"], std.double().numpy(), rtol=1e-5, atol=1e-7)
    assert (dist["std"] > 0).all()


def test_classification_ensemble_averages_member_probabilities():
    X = torch.randn(15, 4)
    ens = build_ensemble(lambda s: MLP(4, 3, (8,), seed=s), 5)
    dist = predictive(ens, X, "multiclass", UncertaintySpec(method="ensemble", members=5))
    with torch.no_grad():
        oracle = np.mean([torch.softmax(m(X).double(), 1).numpy() for m in ens.unstack()], axis=0)
    np.testing.assert_allclose(dist["pred"], oracle, rtol=1e-6)


@pytest.mark.parametrize("score", ["absolute", "normalised"])
def test_calibrate_and_apply_equal_conformal_interval(score):
    rng = np.random.default_rng(0)
    y_cal, mu_cal, sd_cal = rng.normal(size=(50, 1)), rng.normal(size=(50, 1)), rng.uniform(0.5, 2, (50, 1))
    mu_te, sd_te = rng.normal(size=(20, 1)), rng.uniform(0.5, 2, (20, 1))
    spec = UncertaintySpec(method="ensemble", conformal=True, level=0.8, score=score)
    cal = calibrate("regression", y_cal, {"pred": mu_cal, "std": sd_cal}, spec)
    bands = apply_calibration(cal, {"pred": mu_te, "std": sd_te})
    lo, hi = conformal_interval(y_cal, mu_cal, mu_te, 0.2, sigma_cal=sd_cal, sigma_test=sd_te, score=score)
    np.testing.assert_allclose(bands["lower"], lo)
    np.testing.assert_allclose(bands["upper"], hi)
    assert cal["n"] == 50 and cal["kind"] == "interval"


@pytest.mark.parametrize("method", ["lac", "aps"])
def test_calibrated_sets_equal_conformal_sets(method):
    rng = np.random.default_rng(1)
    p_cal, p_te = rng.dirichlet(np.ones(4), 60), rng.dirichlet(np.ones(4), 25)
    y_cal = rng.integers(0, 4, 60)
    spec = UncertaintySpec(method="ensemble", conformal=True, set_method=method)
    sets = apply_calibration(calibrate("multiclass", y_cal, {"pred": p_cal}, spec), {"pred": p_te})["sets"]
    np.testing.assert_array_equal(sets, conformal_sets(p_cal, y_cal, p_te, 0.1, method=method))
    assert format_sets(np.array([[True, False, True], [False, False, False]]), ["a", "b", "c"]) == ["a|c", ""]


def test_spec_and_calibration_errors_say_how_to_fix():
    with pytest.raises(ConfigError, match="known"):
        UncertaintySpec(method="bagging")
    with pytest.raises(ConfigError, match="level"):
        UncertaintySpec(level=1.5)
    spec = UncertaintySpec(conformal=True, score="normalised")
    with pytest.raises(ConfigError, match="sigma"):
        calibrate("regression", np.zeros((5, 1)), {"pred": np.zeros((5, 1))}, spec)
    with pytest.raises(DataError, match="valid_fraction"):
        calibrate("regression", np.zeros((0, 1)), {"pred": np.zeros((0, 1))}, UncertaintySpec(conformal=True))
    assert UncertaintySpec.from_dict(UncertaintySpec(method="ensemble").to_dict()) == UncertaintySpec(method="ensemble")
