"""A convolutional stem for sequence models: local motifs first, then recurrence or attention.

    steps (batch, L, w) -> Conv1d(w, channels, kernel, 'same') -> ReLU -> MaxPool1d(pool) -> (batch, L/pool, channels)

A convolution of width k is a bank of learned position weight matrices scanned along the sequence, so
a recurrent or attention layer above it reads motif detections instead of single symbols, over a
sequence `pool` times shorter (DanQ: Quang & Xie 2016, a convolution + BiLSTM for regulatory DNA).
Padded steps are zeroed before the convolution and after it (so a pooling window that straddles a series'
end reads its real steps only: ReLU outputs are >= 0), and a pooled step is real when any of its steps is, so
the mask stays a prefix mask and neither the padding's values nor its length can reach the outputs. `as_steps`
checks the input of every sequence model (RNN, transformer) and lays it out as steps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.masking import output_lengths, steps_mask


def as_steps(x: Tensor, n_inputs: int, *, tokens: bool, channels_first: bool) -> Tensor:
    """A sequence model's input, shape checked: token ids (batch, L) int64 as they are, signals
    (batch, n_inputs, L) transposed to steps, vector sequences (batch, L, n_inputs) as they are."""
    if tokens:
        if x.dtype != torch.int64 or x.dim() != 2:
            raise ModelError(f"this model embeds symbols: expected int64 (batch, L); received {x.dtype} "
                             f"{tuple(x.shape)}.")
        return x
    if channels_first:
        if x.dim() != 3 or x.shape[1] != n_inputs:
            raise ModelError(f"expected signals (batch, {n_inputs}, L); received {tuple(x.shape)}.")
        return x.transpose(1, 2)
    if x.dim() != 3 or x.shape[-1] != n_inputs:
        raise ModelError(f"expected (batch, L, {n_inputs}) inputs; received {tuple(x.shape)}. "
                         "Windows of a time series are (n, input_length, channels).")
    return x


class ConvStem(nn.Module):
    """Conv1d + ReLU + max pooling along the steps of (batch, L, w) inputs, with the mask pooled alike."""

    def __init__(self, n_inputs: int, channels: int, kernel: int, pool: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_inputs, channels, kernel, padding=(kernel - 1) // 2)
        self.pool = max(1, int(pool))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(batch, L, w), mask (batch, L) -> (batch, ceil(L' / pool), channels), pooled mask; L' = L for an odd
        kernel, L - 1 for an even one (padding (kernel - 1) // 2 on both sides)."""
        if mask is not None:  # a fill, not a product: NaN padding must not reach a gradient either
            x = x.masked_fill(~mask.bool().unsqueeze(-1), 0.0)
        h = torch.relu(self.conv(x.transpose(1, 2)))  # (batch, channels, L')
        if mask is not None:  # the convolution's real outputs (one fewer for an even kernel), the rest zeroed: a
            # pooled window that straddles a series' end then reads only real steps (relu >= 0)
            lengths = output_lengths(mask.bool().sum(1), self.conv.kernel_size[0], 1, int(self.conv.padding[0]))
            mask = steps_mask(lengths, h.shape[-1])
            h = h.masked_fill(~mask.unsqueeze(1), 0.0)
        if self.pool > 1:
            h = nn.functional.max_pool1d(h, self.pool, ceil_mode=True)
            if mask is not None:
                mask = nn.functional.max_pool1d(mask.float().unsqueeze(1), self.pool, ceil_mode=True)[:, 0] > 0
        return h.transpose(1, 2), mask
