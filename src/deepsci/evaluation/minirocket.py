"""MiniRocket: random-convolution features of signals, the strong non-deep reference of time-series classification.

Dempster, Schmidt & Webb (2021), "MiniRocket: a very fast (almost) deterministic transform for time series
classification", KDD. The transform, as published (and as in the authors' reference code):

- 84 kernels of length 9, weights -1 everywhere and 2 at three of the nine positions (all C(9, 3) choices);
- dilations 2^0 .. 2^log2((L - 1) / 8), up to 32 of them, exponentially spaced; the features of a kernel
  are shared out among its dilations;
- biases drawn from the quantiles (a low-discrepancy sequence, frac(i * golden ratio)) of the convolution
  output of one random training series per (dilation, kernel): the only randomness, fitted on training rows;
- one feature per bias: the proportion of positive values, PPV = mean_t [ (x * w)_t > b ];
- zero padding on alternate (dilation, kernel) pairs, the valid part of the output on the others;
- several channels (the multivariate variant): each (dilation, kernel) sums the convolutions of a random
  subset of 1 .. min(C, 9) channels.

A ridge classifier (alpha chosen by leave-one-out cross-validation on standardised features) on 10,000 such
features is the published classifier. Here the transform is written with torch.nn.functional.conv1d (aeon
and sktime, which ship it, pull in numba and other numpy and pandas versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F

KERNEL_LENGTH = 9
#: the 84 kernels: positions of the three weights 2 among the nine (the other six are -1)
KERNEL_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)  # (84, 3)
N_KERNELS = len(KERNEL_INDICES)
MAX_DILATIONS_PER_KERNEL = 32
#: rows convolved at once: bounds the (rows, channels, 84, L) convolution output held in memory
ROW_CHUNK = 32


@dataclass(frozen=True)
class MiniRocket:
    """A fitted transform: dilations, features per dilation, the channels of each (dilation, kernel), biases.

    Attributes:
        length: series length L it was fitted on (shorter series are zero-padded to 9 steps).
        dilations: (D,) int; features_per_dilation: (D,) int, features of each kernel at that dilation.
        channels: (D, 84, C) bool, the channels each (dilation, kernel) sums.
        biases: (D,) arrays of shape (84, f_d).
    """

    length: int
    dilations: np.ndarray
    features_per_dilation: np.ndarray
    channels: np.ndarray
    biases: tuple[np.ndarray, ...]

    @property
    def n_features(self) -> int:
        return int(N_KERNELS * self.features_per_dilation.sum())


def _weights() -> torch.Tensor:
    """The 84 kernels as a conv1d weight (84, 1, 9): -1 everywhere, 2 at the three chosen positions."""
    w = -np.ones((N_KERNELS, KERNEL_LENGTH), dtype=np.float32)
    np.put_along_axis(w, KERNEL_INDICES, 2.0, axis=1)
    return torch.from_numpy(w)[:, None, :]


def fit_dilations(length: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(dilations, features per kernel at each dilation), exponentially spaced up to (L - 1) / 8."""
    per_kernel = max(1, n_features // N_KERNELS)
    true_max = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((length - 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int64),
                                  return_counts=True)
    counts = (counts * multiplier).astype(np.int64)
    for i in range(per_kernel - int(counts.sum())):  # the remainder, one feature at a time
        counts[i % len(counts)] += 1
    return dilations, counts


def quantiles(n: int) -> np.ndarray:
    """The low-discrepancy sequence frac(i * golden ratio), i = 1..n, at which biases are read."""
    return (np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1


def _as_series(X: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(n, C, L) float32, zero-padded on the right to at least 9 steps (the kernel length)."""
    x = torch.as_tensor(X, dtype=torch.float32)
    if x.dim() == 2:
        x = x[:, None, :]
    if x.shape[-1] < KERNEL_LENGTH:
        x = F.pad(x, (0, KERNEL_LENGTH - x.shape[-1]))
    return x


def _convolve(x: torch.Tensor, dilation: int, channels: np.ndarray) -> torch.Tensor:
    """(n, 84, L) outputs of the 84 kernels at `dilation`, zero-padded to length L, each summed over its
    channels (channels: (84, C) bool)."""
    n, c, length = x.shape
    out = F.conv1d(x.reshape(n * c, 1, length), _weights(), padding=(KERNEL_LENGTH - 1) * dilation // 2,
                   dilation=dilation)  # (n*C, 84, L)
    return torch.einsum("nckl,kc->nkl", out.reshape(n, c, N_KERNELS, length),
                        torch.from_numpy(channels.astype(np.float32)))


def fit_minirocket(X: np.ndarray | torch.Tensor, *, n_features: int = 10_000, seed: int = 0) -> MiniRocket:
    """Fit the transform on training series X (n, C, L) or (n, L): the channel subsets and the biases."""
    x = _as_series(X)
    n, c, length = x.shape
    rng = np.random.default_rng(seed)
    dilations, per_dilation = fit_dilations(length, n_features)
    q = quantiles(N_KERNELS * int(per_dilation.sum()))
    top = np.log2(min(c, KERNEL_LENGTH) + 1)
    channels = np.zeros((len(dilations), N_KERNELS, c), dtype=bool)
    biases: list[np.ndarray] = []
    start = 0
    for i, (dilation, f) in enumerate(zip(dilations.tolist(), per_dilation.tolist())):
        for k in range(N_KERNELS):
            chosen = rng.choice(c, int(2 ** rng.uniform(0, top)), replace=False)
            channels[i, k, chosen] = True
        examples = rng.integers(0, n, N_KERNELS)  # one random training series per (dilation, kernel)
        conv = _convolve(x[examples], dilation, channels[i]).double().numpy()  # (84, 84, L): row j, kernel j
        own = conv[np.arange(N_KERNELS), np.arange(N_KERNELS)]  # (84, L)
        b = np.stack([np.quantile(own[k], q[start + k * f: start + (k + 1) * f]) for k in range(N_KERNELS)])
        biases.append(b.astype(np.float32))
        start += N_KERNELS * f
    return MiniRocket(length, dilations, per_dilation, channels, tuple(biases))


def _ppv(conv: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """Proportion of positive values (n, k, f) of conv (n, k, L) above each bias (k, f)."""
    return (conv[..., None] > biases[None, :, None, :]).float().mean(dim=2)


def minirocket_features(transform: MiniRocket, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """The (n, n_features) PPV features of series X (n, C, L) under a fitted transform."""
    x = _as_series(X)
    parts: list[torch.Tensor] = []
    for lo in range(0, int(x.shape[0]), ROW_CHUNK):
        chunk = x[lo:lo + ROW_CHUNK]
        feats = []
        for i, dilation in enumerate(transform.dilations.tolist()):
            conv = _convolve(chunk, dilation, transform.channels[i])  # (m, 84, L)
            b = torch.from_numpy(transform.biases[i])  # (84, f)
            pad = (KERNEL_LENGTH - 1) * dilation // 2
            padded = (i + np.arange(N_KERNELS)) % 2 == 0  # alternate kernels: the full padded output or its valid part
            out = torch.empty(conv.shape[0], N_KERNELS, b.shape[1])
            out[:, padded] = _ppv(conv[:, padded], b[padded])
            valid = conv[:, ~padded, pad:conv.shape[-1] - pad] if conv.shape[-1] > 2 * pad else conv[:, ~padded]
            out[:, ~padded] = _ppv(valid, b[~padded])
            feats.append(out.reshape(out.shape[0], -1))
        parts.append(torch.cat(feats, dim=1))
    return torch.cat(parts).double().numpy()
