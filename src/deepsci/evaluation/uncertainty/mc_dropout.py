"""Monte Carlo dropout (Gal & Ghahramani 2016): keep dropout on at prediction time and average samples.

Every dropout the network has is sampled, wherever it sits (`sampled_layers` names them):

- dropout modules (nn.Dropout, Dropout1d/2d/3d, AlphaDropout): a CNN's body and head, an MLP, set networks;
- attention-weight dropout of nn.MultiheadAttention (transformers, set transformers), a float, not a module;
- the dropout torch's nn.RNN / nn.GRU / nn.LSTM apply between stacked layers (layers > 1);
- and torch's transformer layers are themselves put in training mode: in eval mode they take a fused fast path
  that skips their dropout altogether (without this, MC dropout on a transformer sampled only its head).

Batch norm stays in eval mode (running statistics, not updated). What training mode switches on beyond
dropout is nothing in these modules: a transformer layer's layer norm and a recurrent layer's weights behave
the same in both modes.
"""

from __future__ import annotations

import torch
from torch import nn

from deepsci.data.batch import Inputs, n_rows
from deepsci.errors import ConfigError, ModelError
from deepsci.training.device import model_device, same_random_streams
from deepsci.training.inference import predict_batches

Tensor = torch.Tensor

__all__ = ["mc_dropout_predict", "mc_dropout_samples", "sampled_layers"]

# torch layers whose eval-mode fast path skips the dropout of their children
_FAST_PATH_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def _dropout_rate(module: nn.Module) -> tuple[str, float] | None:
    """(what it drops, rate) when `module` itself draws a dropout mask in training mode, else None."""
    if isinstance(module, nn.modules.dropout._DropoutNd):  # Dropout, Dropout1d/2d/3d, (Feature)AlphaDropout
        return type(module).__name__, float(module.p)
    if isinstance(module, nn.MultiheadAttention):
        return "attention weights", float(module.dropout)
    if isinstance(module, nn.RNNBase) and module.num_layers > 1:
        return f"between {module.num_layers} stacked {module.mode} layers", float(module.dropout)
    return None


def sampled_layers(model: nn.Module) -> list[dict[str, object]]:
    """The layers MC dropout samples in `model`: [{"module": dotted name, "drops": what, "p": rate}], in the
    model's module order (metrics.json["uncertainty"]["sampled_layers"] and the report list them)."""
    out: list[dict[str, object]] = []
    for name, module in model.named_modules():
        rate = _dropout_rate(module)
        if rate is not None and rate[1] > 0:
            out.append({"module": name or type(model).__name__, "drops": rate[0], "p": rate[1]})
    return out


def _stochastic_modules(model: nn.Module) -> list[nn.Module]:
    """The modules to put in training mode: every one that samples a mask, and the fast-path layers holding one."""
    sampling = [m for m in model.modules() if (rate := _dropout_rate(m)) is not None and rate[1] > 0]
    inside = set(map(id, sampling))
    hosts = [m for m in model.modules() if isinstance(m, _FAST_PATH_LAYERS)
             and any(id(child) in inside for child in m.modules())]
    return sampling + hosts


def mc_dropout_predict(model: nn.Module, X: Inputs, samples: int = 30, seed: int = 0,
                       batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of `samples` stochastic forward passes with dropout on.

    Every dropout of the network is sampled (module docstring, `sampled_layers`); batch norm stays in eval mode
    (its running statistics are used and not updated). The model's modes are restored afterwards. The random masks come
    from a forked RNG seeded with `seed`, so the call is reproducible and leaves global state untouched.

    Args:
        model: any network with dropout somewhere (`sampled_layers` not empty).
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

    Same rules as `mc_dropout_predict` (every dropout on, batch norm in eval mode, own seeded RNG); use this when
    each pass is itself a distribution (a heteroscedastic head: mean and variance per pass).
    """
    if samples < 2:
        raise ConfigError(f"MC dropout needs samples >= 2 to estimate a spread, got {samples}. "
                          "Set uncertainty.samples to e.g. 30.")
    dropouts = _stochastic_modules(model)
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
