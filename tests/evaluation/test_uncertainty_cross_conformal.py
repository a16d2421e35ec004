"""Cross-conformal bands with the ensemble's own members: each row's prediction comes from the member that
left it out, and q is the ceil((n+1)(1-alpha))-th smallest out-of-fold residual. Oracles: a stand-in ensemble
whose member k predicts k, the order statistic by hand, and the coverage of a K-fold ensemble on fresh rows
of a known noisy function."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepsci.errors import ConfigError
from deepsci.evaluation.uncertainty import (
    Calibration,
    UncertaintySpec,
    apply_calibration,
    cv_plus_interval,
    held_out_calibration,
    held_out_means,
    predictive,
)
from deepsci.models import MLP
from deepsci.training.ensemble import StackedMLP, cross_folds, held_out_loss
from deepsci.training.losses import mse
from deepsci.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

K = 4


class MemberIndex(nn.Module):
    """A stand-in ensemble: member k predicts k (mean) and a variance head's raw output, for every row. It
    holds K members (`members`), so its rows are dim 1 (deepsci.training.inference.row_dim)."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.outputs, self.members = outputs, K

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.arange(K, dtype=x.dtype).view(K, 1, 1).expand(K, x.shape[0], self.outputs)


@pytest.mark.parametrize("heteroscedastic", [False, True])
def test_each_row_is_predicted_by_the_member_that_left_it_out(heteroscedastic):
    spec = UncertaintySpec(method="ensemble", members=K, heteroscedastic=heteroscedastic, seed=5)
    X = torch.zeros(21, 3)
    got = held_out_means(MemberIndex(2 if heteroscedastic else 1), X, spec)
    np.testing.assert_array_equal(got[:, 0], cross_folds(21, K, seed=5).numpy())


def test_q_is_the_conformal_order_statistic_of_out_of_fold_residuals():
    spec = UncertaintySpec(method="ensemble", members=K, conformal=True, conformal_method="cross", level=0.8, seed=1)
    folds = cross_folds(30, K, seed=1).double().numpy()
    y = np.linspace(0.0, 6.0, 30)[:, None]
    cal = held_out_calibration(MemberIndex(1), torch.zeros(30, 2), y, spec)
    residuals = np.sort(np.abs(y[:, 0] - folds))
    assert cal.q == (pytest.approx(residuals[math.ceil(31 * 0.8) - 1]),)
    assert (cal.kind, cal.calibrated_on, cal.n, cal.score) == ("interval", "out-of-fold", 30, "absolute")
    # the band is the ensemble mean +- q, as for split conformal
    dist = predictive(MemberIndex(1), torch.zeros(3, 2), "regression", spec)
    bands = apply_calibration(cal, dist)
    np.testing.assert_allclose(bands["upper"] - dist.mean, cal.q[0])
    with pytest.raises(ConfigError, match="score = 'absolute'"):  # sigma at rows a member trained on is no sigma
        UncertaintySpec(method="ensemble", members=K, conformal=True, conformal_method="cross", score="normalised")


def test_cv_plus_interval_by_hand():
    """Oracle: the order statistics of Barber et al.'s CV+ written out with a full sort, row by row."""
    rng = np.random.default_rng(0)
    mu, members, r = rng.normal(size=(3, 7, 2)), rng.integers(0, 3, 40), np.abs(rng.normal(size=(40, 2)))
    lower, upper = cv_plus_interval(mu, members, r, alpha=0.2, rows_per_chunk=3)
    for j in range(7):
        for t in range(2):
            at_x = mu[members, j, t]
            assert upper[j, t] == np.sort(at_x + r[:, t])[math.ceil(0.8 * 41) - 1]
            assert lower[j, t] == np.sort(at_x - r[:, t])[math.floor(0.2 * 41) - 1]
    # one fold model: the interval is that model's prediction +- the split-conformal quantile
    lo, hi = cv_plus_interval(mu[:1], np.zeros(40, int), r, alpha=0.2)
    np.testing.assert_allclose(hi - mu[0], np.sort(r, axis=0)[math.ceil(0.8 * 41) - 1][None].repeat(7, 0))
    assert np.isinf(cv_plus_interval(mu, members[:5], r[:5], alpha=0.1)[1]).all()  # ceil(6 * 0.9) = 6 > 5 rows


def test_cross_plus_calibration_round_trips_and_bands_follow_the_members():
    spec = UncertaintySpec(method="ensemble", members=K, conformal=True, conformal_method="cross-plus", seed=2)
    y = np.linspace(0.0, 3.0, 25)[:, None]
    cal = held_out_calibration(MemberIndex(1), torch.zeros(25, 2), y, spec)
    assert len(cal.residuals) == 25 and cal.residual_members == tuple(cross_folds(25, K, seed=2).tolist())
    again = Calibration.from_dict(cal.to_dict())
    assert again.residuals == cal.residuals and again.residual_members == cal.residual_members
    dist = predictive(MemberIndex(1), torch.zeros(3, 2), "regression", spec)
    assert dist.member_means.shape == (K, 3, 1) and dist.take([0, 2]).member_means.shape == (K, 2, 1)
    bands = apply_calibration(again, dist.as_dict())
    lower, upper = cv_plus_interval(dist.member_means, cal.residual_members, cal.residuals, 0.1)
    np.testing.assert_array_equal(bands["lower"], lower)
    np.testing.assert_array_equal(bands["upper"], upper)


@pytest.mark.slow
def test_cross_conformal_bands_cover_fresh_rows():
    """y = sin(2 x0) + x1 + N(0, 0.3^2): a K-fold ensemble's 80% bands cover about 80% of 4000 fresh rows."""
    g = torch.Generator().manual_seed(0)

    def rows(n):
        X = torch.rand(n, 2, generator=g) * 4 - 2
        return X, (torch.sin(2 * X[:, :1]) + X[:, 1:] + 0.3 * torch.randn(n, 1, generator=g))

    (X, y), (X_new, y_new) = rows(400), rows(4000)
    model = StackedMLP([MLP(2, 1, (32,), seed=s) for s in range(K)])
    loss = held_out_loss(mse, K)
    coded = loss.with_folds(y, cross_folds(400, K, seed=0))
    Trainer(model, loss=loss, epochs=60, batch_size=32, lr=1e-2, seed=0, patience=10).fit(
        X, coded, X, loss.validation_targets(coded))
    for method in ("cross", "cross-plus"):
        spec = UncertaintySpec(method="ensemble", members=K, conformal=True, conformal_method=method, level=0.8)
        cal = held_out_calibration(model, X, y.numpy(), spec)
        bands = apply_calibration(cal, predictive(model, X_new, "regression", spec))
        covered = np.mean((y_new.numpy() >= bands["lower"]) & (y_new.numpy() <= bands["upper"]))
        # 400 calibration residuals: one calibration's coverage has sd ~0.02; the members' out-of-fold residuals
        # are no smaller than the ensemble's, so the band may be conservative: allow 2.5 sd below, 0.08 above.
        assert 0.75 <= covered <= 0.88, (method, covered)
