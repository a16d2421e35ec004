"""What the Trainer needs to train a model that expresses uncertainty: the model, loss and data of an
uncertainty method (one network, a heteroscedastic head, a stacked deep ensemble, bootstrap members).

Every method trains through the one Trainer: an ensemble is a StackedMLP whose loss is `ensemble_loss`
(the sum of the members' mean losses), so members learn exactly as if alone (Lakshminarayanan, Pritzel
& Blundell 2017).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Protocol

import torch
from torch import nn

from deepsci.data.batch import Inputs
from deepsci.errors import ConfigError
from deepsci.training.ensemble import bootstrap_data, build_ensemble, ensemble_loss, per_member_batch

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]

__all__ = ["UncertaintyMethod", "uncertainty_training"]


class UncertaintyMethod(Protocol):
    """The fields of `deepsci.evaluation.uncertainty.UncertaintySpec` that training reads."""

    @property
    def method(self) -> str: ...

    @property
    def members(self) -> int: ...

    @property
    def heteroscedastic(self) -> bool: ...

    @property
    def bootstrap(self) -> bool: ...

    @property
    def link(self) -> str: ...

    @property
    def beta(self) -> float: ...


def uncertainty_training(spec: UncertaintyMethod, task: str, make_member: Callable[[int], nn.Module], loss: Loss,
                         X: Inputs, y: Tensor, *, seed: int = 0) -> tuple[nn.Module, Loss, Inputs, Tensor, Any]:
    """What the Trainer needs for an uncertainty method: (model, loss, X_train, y_train, augment).

    - heteroscedastic: the head has 2t outputs (make_member must build it so) and the loss is the Gaussian
      NLL (`deepsci.evaluation.uncertainty.gaussian_nll`), in scaled target units;
    - ensemble: `members` networks make_member(seed + k) stacked into one StackedMLP, trained by the same
      Trainer on `ensemble_loss(loss)` (the sum of the members' mean losses; logged losses are that sum);
      with bootstrap, each member gets its own resample (`bootstrap_data`, augment `per_member_batch`);
    - otherwise make_member(seed) and `loss` unchanged (method "none" is exactly the plain run).

    Args:
        spec: the method (an UncertaintySpec).
        task: "regression", "binary" or "multiclass".
        make_member: seed -> a freshly built network.
        loss: the per-member loss (e.g. `deepsci.training.losses.mse`).
        X, y: (n, ...) training inputs (a tensor, or named tensors) and targets.
        seed: the run's seed.
    """
    if spec.heteroscedastic:
        if task != "regression":
            raise ConfigError(f"uncertainty.heteroscedastic = true is for regression (a mean-and-variance head); "
                              f"this task is {task}. Set heteroscedastic = false (class probabilities already "
                              "carry the aleatoric part).")
        # Imported here: the Gaussian NLL lives with the rest of the heteroscedastic maths in evaluation.
        from deepsci.evaluation.uncertainty.heteroscedastic import gaussian_nll

        loss = partial(gaussian_nll, link=spec.link, beta=spec.beta)  # type: ignore[arg-type]
    if spec.method != "ensemble":
        return make_member(seed), loss, X, y, None
    model = build_ensemble(make_member, spec.members, seed=seed)
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
