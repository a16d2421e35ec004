"""Cross-conformal bands with the ensemble itself: each training row's residual from the member that never saw it.

The procedure (`[uncertainty] conformal_method = "cross"` or `"cross-plus"`; training in
`deepsci.training.uncertainty`): the n training rows are dealt into K folds, one per ensemble member
(`deepsci.training.ensemble.cross_folds`); member k trains on the other K - 1 folds and early stopping watches
it on fold k. Row i of fold k gets the out-of-fold residual R_i = |y_i - mu_k(x_i)|, mu_k being member k's
mean. Every training row trains K - 1 members and calibrates one, at no extra fit; split conformal instead
keeps ~20% of the rows out of training to calibrate on. At a new x the band is

- "cross":       mean(x) +- q around the whole ensemble's mean, q = the ceil((n + 1)(1 - alpha))-th smallest R_i
                 (the (1 - alpha)(1 + 1/n) empirical quantile);
- "cross-plus":  CV+, [the floor(alpha (n + 1))-th smallest of mu_k(i)(x) - R_i, the ceil((1 - alpha)(n + 1))-th
                 smallest of mu_k(i)(x) + R_i] (`deepsci.evaluation.uncertainty.conformal.cv_plus_interval`).

What each guarantees (Barber, Candes, Ramdas & Tibshirani 2021, "Predictive inference with the jackknife+",
Ann. Statist. 49; the scores are those of Vovk's 2015 cross-conformal predictor). CV+ covers at least
1 - 2 alpha - min(2(1 - 1/K)/(n/K + 1), (1 - K/n)/(K + 1)) for exchangeable rows whatever the model (their
thm. 4), and about 1 - alpha or more in practice; it widens where the members disagree at x and is not
centred on the ensemble mean. "cross" is the K-fold analogue of their jackknife interval, centred at the model
fitted on all rows, and has no distribution-free guarantee: it covers 1 - alpha when the ensemble's error at a
new row is no larger in distribution than one member's out-of-fold error, which averaging the members usually
makes so (the band is then conservative). Both: early stopping reads fold k to pick one epoch for all members
together (one number chosen on all n rows), a mild use of the held-out rows the guarantees do not cover; and
the training rows and the rows the bands go on must be exchangeable, as for split conformal.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from deepsci.data.batch import Inputs
from deepsci.errors import DataError
from deepsci.evaluation.uncertainty.conformal import conformal_quantile, regression_scores
from deepsci.evaluation.uncertainty.predictive import Calibration, TargetUnscaler, _raw_samples
from deepsci.training.ensemble import cross_folds
from deepsci.training.losses import mean_variance
from deepsci.training.uncertainty_spec import UncertaintySpec

__all__ = ["held_out_calibration", "held_out_means"]


def held_out_means(model: nn.Module, X: Inputs, spec: UncertaintySpec, y_scaler: TargetUnscaler | None = None,
                   batch_size: int = 4096) -> NDArray[np.float64]:
    """Each training row's mean from the one member that never trained on it: (n, t), in data units.

    Args:
        model: the K-fold ensemble (output (K, n, out)), trained as `uncertainty_training` lays it out.
        X: its n training rows, in the order it trained on them (the folds are recomputed from n, K and seed).
        spec: members K, seed, heteroscedastic and link (a variance head's mean is its first t outputs).
        y_scaler: the target scaler (values back to data units), or None.
    """
    raw = _raw_samples(model, X, spec, batch_size).double()  # (K, n, out)
    if raw.shape[0] != spec.members:
        raise DataError(f"out-of-fold predictions need the {spec.members} members the folds were dealt to; the "
                        f"model gives {raw.shape[0]}.")
    n = raw.shape[1]
    own = raw[cross_folds(n, spec.members, spec.seed), torch.arange(n)]  # (n, out): row i from member fold(i)
    mean = mean_variance(own, link=spec.link)[0] if spec.heteroscedastic else own  # type: ignore[arg-type]
    if y_scaler is not None:
        mean = y_scaler.inverse_transform(mean)
    return mean.double().numpy()


def held_out_calibration(model: nn.Module, X: Inputs, y: NDArray[np.float64], spec: UncertaintySpec,
                         y_scaler: TargetUnscaler | None = None, sigma: Calibration | None = None,
                         batch_size: int = 4096) -> Calibration:
    """The cross-conformal `Calibration`: q per target from the training rows' out-of-fold absolute residuals.

    Args:
        model, X, spec, y_scaler: as for `held_out_means`.
        y: (n, t) the training targets, in data units.
        sigma: the sigma recalibration fitted on the calibration split (its `sigma` is kept), or None. The
            out-of-fold residuals are one member's, not the ensemble mean's, so they do not rescale sigma.

    Returns:
        kind "interval", calibrated_on "out-of-fold", score "absolute" (sigma at rows a member trained on is not
        the sigma of a fresh row): bands mean +- q; for "cross-plus" the residuals and their members are kept
        and the bands are CV+ (`cv_plus_interval`).
    """
    y_ = np.asarray(y, dtype=np.float64)
    scores = regression_scores(y_, held_out_means(model, X, spec, y_scaler, batch_size).reshape(y_.shape))
    q = np.atleast_1d(conformal_quantile(scores, 1.0 - spec.level))
    plus = spec.conformal_method == "cross-plus"  # CV+: keep every residual and its member for the band at x
    members = cross_folds(y_.shape[0], spec.members, spec.seed).tolist() if plus else []
    return Calibration(kind="interval", level=spec.level, n=int(y_.shape[0]), calibrated_on="out-of-fold",
                       q=tuple(float(v) for v in q), score="absolute",
                       sigma=None if sigma is None else sigma.sigma,
                       residuals=tuple(tuple(float(v) for v in row) for row in scores.reshape(len(y_), -1))
                       if plus else (), residual_members=tuple(members))
