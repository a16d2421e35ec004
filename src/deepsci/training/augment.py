"""Data augmentation and mixup on batches of tensors, applied on the fly to training batches only.

Every transform is a pure function of (batch, generator): it draws one set of random parameters
per sample from the seeded `torch.Generator` and acts on the whole batch at once (no Python loop
over samples). `Augment` chains them in a fixed order:

    flips -> rotation + crop-and-resize (one affine resampling) -> window slice, time shift, magnitude scale
          (signals) -> brightness/contrast -> Gaussian noise -> random erasing -> mixup

Shapes: images (batch, C, H, W); flips, brightness/contrast, noise and mixup also accept signals
(batch, C, L) and volumes. Rotation, crop and erasing need images.

Two ways to use it:
- `Augment(...)(x, y, generator) -> (x, y)` inside a training step (needed for mixup, which mixes
  targets too: class indices become soft targets (batch, k), which `F.cross_entropy` accepts).
- `Augment(...).as_module(generator)`: an nn.Module to put in front of a model; it transforms its
  input in training mode and is the identity in eval mode, so any training loop augments the
  training batches and never the evaluation (input-only transforms; not mixup).

References: Simard et al. (2003) elastic/affine distortions; Zhong et al. (2020) random erasing;
Zhang et al. (2018) mixup.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepsci.errors import ConfigError
from deepsci.training.series_augment import magnitude_scale, time_shift, window_slice

AUGMENTATIONS = ("hflip", "vflip", "rotate", "crop_scale", "brightness", "contrast", "noise", "erase", "mixup",
                 "window_slice", "time_shift", "magnitude_scale")


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None,
             device: torch.device | None = None) -> Tensor:
    """(n,) draws of U(low, high) from the (CPU) generator, placed on `device` (the batch's)."""
    return (low + (high - low) * torch.rand(n, generator=generator)).to(device)


def _per_sample(mask: Tensor, x: Tensor) -> Tensor:
    """Broadcast a (batch,) tensor against x (batch, ...)."""
    return mask.view(-1, *([1] * (x.dim() - 1)))


def _need_images(x: Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ConfigError(f"augmentation '{what}' needs image batches (batch, C, H, W); received shape "
                          f"{tuple(x.shape)}. Switch it off for signals, volumes or tables.")


def random_flip(x: Tensor, p: float, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """Flip each sample along axis `dim` (-1: left-right, -2: up-down) with probability p."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(_per_sample(flip, x), x.flip(dim), x)


def random_affine(x: Tensor, degrees: float = 0.0, min_scale: float = 1.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """Rotate by U(-degrees, degrees) and crop a random square of side U(min_scale, 1) resized back.

    One bilinear resampling (`affine_grid` + `grid_sample`) per batch; outside the image is zero.
    Shapes: (batch, C, H, W) -> same.
    """
    _need_images(x, "rotate/crop_scale")
    n = x.shape[0]
    angle = _uniform(n, -degrees, degrees, generator) * (math.pi / 180.0)
    s = _uniform(n, min_scale, 1.0, generator)  # side of the crop, fraction of the image
    tx = _uniform(n, -1.0, 1.0, generator) * (1 - s)  # crop centre stays inside the image
    ty = _uniform(n, -1.0, 1.0, generator) * (1 - s)
    cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
    theta = torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], 1)  # (n, 2, 3)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def brightness_contrast(x: Tensor, brightness: float = 0.0, contrast: float = 0.0,
                        generator: torch.Generator | None = None) -> Tensor:
    """x' = (x - m) c + m + b per sample, c ~ U(1-contrast, 1+contrast), b ~ U(-brightness, brightness).

    m is the sample's mean (over channels and space), so contrast scales deviations from it.
    """
    n = x.shape[0]
    c = _per_sample(_uniform(n, 1 - contrast, 1 + contrast, generator, x.device), x).to(x.dtype)
    b = _per_sample(_uniform(n, -brightness, brightness, generator, x.device), x).to(x.dtype)
    m = x.flatten(1).mean(1).view(-1, *([1] * (x.dim() - 1)))
    return (x - m) * c + m + b


def gaussian_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + N(0, std^2), independently per element."""
    return x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def random_erasing(x: Tensor, p: float, area: tuple[float, float] = (0.02, 0.25), value: float = 0.0,
                   generator: torch.Generator | None = None) -> Tensor:
    """With probability p per sample, set a random rectangle to `value` (Zhong et al. 2020).

    The rectangle covers a fraction U(area) of the image, aspect ratio log-uniform in [1/3, 3].
    """
    _need_images(x, "erase")
    n, _, H, W = x.shape
    frac = _uniform(n, area[0], area[1], generator)
    aspect = torch.exp(_uniform(n, -math.log(3), math.log(3), generator))
    h = (torch.sqrt(frac * H * W * aspect)).clamp(1, H)
    w = (torch.sqrt(frac * H * W / aspect)).clamp(1, W)
    top = torch.rand(n, generator=generator) * (H - h)
    left = torch.rand(n, generator=generator) * (W - w)
    rows = torch.arange(H).view(1, H, 1)
    cols = torch.arange(W).view(1, 1, W)
    inside = ((rows >= top.floor().view(-1, 1, 1)) & (rows < (top + h).floor().view(-1, 1, 1))
              & (cols >= left.floor().view(-1, 1, 1)) & (cols < (left + w).floor().view(-1, 1, 1)))  # (n, H, W)
    erase = inside & (torch.rand(n, generator=generator) < p).view(-1, 1, 1)
    return torch.where(erase[:, None].to(x.device), torch.as_tensor(value, dtype=x.dtype, device=x.device), x)


def mixup(x: Tensor, y: Tensor, alpha: float, *, n_classes: int | None = None,
          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Mixup (Zhang et al. 2018): convex combinations of sample pairs and of their targets.

    lam ~ Beta(alpha, alpha) per sample, partner = a random permutation of the batch;
    x' = lam x + (1 - lam) x[perm], y' = lam y + (1 - lam) y[perm].

    Args:
        x: (batch, ...) inputs.
        y: class indices (batch,) int64 with `n_classes` given -> soft targets (batch, k) float;
            or regression targets (batch, ...) float, mixed directly.
        alpha: Beta concentration (0.2-0.4 typical); larger mixes more evenly.
    """
    if alpha <= 0:
        raise ConfigError(f"mixup alpha must be > 0; received {alpha}. Set mixup = 0 to switch it off.")
    n = x.shape[0]
    # torch's Beta sampler takes no Generator: draw through numpy, seeded from the torch generator.
    seed = int(torch.randint(2**62, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n)).to(x.device, x.dtype)
    perm = torch.randperm(n, generator=generator).to(x.device)
    x_mix = _per_sample(lam, x) * x + _per_sample(1 - lam, x) * x[perm]
    if not y.is_floating_point():
        if n_classes is None:
            raise ConfigError("mixup on class labels needs n_classes (to build soft targets).")
        y = F.one_hot(y.long(), n_classes).to(x.dtype)
    lam_y = _per_sample(lam, y).to(y.dtype)
    return x_mix, lam_y * y + (1 - lam_y) * y[perm]


@dataclass
class Augment:
    """A chain of batch augmentations; `augment(x, y, generator) -> (x, y)`.

    Attributes (0 / None = off):
        hflip, vflip: probability of a left-right / up-down flip (digits: keep 0, a flipped 2 is no 2).
        rotate: max rotation in degrees.
        crop_scale: smallest crop side as a fraction of the image (crop then resize back), e.g. 0.85.
        brightness, contrast: ranges of the additive shift and multiplicative contrast factor.
        noise: std of additive Gaussian noise (in the input's units).
        erase: probability of random erasing; erase_area: its area fraction range.
        mixup: Beta alpha for mixup (classification needs n_classes).
        window_slice, time_shift, magnitude_scale: signals only (deepsci.training.series_augment): the window's
            share of the length, the largest shift as a share of the length, the std of the amplitude factor.
        n_classes: number of classes (mixup on class labels).
    """

    hflip: float = 0.0
    vflip: float = 0.0
    rotate: float = 0.0
    crop_scale: float | None = None
    brightness: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    erase: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.25)
    mixup: float = 0.0
    window_slice: float | None = None
    time_shift: float = 0.0
    magnitude_scale: float = 0.0
    n_classes: int | None = None

    def __post_init__(self) -> None:
        for name in ("hflip", "vflip", "erase"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"augment.{name} is a probability in [0, 1]; received {v}.")
        if self.crop_scale is not None and not 0.0 < self.crop_scale <= 1.0:
            raise ConfigError(f"augment.crop_scale is the smallest crop side in (0, 1]; received {self.crop_scale}.")
        for name in ("rotate", "brightness", "contrast", "noise", "mixup"):
            if getattr(self, name) < 0:
                raise ConfigError(f"augment.{name} must be >= 0; received {getattr(self, name)}.")
        self.erase_area = (float(self.erase_area[0]), float(self.erase_area[1]))

    @property
    def active(self) -> bool:
        return any([self.hflip, self.vflip, self.rotate, self.crop_scale is not None and self.crop_scale < 1,
                    self.brightness, self.contrast, self.noise, self.erase, self.mixup,
                    self.window_slice is not None and self.window_slice < 1, self.time_shift, self.magnitude_scale])

    def inputs(self, x: Tensor, generator: torch.Generator | None = None, lengths: Tensor | None = None) -> Tensor:
        """Apply the input-only transforms (everything but mixup). lengths (batch,): signals padded after each
        series' end (`padded_signals`)."""
        if self.hflip:
            x = random_flip(x, self.hflip, -1, generator)
        if self.vflip:
            x = random_flip(x, self.vflip, -2, generator)
        if self.rotate or (self.crop_scale is not None and self.crop_scale < 1):
            x = random_affine(x, self.rotate, self.crop_scale or 1.0, generator)
        if self.window_slice is not None and self.window_slice < 1:
            x = window_slice(x, self.window_slice, generator, lengths)
        if self.time_shift:
            x = time_shift(x, self.time_shift, generator, lengths)
        if self.magnitude_scale:
            x = magnitude_scale(x, self.magnitude_scale, generator)
        if self.brightness or self.contrast:
            x = brightness_contrast(x, self.brightness, self.contrast, generator)
        if self.noise:
            x = gaussian_noise(x, self.noise, generator)
        if self.erase:
            x = random_erasing(x, self.erase, self.erase_area, generator=generator)
        return x

    def __call__(self, x: Tensor | dict[str, Tensor], y: Tensor,
                 generator: torch.Generator | None = None) -> tuple[Tensor | dict[str, Tensor], Tensor]:
        if isinstance(x, dict):
            return self.padded_signals(x, generator), y
        x = self.inputs(x, generator)
        if self.mixup:
            x, y = mixup(x, y, self.mixup, n_classes=self.n_classes, generator=generator)
        return x, y

    def padded_signals(self, x: dict[str, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Variable-length signals {"x": (batch, C, L), "mask": (batch, L)}: the signal augmentations act within
        each series' length, noise and the magnitude factor on its real steps; the padding stays 0.

        Raises:
            ConfigError: padded inputs that are not signals, or an augmentation that would mix padding into a
                series (flips, image transforms, mixup of two series of different lengths).
        """
        signal, mask = x.get("x"), x.get("mask")
        if set(x) != {"x", "mask"} or signal is None or mask is None or signal.dim() != 3 \
                or tuple(mask.shape) != (signal.shape[0], signal.shape[-1]):
            raise ConfigError(f"[augment] takes tensors or variable-length signals {{'x', 'mask'}}; received inputs "
                              f"{sorted(x)}. Switch augmentation off for padded sequences, sets and several inputs.")
        mixing = [k for k in ("hflip", "vflip", "rotate", "crop_scale", "erase", "mixup") if getattr(self, k)]
        if mixing:
            raise ConfigError(f"augment.{mixing[0]} would move or mix the padding of variable-length signals into "
                              "their steps; switch it off (window_slice, time_shift, magnitude_scale and noise apply).")
        lengths = mask.sum(1)
        return {"x": self.inputs(signal, generator, lengths).masked_fill(~mask.bool()[:, None], 0.0), "mask": mask}

    def as_module(self, generator: torch.Generator | None = None) -> "AugmentLayer":
        """An nn.Module that augments its input in training mode only (input-only transforms)."""
        if self.mixup:
            raise ConfigError("mixup changes the targets, so it cannot run inside the model; call "
                              "Augment(...)(x, y, generator) in the training step instead.")
        return AugmentLayer(self, generator)

    def spec(self) -> dict[str, Any]:
        d = asdict(self)
        d["erase_area"] = list(self.erase_area)
        return d

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Augment":
        unknown = set(spec) - set(AUGMENTATIONS) - {"erase_area", "n_classes"}
        if unknown:
            raise ConfigError(f"unknown augmentation option(s) {sorted(unknown)}; known: "
                              f"{', '.join(AUGMENTATIONS)}, erase_area, n_classes.")
        return cls(**spec)


class AugmentLayer(nn.Module):
    """Applies `Augment.inputs` in training mode; the identity in eval mode. Has no parameters."""

    def __init__(self, augment: Augment, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.augment = augment
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return self.augment.inputs(x, self.generator) if self.training else x
