"""Padding invariance of every signal model: the padding's values and length cannot reach the outputs.

Three series of 9, 14 and 20 steps (2 channels) are padded at the end to 24 and to 33 steps, with 0, 1e3 and NaN.
Each model, given the prefix mask, must give (eval mode) the same outputs to 1e-5 whatever the padding, the same
outputs as each series run alone and unpadded (the oracle: no padding at all), and the same gradients on the real
steps and on every weight; in training mode the batch-norm statistics (and so the outputs and running statistics)
must not see the padding either. The same CNN run without its mask fails the test: that is what the mask buys.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import Tensor, nn

from deepsci.models.cnn import CNN
from deepsci.models.masking import masked_batch_norm
from deepsci.models.presets import preset_blocks
from deepsci.models.rnn import SequenceModel
from deepsci.models.transformer import TransformerEncoderModel

LENGTHS = (9, 14, 20)
CHANNELS = 2
WIDTHS = (24, 33)
VALUES = (0.0, 1e3, float("nan"))
TOL = dict(atol=1e-5, rtol=1e-5)

CUSTOM = [{"type": "conv", "channels": 6, "kernel": 5, "stride": 2, "padding": 2, "batch_norm": True},
          {"type": "residual", "channels": 8, "stride": 2, "se": 2},
          {"type": "pool", "kind": "avg", "kernel": 2},
          {"type": "conv", "channels": 8, "kernel": 3, "padding": 1, "batch_norm": True, "activation": "tanh"},
          {"type": "pool", "kind": "max", "kernel": 3, "stride": 1, "padding": 1},  # negative values: -inf matters
          {"type": "dropout", "p": 0.2}]

#: every signal model: name -> maker(seed) of a network taking (batch, 2, L) and a mask (batch, L)
MODELS: dict[str, Callable[[], nn.Module]] = {
    "cnn (LeNet-style)": lambda: CNN.lenet(CHANNELS, 3, dims=1, channels=(4, 6), kernel=3, head_hidden=(5,), seed=1),
    "cnn (global max pool)": lambda: CNN.lenet(CHANNELS, 3, dims=1, channels=(4,), global_pool="max", seed=1),
    "cnn (strided, residual, se, avg and max pools)": lambda: CNN(CHANNELS, 3, CUSTOM, dims=1, seed=1),
    "fcn": lambda: CNN(CHANNELS, 3, preset_blocks("fcn"), dims=1, seed=1),
    "resnet": lambda: CNN(CHANNELS, 3, preset_blocks("resnet"), dims=1, seed=1),
    "inception": lambda: CNN(CHANNELS, 3, preset_blocks("inception"), dims=1, seed=1),
    "rnn (vanilla)": lambda: SequenceModel(CHANNELS, 3, cell="rnn", hidden=8, channels_first=True, seed=1),
    "rnn (gru)": lambda: SequenceModel(CHANNELS, 3, cell="gru", hidden=8, channels_first=True, seed=1),
    "rnn (lstm, two layers)": lambda: SequenceModel(CHANNELS, 3, cell="lstm", hidden=8, layers=2, channels_first=True,
                                                    seed=1),
    "rnn (bidirectional gru)": lambda: SequenceModel(CHANNELS, 3, cell="gru", hidden=8, bidirectional=True,
                                                     channels_first=True, seed=1),
    "rnn (bidirectional lstm, mean readout)": lambda: SequenceModel(CHANNELS, 3, cell="lstm", hidden=8,
                                                                    bidirectional=True, readout="mean",
                                                                    channels_first=True, seed=1),
    "rnn (conv stem, pool 2, max readout)": lambda: SequenceModel(CHANNELS, 3, cell="gru", hidden=8, stem_kernel=3,
                                                                  stem_channels=6, stem_pool=2, readout="max",
                                                                  channels_first=True, seed=1),
    "rnn (conv stem of even width)": lambda: SequenceModel(CHANNELS, 3, cell="lstm", hidden=8, stem_kernel=4,
                                                           stem_channels=6, channels_first=True, seed=1),
    "transformer (mean)": lambda: TransformerEncoderModel(CHANNELS, 3, width=8, heads=2, feedforward=16,
                                                          channels_first=True, seed=1),
    "transformer (cls)": lambda: TransformerEncoderModel(CHANNELS, 3, width=8, heads=2, feedforward=16,
                                                         pooling="cls", channels_first=True, seed=1),
    "transformer (conv stem, pool 2)": lambda: TransformerEncoderModel(CHANNELS, 3, width=8, heads=2, feedforward=16,
                                                                       stem_kernel=3, stem_pool=2,
                                                                       channels_first=True, seed=1),
    "transformer (conv stem of even width, pool 2)": lambda: TransformerEncoderModel(
        CHANNELS, 3, width=8, heads=2, feedforward=16, stem_kernel=4, stem_pool=2, channels_first=True, seed=1),
}


def _series() -> list[Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(CHANNELS, n, generator=g) for n in LENGTHS]


def _padded(series: list[Tensor], width: int, value: float) -> tuple[Tensor, Tensor]:
    """(batch, C, width) with `value` after each series' end, and the prefix mask (batch, width)."""
    x = torch.full((len(series), CHANNELS, width), value)
    mask = torch.zeros(len(series), width, dtype=torch.bool)
    for i, s in enumerate(series):
        x[i, :, :s.shape[-1]] = s
        mask[i, :s.shape[-1]] = True
    return x, mask


def _run(model: nn.Module, width: int, value: float) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Outputs, the input's gradient on the real steps (concatenated) and every weight's gradient."""
    x, mask = _padded(_series(), width, value)
    x.requires_grad_(True)
    model.zero_grad()
    out = model(x, mask)
    (out * torch.arange(1.0, out.shape[1] + 1)).sum().backward()
    assert x.grad is not None
    real = torch.cat([x.grad[i, :, :n].flatten() for i, n in enumerate(LENGTHS)])
    return out.detach(), real, [p.grad.clone() if p.grad is not None else torch.zeros(()) for p in model.parameters()]


@pytest.mark.parametrize("name", list(MODELS))
def test_padding_changes_nothing_in_eval_mode(name: str) -> None:
    model = MODELS[name]().eval()
    alone = torch.cat([model(s[None]) for s in _series()]).detach()  # each series unpadded, no mask: the oracle
    reference, real_grad, weight_grads = _run(model, WIDTHS[0], 0.0)
    torch.testing.assert_close(reference, alone, **TOL)
    for width in WIDTHS:
        for value in VALUES:
            out, grad, grads = _run(model, width, value)
            assert torch.isfinite(out).all(), (width, value)
            torch.testing.assert_close(out, reference, **TOL, msg=f"{name}: padded to {width} with {value}")
            torch.testing.assert_close(grad, real_grad, **TOL, msg=f"{name}: input gradient, {width}, {value}")
            for a, b in zip(grads, weight_grads):
                torch.testing.assert_close(a, b, **TOL, msg=f"{name}: a weight's gradient, {width}, {value}")


@pytest.mark.parametrize("name", ["cnn (LeNet-style)", "cnn (strided, residual, se, avg and max pools)", "fcn",
                                  "resnet", "inception"])
def test_batch_norm_statistics_ignore_the_padding_in_training(name: str) -> None:
    """Training mode: batch statistics over real steps only, so outputs and running statistics match."""
    outs, stats = [], []
    for width, value in ((WIDTHS[0], 0.0), (WIDTHS[1], 1e3), (WIDTHS[1], float("nan"))):
        model = MODELS[name]()
        model.train()
        for m in model.modules():  # dropout off: only the batch statistics differ between train and eval
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        x, mask = _padded(_series(), width, value)
        outs.append(model(x, mask).detach())
        stats.append(torch.cat([b for n, b in model.named_buffers() if "running" in n]))
    for out, stat in zip(outs[1:], stats[1:]):
        torch.testing.assert_close(out, outs[0], **TOL)
        torch.testing.assert_close(stat, stats[0], **TOL)


def test_masked_batch_norm_on_full_rows_is_batch_norm() -> None:
    """No padding: the masked statistics and running-statistic updates are nn.BatchNorm1d's own."""
    x = torch.randn(4, 3, 7, dtype=torch.float64)
    ours, torchs = nn.BatchNorm1d(3).double(), nn.BatchNorm1d(3).double()
    for _ in range(2):
        torch.testing.assert_close(masked_batch_norm(ours, x, torch.full((4,), 7)), torchs(x))
    torch.testing.assert_close(ours.running_mean, torchs.running_mean)
    torch.testing.assert_close(ours.running_var, torchs.running_var)
    assert int(ours.num_batches_tracked) == 2


def test_a_model_without_its_mask_fails_the_same_test() -> None:
    """The ResNet run on the same padded batches without the mask: the padding's value and length change the
    outputs (batch norm, convolutions near the end and the global average pool all read the padding)."""
    model = MODELS["resnet"]().eval()
    x0, _ = _padded(_series(), WIDTHS[0], 0.0)
    x1, _ = _padded(_series(), WIDTHS[0], 1e3)
    x2, _ = _padded(_series(), WIDTHS[1], 0.0)
    unmasked = [model(x).detach() for x in (x0, x1, x2)]
    assert (unmasked[1] - unmasked[0]).abs().max() > 1e-2  # the padding's value
    assert (unmasked[2] - unmasked[0]).abs().max() > 1e-3  # its length
