"""Infinite-width references for a dense network on a table: the NNGP and NTK kernel regressors.

An MLP of the run's depth, activation and initialisation variances has, at infinite width, the NNGP kernel K
(its prior over functions is a Gaussian process with that covariance; Lee et al. 2018) and the neural tangent
kernel Θ (gradient descent on squared loss moves it like kernel regression with Θ; Jacot et al. 2018). Kernel
ridge regression with each, fitted on the same training rows as the network (in the same scaled features and
targets), gives two references: what the network's architecture would predict if it were infinitely wide
(NNGP: Bayesian posterior mean; NTK: trained to convergence by gradient flow). A finite network that beats them
learned features the kernel regime cannot (Chizat & Bach 2019's "lazy training" is the NTK end).

Cost: the kernel of N training rows is N² entries (closed forms for ReLU and erf, Gauss quadrature otherwise) and
one Cholesky factorisation per ridge, O(N³/3); N is capped (`MAX_ROWS`) by a seeded sub-sample of the training rows, whose size
is stated. Only activations with closed-form kernels are offered (`CLOSED_FORMS`): with 2-D quadrature per entry
and layer, 30 rows through 20 tanh layers already take half a minute. The ridge λ (relative to the kernel's mean diagonal) is
chosen from `RIDGES` on the validation rows when there are some (else λ = 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepsci.theory.kernels import KERNELS, nngp_ntk
from deepsci.theory.recursion import ActivationLike

MAX_ROWS = 1000  # a 1000² closed-form kernel and five Cholesky solves: well under a second on one core
RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
CLOSED_FORMS = ("relu", "erf")


@dataclass(frozen=True)
class KernelReference:
    """One kernel regressor fitted on the training rows.

    Attributes:
        kernel: "nngp" or "ntk".
        description: one line: depth, activation, (C_b, C_W), ridge and rows.
        rows: training rows the kernel was fitted on (a seeded sub-sample when the training split is larger).
        ridge: λ relative to the kernel's mean diagonal.
        pred: {split: predictions (n, t) in the scaled target units}, for "valid" and "test".
    """

    kernel: str
    description: str
    rows: int
    ridge: float
    pred: dict[str, np.ndarray]


def _subsample(n: int, cap: int, seed: int) -> Tensor:
    """Row indices: all n, or a seeded sample of `cap` of them (sorted)."""
    if n <= cap:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:cap].sort().values


def _ridge_solutions(k_train: Tensor, y: Tensor, ridges: tuple[float, ...]) -> list[Tensor]:
    """α = (K + λ s I)⁻¹ y for every λ (s = mean diagonal), one Cholesky factorisation each (N³/3 flops: five of
    them cost less than one eigendecomposition)."""
    scale = float(k_train.diagonal().mean())
    eye = torch.eye(k_train.shape[0], dtype=k_train.dtype)
    return [torch.cholesky_solve(y, torch.linalg.cholesky(k_train + (lam + 1e-12) * scale * eye)) for lam in ridges]


def kernel_references(X_train: Tensor, y_train: Tensor, X_splits: dict[str, Tensor], *, depth: int,
                      activation: ActivationLike, cb: float, cw: float, seed: int = 0,
                      y_valid: Tensor | None = None) -> tuple[KernelReference, ...]:
    """The NNGP and NTK ridge regressors of an MLP with `depth` hidden layers, fitted on (X_train, y_train).

    Args:
        X_train: (N, d) scaled training features; y_train: (N, t) or (N,) scaled targets.
        X_splits: {split: (M, d)} rows to predict ("valid" is used to choose the ridge when y_valid is given).
        activation: the network's hidden activation; cb, cw: its bias and weight variances.
        seed: seeds the sub-sample of training rows.

    Returns:
        (nngp, ntk) references, predictions (M, t) float64 in the scaled target units.
    """
    name = getattr(activation, "name", activation)
    idx = _subsample(X_train.shape[0], MAX_ROWS, seed)
    Xt = X_train.double()[idx]
    y = y_train.double()[idx].reshape(len(idx), -1)
    splits = {k: v.double() for k, v in X_splits.items()}
    k_train = nngp_ntk(Xt, depth=depth, activation=activation, cb=cb, cw=cw)
    k_cross = {s: nngp_ntk(X, Xt, depth=depth, activation=activation, cb=cb, cw=cw) for s, X in splits.items()}
    out = []
    for i, kernel in enumerate(KERNELS):
        alphas = _ridge_solutions(k_train[i], y, RIDGES)
        best = _best_ridge(alphas, k_cross.get("valid"), i, y_valid)
        lam = RIDGES[best]
        out.append(KernelReference(
            kernel=kernel, rows=len(idx), ridge=lam,
            description=(f"{_LABELS[kernel]} of the network's architecture at infinite width ({depth} hidden layers, "
                         f"{name}, C_b = {cb:.3g}, C_W = {cw:.3g}), ridge {lam:g}, fitted on {len(idx)} training rows"),
            pred={s: (k[i] @ alphas[best]).numpy() for s, k in k_cross.items()}))
    return tuple(out)


_LABELS: dict[str, str] = {"nngp": "NNGP kernel regression", "ntk": "NTK kernel regression"}


def _best_ridge(alphas: list[Tensor], k_valid: Any, which: int, y_valid: Tensor | None) -> int:
    """Index of the ridge with the lowest validation mean squared error (1e-3's index without validation)."""
    if k_valid is None or y_valid is None or len(y_valid) == 0:
        return RIDGES.index(1e-3)
    y = y_valid.double().reshape(len(y_valid), -1)
    errors = [float(((k_valid[which] @ a - y) ** 2).mean()) for a in alphas]
    finite = [e if math.isfinite(e) else math.inf for e in errors]
    return int(np.argmin(finite))
