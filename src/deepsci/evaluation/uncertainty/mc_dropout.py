"""Monte Carlo dropout (Gal & Ghahramani 2016): keep dropout on at prediction time and average samples."""

from __future__ import annotations

import torch
from torch import nn

from deepsci.data.batch import Inputs, n_rows
from deepsci.errors import ConfigError, ModelError
from deepsci.training.device import model_device, same_random_streams
from deepsci.training.inference import predict_batches

Tensor = torch.Tensor

__all__ = ["mc_dropout_predict", "mc_dropout_samples"]


def mc_dropout_predict(model: nn.Module, X: Inputs, samples: int = 30, seed: int = 0,
                       batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of `samples` stochastic forward passes with dropout on.

    Only the Dropout layers are switched to training mode; batch norm stays in eval mode (its running
    statistics are used and not updated). The model's modes are restored afterwards. The random masks come
    from a forked RNG seeded with `seed`, so the call is reproducible and leaves global state untouched.

    Args:
        model: any network with at least one dropout layer (nn.Dropout, Dropout1d/2d/3d, AlphaDropout; p > 0).
        X: inputs: a tensor (n, ...) or named tensors (see `deepsci.data.batch`).
        samples: number of passes T >= 2.
        seed: seeds the dropout masks.
        batch_size: rows per forward pass (None: all at once).

    Returns:
        (mean, std) over the T passes, each shaped like one output (e.g. (n, outputs)); std is the
        population standard deviation of the passes (the epistemic part of the predictive spread).
    """
    stacked = mc_dropout_samples(model, X, samples=samples, seed=seed, batch_size=batch_size)
    return stacked.mean(0), stacked.std(0, unbiased=False)


def mc_dropout_samples(model: nn.Module, X: Inputs, samples: int = 30, seed: int = 0,
                       batch_size: int | None = None) -> Tensor:
    """The `samples` stochastic forward passes themselves, stacked: (T, n, ...) (one pass's output shape).

    Same rules as `mc_dropout_predict` (dropout on, batch norm in eval mode, own seeded RNG); use this when
    each pass is itself a distribution (a heteroscedastic head: mean and variance per pass).
    """
    if samples < 2:
        raise ConfigError(f"MC dropout needs samples >= 2 to estimate a spread, got {samples}. "
                          "Set uncertainty.samples to e.g. 30.")
    # _DropoutNd covers Dropout, Dropout1d/2d/3d, AlphaDropout and FeatureAlphaDropout, in any architecture.
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    if not dropouts:
        raise ModelError("MC dropout needs a model with dropout; this one has none. Set model.dropout > 0 "
                         "(e.g. 0.1), or use uncertainty.method = 'ensemble'.")
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for d in dropouts:
            d.train()
        device = model_device(model)  # batches go there; the masks come from its generator, seeded here
        step = batch_size or max(n_rows(X), 1)
        with same_random_streams(device):
            torch.manual_seed(seed)
            outs = [predict_batches(model, X, batch_size=step, device=device, stochastic=True)
                    for _ in range(samples)]
    finally:
        for m, mode in modes.items():
            m.training = mode
    return torch.stack(outs)  # (T, n, ...)
