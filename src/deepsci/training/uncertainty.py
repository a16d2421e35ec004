"""What the Trainer needs to train a model that expresses uncertainty: the model, loss and data of an
uncertainty method (one network, a heteroscedastic head, a stacked deep ensemble, bootstrap members).

Every method trains through the one Trainer: an ensemble is a StackedMLP whose loss is `ensemble_loss`
(the sum of the members' mean losses), so members learn exactly as if alone (Lakshminarayanan, Pritzel
& Blundell 2017). For cross-conformal bands (`conformal_method = "cross"` or "cross-plus") member k trains
without fold k of the training rows and is validated on it (`HeldOutLoss`), so every training row has a prediction from
a member that never saw it (deepsci.evaluation.uncertainty.held_out_calibration).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
from torch import nn

from deepsci.data.batch import Inputs
from deepsci.errors import ConfigError
from deepsci.tasks import task_of
from deepsci.training.ensemble import (
    bootstrap_data,
    cross_folds,
    ensemble_loss,
    held_out_loss,
    per_member_batch,
)
from deepsci.training.ensemble_any import build_any_ensemble
from deepsci.training.losses import gaussian_nll, gaussian_nll_per_sample
from deepsci.training.uncertainty_spec import UncertaintySpec

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]

__all__ = ["check_held_out_splits", "uncertainty_training"]


def uncertainty_training(spec: UncertaintySpec, task: str, make_member: Callable[[int], nn.Module], loss: Loss,
                         X: Inputs, y: Tensor, *, seed: int = 0) -> tuple[nn.Module, Loss, Inputs, Tensor, Any]:
    """What the Trainer needs for an uncertainty method: (model, loss, X_train, y_train, augment).

    - heteroscedastic: the head has 2t outputs (make_member must build it so) and the loss is the Gaussian
      NLL (`deepsci.training.losses.gaussian_nll`), in scaled target units;
    - ensemble: `members` networks make_member(seed + k) stacked into one StackedMLP, trained by the same
      Trainer on `ensemble_loss(loss)` (the sum of the members' mean losses; logged losses are that sum);
      with bootstrap, each member gets its own resample (`bootstrap_data`, augment `per_member_batch`);
      with conformal_method "cross" / "cross-plus", member k skips fold k (`cross_folds(n, K, seed)`): the loss is a
      `HeldOutLoss` and y_train (n, t + 1) carries each row's fold; validate on
      (X_train, loss.validation_targets(y_train)) so each member early-stops on its own fold;
    - otherwise make_member(seed) and `loss` unchanged (method "none" is exactly the plain run).

    Args:
        spec: the method.
        task: a task name (deepsci.tasks) the spec can serve (`UncertaintySpec.check_task`).
        make_member: seed -> a freshly built network.
        loss: the per-member loss (e.g. `deepsci.training.losses.mse`).
        X, y: (n, ...) training inputs (a tensor, or named tensors) and targets.
        seed: the run's seed.
    """
    spec.check_task(task_of(task))
    per_row: Callable[[Tensor, Tensor], Tensor] | None = None  # the loss per row, where K-fold members need it
    if spec.heteroscedastic:
        loss = partial(gaussian_nll, link=spec.link, beta=spec.beta)  # type: ignore[arg-type]
        per_row = partial(gaussian_nll_per_sample, link=spec.link, beta=spec.beta)  # type: ignore[arg-type]
    if spec.method != "ensemble":
        return make_member(seed), loss, X, y, None
    # stacked MLPs, else members side by side (one after another, or vmapped with spec.vectorise)
    model = build_any_ensemble(make_member, spec.members, seed=seed, vectorise=spec.vectorise)
    if spec.k_fold:
        held_out = held_out_loss(loss, spec.members, per_row)
        return model, held_out, X, held_out.with_folds(y, cross_folds(len(y), spec.members, seed)), None
    member_loss = ensemble_loss(loss, target_dims=y.dim())
    if not spec.bootstrap:
        return model, member_loss, X, y, None
    if not isinstance(X, torch.Tensor):
        named = f"named inputs ({', '.join(X)})" if isinstance(X, dict) else "inputs that assemble their own batches"
        raise ConfigError(f"uncertainty.bootstrap resamples one table of inputs per member; this model takes {named}. "
                          "Set bootstrap = false (members still differ by initialisation).")
    # A different stream from the Trainer's (seeded with `seed`), so resamples and batch order are independent.
    Xb, yb = bootstrap_data(X, y, spec.members, torch.Generator().manual_seed(seed + 1_000_003))
    return model, member_loss, Xb, yb, per_member_batch


def check_held_out_splits(spec: UncertaintySpec, calib_rows: int) -> None:
    """Refuse, before training, splits that K-fold (cross-conformal) members cannot use as asked.

    The members' out-of-fold residuals calibrate the bands but not the ensemble's sigma (one member's error is
    not the ensemble mean's), so sigma recalibration needs the calibration split. (A validation split beside
    K-fold members is no error: each member early-stops on its own fold, and the run warns that the split chose
    nothing; deepsci.evaluation.uncertainty.levels.uncertainty_notes.)
    """
    if not spec.k_fold:
        return
    if calib_rows == 0 and spec.recalibration != "none":
        raise ConfigError(f"uncertainty.recalibration = '{spec.recalibration}' scales the ensemble's sigma on the "
                          "calibration split, and this run has none (out-of-fold residuals are one member's, not "
                          "the ensemble's). Set data.calib_fraction > 0 (e.g. 0.2), or recalibration = 'none'.")
