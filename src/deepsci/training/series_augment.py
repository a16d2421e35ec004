"""Time-series augmentations for signal batches (batch, C, L): window slicing, time shifts, magnitude scaling.

The three of Le Guennec, Malinowski & Tavenard (2016, "Data augmentation for time series classification using
convolutional neural networks") and Um et al. (2017, "Data augmentation of wearable sensor data"), as surveyed by
Iwana & Uchida (2021, PLoS ONE 16, e0254841). Each draws one set of parameters per series from the seeded
generator and acts on the whole batch at once:

    window_slice(x, fraction)   a window of `fraction` L steps at a random start, stretched back to L steps by
                                linear interpolation (the class should not depend on the exact extent)
    time_shift(x, fraction)     the series moved by up to +-fraction L steps, the vacated steps 0 (after
                                standard scaling: the training mean; for light curves: "not observed")
    magnitude_scale(x, sigma)   every channel of a series multiplied by one factor ~ N(1, sigma^2) (the class
                                should not depend on the amplitude)

They apply to signals only: `deepsci.config` refuses them for data whose samples have no steps. Variable-length
signals (padded after each series' end, `lengths` (batch,)) are sliced and shifted within each series' own
length, and their padding stays 0.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from deepsci.errors import ConfigError


def _need_signals(x: Tensor, what: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"augmentation '{what}' needs signal batches (batch, C, L); received {shape}. Switch it "
                          "off for tables, images, sets and padded sequences.")


def window_slice(x: Tensor, fraction: float, generator: torch.Generator | None = None,
                 lengths: Tensor | None = None) -> Tensor:
    """A random window of round(fraction L) steps of each series, resampled to L steps (linear interpolation).
    With lengths (batch,), L is each series' own length (`_padded_window_slice`)."""
    _need_signals(x, "window_slice")
    if lengths is not None:
        return _padded_window_slice(x, fraction, lengths, generator)
    n, _, length = x.shape
    width = max(2, round(fraction * length))
    if width >= length:
        return x
    start = torch.randint(0, length - width + 1, (n,), generator=generator).to(x.device)
    # Sample positions of the window, in the grid_sample convention [-1, 1] over the whole series.
    steps = torch.linspace(0, width - 1, length, device=x.device)  # (L,)
    pos = (start[:, None].to(x.dtype) + steps[None]) / (length - 1) * 2 - 1  # (n, L)
    grid = torch.stack([pos, torch.zeros_like(pos)], dim=-1)[:, None]  # (n, 1, L, 2)
    return F.grid_sample(x[:, :, None], grid, mode="bilinear", align_corners=True)[:, :, 0]


def _padded_window_slice(x: Tensor, fraction: float, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
    """`window_slice` of series padded after lengths (batch,): a window of w = round(fraction n) steps (at least 2,
    at most n) of each series of n steps, at a start ~ U{0, ..., n - w}, resampled to its n steps; padding 0."""
    batch, _, length = x.shape
    n = lengths.to(x.device, x.dtype)
    width = torch.minimum(torch.round(fraction * n).clamp(min=2), n)
    start = torch.floor(torch.rand(batch, generator=generator).to(x.device, x.dtype) * (n - width + 1))
    steps = torch.arange(length, device=x.device, dtype=x.dtype)
    source = start[:, None] + steps[None] * ((width - 1) / (n - 1).clamp(min=1))[:, None]  # (batch, L) steps read
    grid = torch.stack([source / max(length - 1, 1) * 2 - 1, torch.zeros_like(source)], dim=-1)[:, None]
    out = F.grid_sample(x[:, :, None], grid, mode="bilinear", align_corners=True)[:, :, 0]
    return out.masked_fill((steps[None] >= n[:, None])[:, None], 0.0)


def time_shift(x: Tensor, fraction: float, generator: torch.Generator | None = None,
               lengths: Tensor | None = None) -> Tensor:
    """Each series shifted by an integer s ~ U{-m, ..., m} steps, m = round(fraction L); vacated steps are 0.
    With lengths (batch,), L is each series' own length: it moves within its own steps, its padding stays 0."""
    _need_signals(x, "time_shift")
    if lengths is not None:
        return _padded_time_shift(x, fraction, lengths, generator)
    n, _, length = x.shape
    most = round(fraction * length)
    if most == 0:
        return x
    shift = torch.randint(-most, most + 1, (n,), generator=generator).to(x.device)
    source = torch.arange(length, device=x.device)[None] - shift[:, None]  # (n, L): the step each output reads
    inside = (source >= 0) & (source < length)
    moved = torch.gather(x, 2, source.clamp(0, length - 1)[:, None].expand(-1, x.shape[1], -1))
    return moved * inside[:, None].to(x.dtype)


def _padded_time_shift(x: Tensor, fraction: float, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
    """`time_shift` of series padded after lengths (batch,): each moved by s ~ U{-m, ..., m}, m = round(fraction n)
    for a series of n steps; steps moved past its end are lost, vacated steps and the padding are 0."""
    batch, _, length = x.shape
    n = lengths.to(x.device)
    most = torch.round(fraction * n.double())
    shift = (torch.floor(torch.rand(batch, generator=generator, dtype=torch.float64).to(x.device) * (2 * most + 1))
             - most).long()
    steps = torch.arange(length, device=x.device)[None]
    source = steps - shift[:, None]  # (batch, L): the step each output reads
    inside = (source >= 0) & (source < n[:, None]) & (steps < n[:, None])
    moved = torch.gather(x, 2, source.clamp(0, length - 1)[:, None].expand(-1, x.shape[1], -1))
    return moved.masked_fill(~inside[:, None], 0.0)


def magnitude_scale(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Each series times one factor ~ N(1, sigma^2)."""
    _need_signals(x, "magnitude_scale")
    factor = 1 + sigma * torch.randn(x.shape[0], generator=generator).to(x.device, x.dtype)
    return x * factor[:, None, None]
