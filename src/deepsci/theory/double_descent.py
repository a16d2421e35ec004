"""Double descent: test error against width across the interpolation threshold, with noisy labels.

A two-layer network whose first layer is random and fixed, f(x) = Σ_j a_j relu(w_j·x / √d) / √N
(random features; Rahimi & Recht 2007), with the readout a trained to convergence on n noisy labels.
Gradient descent from a = 0 converges to the minimum-norm least-squares fit, or with weight decay λ to
the ridge solution; both are computed here in closed form. As the width N grows the test error first
falls, then rises to a peak at the interpolation threshold N ≈ n (parameters = training samples),
where the fit must pass through every noisy label with a badly conditioned feature matrix, and falls
again beyond it (Belkin, Hsu, Ma & Mandal, PNAS 2019; Mei & Montanari 2019; Nakkiran et al. 2020).
Weight decay tuned to the noise removes the peak (Nakkiran, Venkat, Kakade & Ma 2021).

Data: x ~ N(0, I_d); a smooth target y* = sin(β·x) + (γ·x)² / 2 with unit-norm random β, γ, and label
noise N(0, σ²) on the training targets only; test error is the MSE against the noiseless target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _task(n: int, d: int, g: torch.Generator, beta: torch.Tensor,
          gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, torch.sin(x @ beta) + 0.5 * (x @ gamma) ** 2


def _features(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(n, N) relu(x W / √d) / √N."""
    return torch.relu(x @ w / x.shape[1] ** 0.5) / w.shape[1] ** 0.5


def readouts(phi: torch.Tensor, y: torch.Tensor, ridges: tuple[float, ...]) -> list[torch.Tensor]:
    """argmin_a ‖Φa - y‖²/n + λ‖a‖² for each λ; λ = 0: the minimum-norm solution (the limit of gradient
    descent from a = 0).

    Solved through one SVD Φ = U S Vᵀ: a = V diag(s / (s² + nλ)) Uᵀ y, with singular values below the
    round-off of float64 dropped when λ = 0.
    """
    u, s, vt = torch.linalg.svd(phi, full_matrices=False)
    uty = u.T @ y
    return [vt.T @ (_filter(s, ridge, len(y), phi) * uty) for ridge in ridges]


def _filter(s: torch.Tensor, ridge: float, n: int, phi: torch.Tensor) -> torch.Tensor:
    """The spectral filter s / (s² + nλ), or 1/s on the numerically nonzero singular values for λ = 0."""
    if ridge > 0:
        return s / (s ** 2 + n * ridge)
    keep = s > s.max() * max(phi.shape) * torch.finfo(phi.dtype).eps
    return torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))


@dataclass
class DoubleDescentResult:
    """Test MSE per width (mean and standard error over seeds) for each weight decay (keys f"{λ:g}")."""

    n_train: int
    d: int
    noise: float
    widths: list[int]
    test_error: dict[str, list[float]]
    test_error_se: dict[str, list[float]]
    train_error: dict[str, list[float]]
    seeds: int
    peak_width: dict[str, int] = field(default_factory=dict)


def double_descent_experiment(n_train: int = 200, *, d: int = 20, noise: float = 0.5, n_test: int = 1000,
                              widths: tuple[int, ...] | None = None, ridges: tuple[float, ...] = (0.0, 1e-3),
                              seeds: int = 5, seed: int = 0) -> DoubleDescentResult:
    """Random-features regression at each width, averaged over `seeds` draws of data, labels and features.

    Args:
        n_train: training samples n (the threshold is at width N = n).
        d: input dimension. noise: label-noise standard deviation σ.
        widths: numbers of random features (default: 16 log-spaced values from n/10 to 10 n).
        ridges: weight decays λ of the readout (0: minimum norm, the peak; > 0: the peak suppressed).
    """
    if widths is None:
        widths = tuple(sorted({int(round(w)) for w in np.geomspace(n_train / 10, 10 * n_train, 16)}))
    errors = {f"{r:g}": np.zeros((seeds, len(widths))) for r in ridges}
    train = {f"{r:g}": np.zeros((seeds, len(widths))) for r in ridges}
    for s in range(seeds):
        g = torch.Generator().manual_seed(seed * 1000 + s)
        beta, gamma = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
        beta, gamma = beta / beta.norm(), gamma / gamma.norm()
        x_tr, y_clean = _task(n_train, d, g, beta, gamma)
        y_tr = y_clean + noise * torch.randn(n_train, generator=g, dtype=torch.float64)
        x_te, y_te = _task(n_test, d, g, beta, gamma)
        w_all = torch.randn(d, max(widths), generator=g, dtype=torch.float64)
        for k, width in enumerate(widths):
            w = w_all[:, :width]  # nested features: a wider network adds units to a narrower one
            phi_tr, phi_te = _features(x_tr, w), _features(x_te, w)
            for r, a in zip(ridges, readouts(phi_tr, y_tr, ridges)):
                errors[f"{r:g}"][s, k] = float(((phi_te @ a - y_te) ** 2).mean())
                train[f"{r:g}"][s, k] = float(((phi_tr @ a - y_tr) ** 2).mean())
    res = DoubleDescentResult(n_train, d, noise, list(widths), {k: v.mean(0).tolist() for k, v in errors.items()},
                              {k: (v.std(0, ddof=1) / np.sqrt(seeds)).tolist() if seeds > 1 else [0.0] * len(widths)
                               for k, v in errors.items()},
                              {k: v.mean(0).tolist() for k, v in train.items()}, seeds)
    res.peak_width = {k: int(widths[int(np.argmax(v))]) for k, v in res.test_error.items()}
    return res


def double_descent_figure(res: DoubleDescentResult) -> Figure:
    """Test MSE (±2 SE) against width, one line per weight decay; the threshold N = n dotted."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for key, err in res.test_error.items():
        se = 2 * np.array(res.test_error_se[key])
        label = "no weight decay (minimum norm)" if float(key) == 0 else f"weight decay λ = {key}"
        ax.errorbar(res.widths, err, yerr=se, fmt="o-", ms=3, label=label)
    ax.axvline(res.n_train, color="gray", ls=":", label=f"N = n = {res.n_train}")
    ax.set(xscale="log", yscale="log", xlabel="width N (random features)", ylabel="test MSE",
           title=f"Double descent: n = {res.n_train}, d = {res.d}, label noise σ = {res.noise:g}")
    ax.legend(fontsize=8)
    return fig
