"""Inception modules for 1-D signals: the blocks of InceptionTime (Ismail Fawaz et al. 2020).

One Inception module maps (batch, C_in, L) to (batch, 4 F, L), keeping the length:

    z   = Conv1x1(x) to B channels                      (the bottleneck; skipped when C_in = 1)
    y_k = Conv_k(z) to F channels, k in kernels          (three widths, 40 / 20 / 10 in the paper)
    y_p = Conv1x1(MaxPool_3(x)) to F channels            (stride 1, the length kept)
    out = ReLU(BN(concat(y_40, y_20, y_10, y_p)))

A stage (`InceptionStage`, the CNN block `type = "inception"`) is `depth` modules around one shortcut:
out = ReLU(modules(x) + BN(Conv1x1(x))); InceptionTime is two stages of depth 3 (a residual connection every
third module), then the global average pool and one linear layer. The convolutions have no bias (batch norm
follows). The "same" padding of an even width pads (k - 1) // 2 steps before and the rest after, as Keras did
in the paper's code (hfawaz/InceptionTime).

Reference: H. Ismail Fawaz et al. (2020), "InceptionTime: finding AlexNet for time series classification",
Data Mining and Knowledge Discovery 34, 1936-1962.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from deepsci.models.masking import run_masked, zero_padding


def same_conv1d(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """A bias-free stride-1 convolution of width `kernel` that keeps the length L: (batch, C_in, L) ->
    (batch, C_out, L); zero padding of (kernel - 1) // 2 steps before and the rest after."""
    before = (kernel - 1) // 2
    return nn.Sequential(nn.ConstantPad1d((before, kernel - 1 - before), 0.0),
                         nn.Conv1d(in_channels, out_channels, kernel, bias=False))


class InceptionModule(nn.Module):
    """One Inception module: (batch, C_in, L) -> (batch, (len(kernels) + 1) * filters, L).

    Args:
        in_channels: C_in.
        filters: F, the channels of each branch (32 in the paper).
        kernels: the widths of the convolution branches (40, 20, 10 in the paper).
        bottleneck: B, the channels of the 1x1 bottleneck before them (32); not used when C_in = 1, as in the
            paper's code (a 1x1 convolution of one channel only rescales it).
    """

    def __init__(self, in_channels: int, filters: int = 32, kernels: Sequence[int] = (40, 20, 10),
                 bottleneck: int = 32) -> None:
        super().__init__()
        use_bottleneck = in_channels > 1 and bottleneck > 0
        width = bottleneck if use_bottleneck else in_channels
        self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=False) if use_bottleneck else nn.Identity()
        self.convs = nn.ModuleList(same_conv1d(width, filters, int(k)) for k in kernels)
        self.pool = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), nn.Conv1d(in_channels, filters, 1, bias=False))
        self.out = nn.Sequential(nn.BatchNorm1d((len(kernels) + 1) * filters), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        z = self.bottleneck(x)  # (batch, B, L)
        branches = [conv(z) for conv in self.convs] + [self.pool(x)]  # each (batch, F, L)
        return self.out(torch.cat(branches, dim=1))  # (batch, 4F, L)

    def forward_masked(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Signals padded after lengths (batch,): every branch runs masked (deepsci.models.masking)."""
        z, _ = run_masked(self.bottleneck, x, lengths)
        branches = [run_masked(conv, z, lengths)[0] for conv in self.convs] + [run_masked(self.pool, x, lengths)[0]]
        return run_masked(self.out, torch.cat(branches, dim=1), lengths)


class InceptionStage(nn.Module):
    """`depth` Inception modules with one residual connection around them: (batch, C_in, L) -> (batch, 4F, L).

    out = ReLU(modules(x) + BN(Conv1x1(x))): the shortcut is a 1x1 convolution and batch norm even where the
    channels agree, as in the paper's code.
    """

    def __init__(self, in_channels: int, filters: int = 32, kernels: Sequence[int] = (40, 20, 10),
                 bottleneck: int = 32, depth: int = 3) -> None:
        super().__init__()
        out_channels = (len(kernels) + 1) * filters
        self.body = nn.Sequential(*(InceptionModule(in_channels if i == 0 else out_channels, filters, kernels,
                                                    bottleneck) for i in range(depth)))
        self.shortcut = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm1d(out_channels))
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))  # (batch, 4F, L)

    def forward_masked(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Signals padded after lengths (batch,): body and shortcut run masked (deepsci.models.masking)."""
        body, out = run_masked(self.body, x, lengths)
        shortcut, _ = run_masked(self.shortcut, x, lengths)
        return zero_padding(torch.relu(body + shortcut), out), out
