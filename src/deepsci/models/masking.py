"""Padding that cannot reach the outputs: lengths through convolutions, masked batch norm, masked pooling.

A variable-length signal arrives padded at the end, (batch, C, L) with a prefix mask (batch, L), True on real
steps. A convolutional network ignores the padding when it keeps one invariant after every layer:

    h[b, :, t] = 0 for t >= length[b],  and  h[b, :, :length[b]] is what the unpadded series would give.

Each layer then updates the lengths and re-zeroes the padded steps (`run_masked`):

    convolution / pooling   length' = floor((length + 2P - D(K - 1) - 1) / S) + 1   (the unpadded series' output
                            length; its zero padding and our zeroed steps are the same zeros)
    'same' convolution      length' = length
    constant (zero) pad     length' = length + before + after (our zeros continue the pad's zeros)
    max pooling             padded steps are -inf inside the pool, as PyTorch's own padding is
    batch norm (training)   mean and variance over the real steps only (`masked_batch_norm`), so the padding
                            never enters the running statistics
    pointwise layers        activations, dropout: as they are

and the global pool of the head averages (or takes the maximum) over the real steps only (`pool_steps`).
References: Ioffe & Szegedy (2015) batch normalisation; PyTorch's pack_padded_sequence and key padding masks do
the same for recurrences and attention (deepsci.models.rnn, deepsci.models.transformer).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.activations import Elementwise

#: modules that act on each step alone (nothing mixes steps): run as they are, then the padding re-zeroed
POINTWISE: tuple[type[nn.Module], ...] = (Elementwise, nn.Dropout, nn.Identity, nn.ReLU, nn.GELU, nn.Tanh,
                                          nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid)


def prefix_lengths(mask: Tensor, steps: int) -> Tensor:
    """Lengths (batch,) int64 of a prefix mask (batch, T); ModelError if a row is empty or not a prefix."""
    if mask.dim() != 2 or mask.shape[1] != steps:
        raise ModelError(f"the mask must be (batch, {steps}) bool, True on real steps; received "
                         f"{tuple(mask.shape)}.")
    mask = mask.bool()
    lengths = mask.sum(1)
    if bool((lengths == 0).any()):
        raise ModelError(f"{int((lengths == 0).sum())} sequence(s) have no real step (all-False mask rows); "
                         "drop empty sequences before training.")
    if not torch.equal(steps_mask(lengths, steps), mask):
        raise ModelError("the mask must be True on a prefix of each row (real steps first, padding at the end); "
                         "received a mask with holes or leading padding. Pad sequences at the end.")
    return lengths


def steps_mask(lengths: Tensor, steps: int) -> Tensor:
    """(batch, steps) bool, True on the first lengths[b] steps of row b."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def zero_padding(x: Tensor, lengths: Tensor) -> Tensor:
    """x (batch, C, L) with every step t >= lengths[b] set to 0 (NaN and inf included: a fill, not a product)."""
    return x.masked_fill(~steps_mask(lengths, x.shape[-1]).unsqueeze(1), 0.0)


def output_lengths(lengths: Tensor, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Tensor:
    """Lengths after a convolution or pooling of the unpadded series: floor((n + 2P - D(K-1) - 1) / S) + 1.

    Raises:
        ModelError: a series too short for the layer (no output step left).
    """
    out = torch.div(lengths + 2 * padding - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1
    if bool((out < 1).any()):
        short = int(lengths[out < 1].min())
        raise ModelError(f"a series of {short} real steps is too short for a layer of kernel {kernel}, stride "
                         f"{stride} (nothing is left of it): use less pooling or striding, or drop series that short.")
    return out


def masked_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor, lengths: Tensor) -> Tensor:
    """Batch norm of x (batch, C, L) whose statistics count only the real steps.

    Training: mean and (biased) variance over the real steps of the batch normalise it, and the running
    statistics move towards them as nn.BatchNorm1d's do (momentum, or the cumulative average when momentum is
    None; the running variance unbiased, n / (n - 1)). Evaluation: the running statistics, as nn.BatchNorm1d.
    """
    if not (bn.training or bn.running_mean is None):
        return bn(x)
    real = steps_mask(lengths, x.shape[-1]).unsqueeze(1).to(x.dtype)  # (batch, 1, L)
    count = real.sum() * 1.0
    mean = (x * real).sum((0, 2)) / count  # (C,)
    var = (((x - mean[None, :, None]) ** 2) * real).sum((0, 2)) / count
    if bn.training and bn.running_mean is not None and bn.running_var is not None:
        _update_running(bn, mean.detach(), var.detach() * count / max(float(count) - 1.0, 1.0))
    y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + bn.eps)
    if bn.affine:
        y = y * bn.weight[None, :, None] + bn.bias[None, :, None]
    return y


def _update_running(bn: nn.modules.batchnorm._BatchNorm, mean: Tensor, unbiased_var: Tensor) -> None:
    """The running statistics' step of nn.BatchNorm in training mode, with the masked batch's statistics."""
    assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else float(bn.momentum)
        bn.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        bn.running_var.mul_(1 - factor).add_(unbiased_var, alpha=factor)


def pool_steps(x: Tensor, lengths: Tensor, kind: str = "avg") -> Tensor:
    """The global pool of x (batch, C, L) over each row's real steps: "avg" (mean) or "max" -> (batch, C)."""
    real = steps_mask(lengths, x.shape[-1]).unsqueeze(1)
    if kind == "max":
        return x.masked_fill(~real, float("-inf")).amax(-1)
    return (x * real.to(x.dtype)).sum(-1) / lengths.unsqueeze(1).to(x.dtype)


def _conv(m: nn.Conv1d, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    if isinstance(m.padding, str):  # "same" keeps the length (stride 1); "valid" is no padding
        same = m.padding == "same"
        return m(x), lengths if same else output_lengths(lengths, m.kernel_size[0], 1, 0, m.dilation[0])
    return m(x), output_lengths(lengths, m.kernel_size[0], m.stride[0], m.padding[0], m.dilation[0])


def _max_pool(m: nn.MaxPool1d, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    if m.ceil_mode:
        raise ModelError("a masked signal cannot go through a max pool with ceil_mode (its last window would read "
                         "padding); use the default floor mode.")
    kernel, stride, padding, dilation = (int(v if isinstance(v, int) else v[0])
                                         for v in (m.kernel_size, m.stride, m.padding, m.dilation))
    inf = x.masked_fill(~steps_mask(lengths, x.shape[-1]).unsqueeze(1), float("-inf"))
    return m(inf), output_lengths(lengths, kernel, stride, padding, dilation)


def _avg_pool(m: nn.AvgPool1d, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    if m.ceil_mode or not m.count_include_pad:
        raise ModelError("a masked signal needs average pooling in floor mode that counts its zero padding "
                         "(PyTorch's default); its padded steps are zeros.")
    kernel, stride, padding = (int(v if isinstance(v, int) else v[0]) for v in (m.kernel_size, m.stride, m.padding))
    return m(x), output_lengths(lengths, kernel, stride, padding)


def _pad(m: nn.ConstantPad1d, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    if m.value != 0:
        raise ModelError(f"a masked signal can only be padded with zeros inside the network; received {m.value}.")
    before, after = int(m.padding[0]), int(m.padding[1])
    return m(x), lengths + before + after


def _batch_norm(m: nn.BatchNorm1d, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    return masked_batch_norm(m, x, lengths), lengths


#: {layer type: its masked step (layer, x, lengths) -> (output, output lengths)}, before the padding is re-zeroed
MASKED_LAYERS: dict[type[nn.Module], Callable[[Any, Tensor, Tensor], tuple[Tensor, Tensor]]] = {
    nn.Conv1d: _conv, nn.MaxPool1d: _max_pool, nn.AvgPool1d: _avg_pool, nn.ConstantPad1d: _pad,
    nn.BatchNorm1d: _batch_norm}


def run_masked(module: nn.Module, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Run a 1-D convolutional module on padded signals x (batch, C, L) whose rows are lengths (batch,) long.

    Sequentials run child by child; a module with its own `forward_masked(x, lengths)` (a residual block,
    squeeze-and-excitation) runs that; the layers of `MASKED_LAYERS` and the pointwise ones run as the module
    docstring says. Returns (output with its padded steps zero, output lengths).

    Raises:
        ModelError: a layer that mixes steps in a way this function does not know (it cannot promise the
            padding is ignored).
    """
    if isinstance(module, nn.Sequential):
        for child in module:
            x, lengths = run_masked(child, x, lengths)
        return x, lengths
    own = getattr(module, "forward_masked", None)
    if own is not None:
        return own(x, lengths)  # type: ignore[no-any-return]
    step = MASKED_LAYERS.get(type(module))
    if step is not None:
        y, lengths = step(module, x, lengths)
    elif isinstance(module, POINTWISE):
        y = module(x)
    else:
        raise ModelError(f"a {type(module).__name__} layer cannot run on masked (variable-length) signals: "
                         "deepsci cannot show it ignores the padding. Use conv, pool, residual, se and dropout blocks.")
    return zero_padding(y, lengths), lengths
