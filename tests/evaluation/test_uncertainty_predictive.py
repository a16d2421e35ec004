"""From a network to a predictive distribution and conformal bands. Oracles: numpy on the members' own
outputs, and the pure conformal functions (`conformal_interval`, `conformal_sets`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepsci.data.scalers import Scaler
from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty import (
    Calibration,
    Predictive,
    SigmaCalibrator,
    UncertaintySpec,
    apply_calibration,
    calibrate,
    conformal_interval,
    conformal_sets,
    format_sets,
    mc_dropout_predict,
    mc_dropout_samples,
    predictive,
    recalibrate,
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
    np.testing.assert_allclose(dist.pred, scaler.inverse_transform(torch.tensor(members.mean(0))).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.std, members.std(0) * scale, rtol=1e-5, atol=1e-6)
    assert dist.aleatoric is None  # no variance head: the spread is all epistemic


def test_heteroscedastic_ensemble_splits_aleatoric_and_epistemic():
    X = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    ens = build_ensemble(lambda s: MLP(3, 2, (8,), seed=s), 3)
    dist = predictive(ens, X, "regression", UncertaintySpec(method="ensemble", members=3, heteroscedastic=True))
    np.testing.assert_allclose(dist.std ** 2, dist.aleatoric ** 2 + dist.epistemic ** 2, rtol=1e-9)
    with torch.no_grad():
        raw = ens(X).double()
    var = torch.nn.functional.softplus(raw[..., 1:]) + 1e-6
    np.testing.assert_allclose(dist.aleatoric ** 2, var.mean(0).numpy(), rtol=1e-6)


def test_mc_dropout_samples_match_predict_and_are_reproducible():
    model = MLP(4, 1, (16,), dropout=0.5, seed=0)
    X = torch.randn(10, 4)
    s = mc_dropout_samples(model, X, samples=6, seed=3)
    assert s.shape == (6, 10, 1)
    mean, std = mc_dropout_predict(model, X, samples=6, seed=3)
    torch.testing.assert_close(mean, s.mean(0))
    dist = predictive(model, X, "regression", UncertaintySpec(method="mc-dropout", samples=6, seed=3))
    np.testing.assert_allclose(dist.std, std.double().numpy(), rtol=1e-5, atol=1e-7)
    assert (dist.std > 0).all()


def test_classification_ensemble_averages_member_probabilities():
    X = torch.randn(15, 4)
    ens = build_ensemble(lambda s: MLP(4, 3, (8,), seed=s), 5)
    dist = predictive(ens, X, "multiclass", UncertaintySpec(method="ensemble", members=5))
    with torch.no_grad():
        oracle = np.mean([torch.softmax(m(X).double(), 1).numpy() for m in ens.unstack()], axis=0)
    np.testing.assert_allclose(dist.pred, oracle, rtol=1e-6)


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
    assert cal.n == 50 and cal.kind == "interval" and cal.calibrated_on == "calib"


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
    with pytest.raises(ConfigError, match="predicted sigma"):  # one network without a variance head has none
        UncertaintySpec(conformal=True, score="normalised")
    with pytest.raises(ConfigError, match="bootstrap"):
        UncertaintySpec(bootstrap=True)
    with pytest.raises(ConfigError, match="one fold per ensemble member"):
        UncertaintySpec(method="ensemble", conformal=True, conformal_method="cross", score="normalised")
    spec = UncertaintySpec(method="ensemble", conformal=True, score="normalised")
    with pytest.raises(ConfigError, match="sigma"):  # a distribution handed over without its sigma
        calibrate("regression", np.zeros((5, 1)), {"pred": np.zeros((5, 1))}, spec)
    with pytest.raises(DataError, match="calib_fraction"):
        calibrate("regression", np.zeros((0, 1)), {"pred": np.zeros((0, 1))}, UncertaintySpec(conformal=True))
    assert UncertaintySpec.from_dict(UncertaintySpec(method="ensemble").to_dict()) == UncertaintySpec(method="ensemble")


def test_predictive_is_a_value_and_lists_its_arrays():
    X = torch.randn(12, 3)
    ens = build_ensemble(lambda s: MLP(3, 2, (8,), seed=s), 3)
    dist = predictive(ens, X, "regression", UncertaintySpec(method="ensemble", members=3, heteroscedastic=True))
    assert isinstance(dist, Predictive) and dist.mean.shape == (12, 1) and dist.proba is None
    assert dist.pred is dist.mean and dist.std is not None and dist.std_raw is None
    assert set(dist.as_dict()) == {"pred", "std", "aleatoric", "epistemic", "member_means"} and len(dist) == 12
    np.testing.assert_array_equal(dist.take(np.arange(3)).std, dist.std[:3])
    # each member's mean, (K, n, t): their average is the ensemble mean (CV+ bands read them)
    np.testing.assert_allclose(dist.member_means.mean(0), dist.mean, rtol=1e-12)
    np.testing.assert_array_equal(dist.take(np.arange(3)).member_means, dist.member_means[:, :3])


def test_recalibration_scales_std_and_parts_and_is_idempotent():
    rng = np.random.default_rng(5)
    mu, sd = rng.normal(size=(200, 1)), rng.uniform(0.5, 1.5, (200, 1))
    y = rng.normal(mu, 3 * sd)  # the model's sigma is three times too small
    ale, epi = sd * 0.6, sd * 0.8  # 0.36 + 0.64 = 1
    dist = Predictive(mean=mu, std=sd, aleatoric=ale, epistemic=epi)
    spec = UncertaintySpec(method="ensemble", heteroscedastic=True, conformal=True, recalibration="scaling",
                           score="normalised")
    cal = calibrate("regression", y, dist, spec)
    s = float(np.sqrt(np.mean((y - mu) ** 2 / sd**2)))
    assert cal.sigma is not None and cal.sigma.scale_[0] == pytest.approx(s) and 2.5 < s < 3.5
    fixed = recalibrate(cal, dist)
    np.testing.assert_allclose(fixed.std, s * sd)
    np.testing.assert_array_equal(fixed.std_raw, sd)
    np.testing.assert_allclose(fixed.aleatoric**2 + fixed.epistemic**2, fixed.std**2)
    again = recalibrate(cal, fixed)  # from std_raw again: no double scaling
    np.testing.assert_allclose(again.std, fixed.std) and np.testing.assert_allclose(again.epistemic, fixed.epistemic)
    # Normalised conformal on the recalibrated sigma: the same bands from a raw or a recalibrated Predictive.
    b_raw, b_fixed = apply_calibration(cal, dist), apply_calibration(cal, fixed)
    np.testing.assert_allclose(b_raw["upper"], b_fixed["upper"])
    lo, hi = conformal_interval(y, mu, mu, 0.1, sigma_cal=s * sd, sigma_test=s * sd, score="normalised")
    np.testing.assert_allclose(b_raw["lower"], lo)


def test_calibration_round_trips_through_json_and_reads_old_runs():
    import json

    rng = np.random.default_rng(6)
    mu, sd = rng.normal(size=(60, 2)), rng.uniform(0.5, 1.5, (60, 2))
    y = rng.normal(mu, 2 * sd)
    for recal in ("scaling", "isotonic"):
        spec = UncertaintySpec(method="ensemble", conformal=True, recalibration=recal)
        cal = calibrate("regression", y, Predictive(mean=mu, std=sd), spec, calibrated_on="calib")
        back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert back.q == cal.q and back.calibrated_on == "calib" and back.n == 60
        np.testing.assert_allclose(recalibrate(back, {"pred": mu, "std": sd}).std, recalibrate(cal, {"pred": mu, "std": sd}).std)
    old = {"kind": "interval", "score": "absolute", "q": [0.5], "level": 0.9, "n": 20}  # a run folder from before
    assert Calibration.from_dict(old).calibrated_on == "valid"
    assert apply_calibration(old, {"pred": mu[:, :1]})["upper"] == pytest.approx(mu[:, :1] + 0.5)
    with pytest.raises(DataError, match="malformed"):
        Calibration.from_dict({"kind": "interval", "q": ["x"], "level": 0.9, "n": 1})
    sigma_only = calibrate("regression", y, Predictive(mean=mu, std=sd),
                           UncertaintySpec(method="ensemble", recalibration="scaling"))
    assert sigma_only.kind == "sigma" and apply_calibration(sigma_only, Predictive(mean=mu, std=sd)) == {}
    assert isinstance(sigma_only.sigma, SigmaCalibrator)


class _TwoInputConv(torch.nn.Module):
    """A model that is not an MLP: a 1-D conv on a signal plus a table input, with 1-D dropout."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 4, 3)
        self.drop = torch.nn.Dropout1d(0.3)
        self.head = torch.nn.Linear(4 + 3, 2)

    def forward(self, signal, meta):
        h = self.drop(torch.relu(self.conv(signal))).mean(-1)
        return self.head(torch.cat([h, meta], 1))


def test_mc_dropout_and_predictive_on_any_model_with_named_inputs():
    torch.manual_seed(0)
    model = _TwoInputConv()
    X = {"signal": torch.randn(9, 2, 8), "meta": torch.randn(9, 3)}
    spec = UncertaintySpec(method="mc-dropout", samples=5, heteroscedastic=True, seed=1)
    dist = predictive(model, X, "regression", spec, batch_size=4)  # batches of named inputs: take()
    s = mc_dropout_samples(model, X, samples=5, seed=1)
    assert s.shape == (5, 9, 2) and model.training  # modes restored
    var = torch.nn.functional.softplus(s[..., 1:].double()) + 1e-6
    oracle = np.sqrt(var.mean(0).numpy() + s[..., :1].double().var(0, unbiased=False).numpy())
    np.testing.assert_allclose(dist.std, oracle, rtol=1e-5)
    plain = predictive(model, X, "regression", UncertaintySpec(), batch_size=4)
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(plain.mean, model(**X).double().numpy(), rtol=1e-5, atol=1e-6)
