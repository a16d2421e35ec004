"""The "must show" experiments of the theory: each returns a dataclass of numbers and a figure.

- `propagation_experiment`: predicted vs measured per-layer variance, correlation, gradient norms.
- `gradient_experiment`: weight-gradient and backprop-signal norms across depth for several C_W.
- `trainability_experiment`: a very deep tanh MLP (deepsci's MLP and Trainer) trained on sklearn digits, per C_W.
- `kurtosis_experiment`: normalised four-point vertex (excess kurtosis / 3) vs L/n, fitted slope vs ν.
- `ntk_convergence_experiment`: relative Frobenius distance of the empirical NTK to the analytic one.

Full-size runs of all of them: benchmarks/theory_experiments.py (numbers in docs/theory.md).

Figures are `matplotlib.figure.Figure` (no pyplot, no windows). References: Roberts, Yaida & Hanin
(2022), chapters 4–5 (recursions, criticality, four-point vertex) and 9–10 (NTK).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from deepsci.errors import TrainingError
from deepsci.models.mlp import MLP
from deepsci.theory.criticality import critical
from deepsci.theory.kernels import empirical_ntk, nngp_ntk, ntk_scales
from deepsci.theory.probes import probe_mlp
from deepsci.theory.recursion import chi_perp, propagate_pair, propagate_variance, vertex_recursion
from deepsci.training import Callback, Trainer

# Book values of ν in V/(nK²) ≈ ν L/n at criticality (§5.4: ReLU exactly 5(L-1)/n; tanh 2/3 at large L).
NU = {"relu": 5.0, "tanh": 2.0 / 3.0}


def _inputs(n0: int, seed: int) -> Tensor:
    """Two unit-variance-per-feature inputs with correlation 0.5 (deterministic)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, n0, generator=g, dtype=torch.float64)
    x0 = a
    x1 = 0.5 * a + (0.75**0.5) * b
    return torch.stack([x0 / x0.pow(2).mean().sqrt(), x1 / x1.pow(2).mean().sqrt()])


def _finish(fig: Figure, axes: Any, title: str | None = None) -> Figure:
    """Small legends on every panel, an optional suptitle, a tight layout: how every figure here ends."""
    for ax in axes:
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _default_point(activation: str, cb: float | None, cw: float | None) -> tuple[float, float]:
    if cb is not None and cw is not None:
        return cb, cw
    p = critical(activation)
    return (p.cb if cb is None else cb), (p.cw if cw is None else cw)


@dataclass
class PropagationResult:
    """Per-layer predicted vs measured statistics (arrays indexed by layer l = 1..depth)."""

    activation: str
    cb: float
    cw: float
    width: int
    depth: int
    n_inits: int
    predicted_variance: list[float]
    measured_variance: list[float]
    variance_se: list[float]
    max_relative_error: float
    predicted_correlation: list[float]
    measured_correlation: list[float]
    predicted_grad_norm: list[float]
    measured_grad_norm: list[float]


def propagation_experiment(
    activation: str = "tanh", depth: int = 20, width: int = 512, *, cb: float | None = None, cw: float | None = None,
    n_inits: int = 50, n0: int = 64, seed: int = 0,
) -> PropagationResult:
    """Measured (over `n_inits` initialisations) vs recursion-predicted variance, correlation, gradients.

    Two inputs of n0 features (per-feature variance 1, correlation 0.5); (cb, cw) default to critical.
    Predicted gradient norm: E‖δ^(l)‖² = ∏_{k=l}^{L-1} χ⊥(K^(k)) E‖δ^(L)‖², ‖δ^(L)‖ = 1.
    """
    cb, cw = _default_point(activation, cb, cw)
    X = _inputs(n0, seed)
    r = probe_mlp([n0] + [width] * depth, activation, X.float(), cb=cb, cw=cw, n_inits=n_inits, seed=seed)
    k1 = cb + cw * float(X[0].pow(2).mean())
    k11, k12, k22 = (cb + cw * float(X[i] @ X[j]) / n0 for i, j in ((0, 0), (0, 1), (1, 1)))
    pred = propagate_variance(k1, depth, activation, cb, cw)
    pair = propagate_pair(k11, k12, k22, depth, activation, cb, cw, order=32)
    chis = chi_perp(pred, activation, cw)  # (depth,)
    g2 = torch.ones(depth, dtype=torch.float64)
    for layer in range(depth - 2, -1, -1):
        g2[layer] = g2[layer + 1] * chis[layer]
    meas = r.variance[:, 0]
    return PropagationResult(
        activation, cb, cw, width, depth, n_inits,
        pred.tolist(), meas.tolist(), r.variance_se[:, 0].tolist(), float((meas / pred - 1).abs().max()),
        pair.rho.tolist(), r.correlation.tolist(), g2.sqrt().tolist(), r.grad_norm.tolist(),
    )


def propagation_figure(res: PropagationResult) -> Figure:
    """Three panels: variance, correlation and gradient norm per layer, predicted (line) vs measured."""
    fig = Figure(figsize=(11, 3.4))
    layers = np.arange(1, res.depth + 1)
    axes = fig.subplots(1, 3)
    axes[0].plot(layers, res.predicted_variance, "-", label="recursion")
    axes[0].errorbar(layers, res.measured_variance, yerr=2 * np.array(res.variance_se), fmt="o", ms=3,
                     label="measured ±2 SE")
    axes[0].set(xlabel="layer l", ylabel="E[z²]", title="preactivation variance")
    axes[1].plot(layers, res.predicted_correlation, "-", label="recursion")
    axes[1].plot(layers, res.measured_correlation, "o", ms=3, label="measured")
    axes[1].set(xlabel="layer l", ylabel="ρ", title="input–input correlation")
    axes[2].semilogy(layers, res.predicted_grad_norm, "-", label="∏ χ⊥")
    axes[2].semilogy(layers, res.measured_grad_norm, "o", ms=3, label="measured (RMS)")
    axes[2].set(xlabel="layer l", ylabel="‖∂f/∂z^(l)‖", title="gradient norm")
    return _finish(fig, axes,
                   f"{res.activation}, width {res.width}, C_b={res.cb:g}, C_W={res.cw:g}, {res.n_inits} inits")


@dataclass
class GradientResult:
    """Gradient norms per layer l = 1..depth for each C_W (keys f"{C_W:g}"); spread = max/min over layers.

    `grad_norm` is ‖∂f/∂W^(l)‖ (what SGD updates; at criticality the shrinking forward signal and the
    growing backward signal cancel, ch. 9), `preact_grad_norm` is the backprop signal ‖∂f/∂z^(l)‖
    (E‖δ^(l)‖² = ∏_{k≥l} χ⊥(K^(k))). `median_grad_norm` says how large the weight gradients are overall
    (a flat but tiny profile, as at C_W = 0.5, still means nothing trains). Inputs are scaled so that
    K^(1) = `k1` for every C_W.
    """

    activation: str
    depth: int
    width: int
    k1: float
    n_inits: int
    grad_norm: dict[str, list[float]]
    spread: dict[str, float]
    preact_grad_norm: dict[str, list[float]] = field(default_factory=dict)
    preact_spread: dict[str, float] = field(default_factory=dict)
    median_grad_norm: dict[str, float] = field(default_factory=dict)


def gradient_experiment(
    activation: str = "tanh", depth: int = 100, width: int = 256, cws: tuple[float, ...] = (0.5, 1.0, 2.0), *,
    cb: float = 0.0, k1: float = 1.0, n_inits: int = 8, n0: int = 64, seed: int = 0,
) -> GradientResult:
    """RMS over initialisations of ‖∂f/∂W^(l)‖ and ‖∂f/∂z^(l)‖ per layer, for each C_W (C_b fixed).

    f = u·z^(L) for a fixed unit vector u. The input (mean x_i² = 1) is rescaled by √((k1 - C_b)/C_W) so
    the first layer's variance K^(1) = C_b + C_W mean(x²) equals `k1` in every setting: differences
    between settings then come from the depth recursion only.
    """
    if k1 <= cb:
        raise ValueError(f"k1 must exceed cb so inputs can be scaled to K^(1) = k1; received k1={k1}, cb={cb}.")
    X0 = _inputs(n0, seed)
    res = GradientResult(activation, depth, width, k1, n_inits, {}, {})
    for cw in cws:
        X = (X0 * ((k1 - cb) / cw) ** 0.5).float()
        r = probe_mlp([n0] + [width] * depth, activation, X, cb=cb, cw=cw, n_inits=n_inits, seed=seed, chunk=4)
        g, p = r.weight_grad_norm, r.grad_norm
        key = f"{cw:g}"
        res.grad_norm[key], res.spread[key] = g.tolist(), float(g.max() / g.min())
        res.preact_grad_norm[key], res.preact_spread[key] = p.tolist(), float(p.max() / p.min())
        res.median_grad_norm[key] = float(g.median())
    return res


def gradient_figure(res: GradientResult) -> Figure:
    """Two panels: weight-gradient norms and backprop-signal norms per layer, one line per C_W."""
    fig = Figure(figsize=(10, 3.8))
    ax_w, ax_z = fig.subplots(1, 2)
    for cw, g in res.grad_norm.items():
        layers = np.arange(1, len(g) + 1)
        line = ax_w.semilogy(layers, g, label=f"C_W = {cw} (max/min {res.spread[cw]:.3g})")
        ax_z.semilogy(layers, res.preact_grad_norm[cw], color=line[0].get_color(),
                      label=f"C_W = {cw} (max/min {res.preact_spread[cw]:.3g})")
    ax_w.set(xlabel="layer l", ylabel="‖∂f/∂W^(l)‖ (RMS over inits)", title="weight gradients")
    ax_z.set(xlabel="layer l", ylabel="‖∂f/∂z^(l)‖ (RMS over inits)", title="backprop signal")
    return _finish(fig, (ax_w, ax_z),
                   f"{res.activation}, depth {res.depth}, width {res.width}, K^(1) = {res.k1:g}, {res.n_inits} inits")


@dataclass
class TrainabilityResult:
    """Per-epoch curves and final test accuracy per C_W (keys are f"{C_W:g}").

    `test_accuracy_curve[cw][e]` is the test accuracy after epoch e+1 (monitored only: no early stopping
    or model selection uses it). `failed[cw]` holds the TrainingError message when a run diverged.
    """

    activation: str
    depth: int
    width: int
    epochs: int
    optimizer: str
    lr: float
    batch_size: int
    train_loss: dict[str, list[float]]
    test_loss: dict[str, list[float]]
    test_accuracy_curve: dict[str, list[float]]
    test_accuracy: dict[str, float]
    seconds: dict[str, float]
    threads: int
    failed: dict[str, str] = field(default_factory=dict)


def _digits(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """sklearn digits, 75/25 split (seeded), features standardised with train statistics.

    Standardised inputs have mean x_i² ≈ 1 over features, so K^(1) = C_b + C_W·O(1) as in the theory.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data.target), generator=g)
    X = torch.tensor(data.data, dtype=torch.float32)[perm]
    y = torch.tensor(data.target, dtype=torch.int64)[perm]
    n_train = int(0.75 * len(y))
    mu, sd = X[:n_train].mean(0), X[:n_train].std(0)
    X = (X - mu) / torch.where(sd > 1e-6, sd, torch.ones_like(sd))  # constant pixels stay 0
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def trainability_experiment(
    depth: int = 100, width: int = 128, cws: tuple[float, ...] = (0.5, 1.0, 2.0), *, activation: str = "tanh",
    cb: float = 0.0, epochs: int = 15, optimizer: str = "sgd", lr: float = 0.01, batch_size: int = 32,
    seed: int = 0, threads: int | None = 1,
) -> TrainabilityResult:
    """Train a depth-`depth` MLP on sklearn digits from a Gaussian init per C_W, with the real Trainer.

    Each network is `deepsci.models.mlp.MLP(64, 10, hidden=(width,)*depth, init="gaussian", cb, cw)`
    trained by `deepsci.training.Trainer` (cross-entropy, constant learning rate, same seed, same batches).
    Test accuracy is recorded after every epoch by a callback. Chance accuracy is 0.1. A run whose loss
    becomes non-finite is recorded as failed (accuracy of its last finite epoch, or 0.1).

    Args:
        threads: torch intra-op threads while training (restored afterwards); 1 is faster for these
            small matmuls on a loaded 2-core machine (measured in docs/theory.md). None: leave as is.
    """
    X_tr, y_tr, X_te, y_te = _digits(seed)

    class _TestAccuracy(Callback):
        def __init__(self) -> None:
            self.acc: list[float] = []
            self.loss: list[float] = []

        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:  # type: ignore[override]
            trainer.model.eval()
            with torch.no_grad():
                out = trainer.model(X_te)
            trainer.model.train()
            self.acc.append(float((out.argmax(1) == y_te).float().mean()))
            self.loss.append(float(nn.functional.cross_entropy(out, y_te)))

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    res = TrainabilityResult(activation, depth, width, epochs, optimizer, lr, batch_size, {}, {}, {}, {}, {},
                             torch.get_num_threads())
    try:
        for cw in cws:
            key = f"{cw:g}"
            model = MLP(64, 10, hidden=(width,) * depth, activation=activation, init="gaussian", cw=cw, cb=cb,
                        seed=seed)
            monitor = _TestAccuracy()
            trainer = Trainer(model, loss=nn.functional.cross_entropy, optimizer=optimizer, lr=lr, momentum=0.0,
                              batch_size=batch_size, epochs=epochs, callbacks=[monitor], seed=seed)
            t0 = time.perf_counter()
            try:
                trainer.fit(X_tr, y_tr)
            except TrainingError as err:
                res.failed[key] = str(err)
            res.seconds[key] = time.perf_counter() - t0
            res.train_loss[key] = [float(h["train_loss"]) for h in trainer.history_]
            res.test_loss[key] = monitor.loss
            res.test_accuracy_curve[key] = monitor.acc
            res.test_accuracy[key] = monitor.acc[-1] if monitor.acc else 0.1
    finally:
        torch.set_num_threads(old_threads)
    return res


def trainability_figure(res: TrainabilityResult) -> Figure:
    """Two panels per epoch: train cross-entropy and test accuracy, one line per C_W."""
    fig = Figure(figsize=(10, 3.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for cw, curve in res.train_loss.items():
        epochs = np.arange(1, len(curve) + 1)
        diverged = " (diverged)" if cw in res.failed else ""
        line = ax_loss.semilogy(epochs, curve, "o-", ms=3, label=f"C_W = {cw}{diverged}")
        acc = res.test_accuracy_curve[cw]
        ax_acc.plot(np.arange(1, len(acc) + 1), acc, "o-", ms=3, color=line[0].get_color(),
                    label=f"C_W = {cw}: final {res.test_accuracy[cw]:.3f}")
    ax_loss.axhline(np.log(10), color="gray", ls=":", label="chance (ln 10)")
    ax_acc.axhline(0.1, color="gray", ls=":", label="chance (0.1)")
    ax_loss.set(xlabel="epoch", ylabel="train cross-entropy", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title="test accuracy")
    return _finish(fig, (ax_loss, ax_acc), f"digits, {res.activation} MLP depth {res.depth}, width {res.width}, "
                   f"C_b = 0, {res.optimizer} lr {res.lr:g}, batch {res.batch_size}")


@dataclass
class KurtosisResult:
    """Normalised four-point vertex (excess kurtosis / 3) of z^(L) vs L/n and its linear fit.

    `predicted` is the leading-order recursion V^(L)/(n K²) (eq. 4.90); `nu` is the book's asymptotic
    slope; `slope`/`slope_se` are from a least-squares line (with intercept) through the measured points,
    with the SE from refitting on bootstrap draws of each point within its standard error.
    """

    activation: str
    width: int
    depths: list[int]
    l_over_n: list[float]
    vertex: list[float]
    vertex_se: list[float]
    predicted: list[float]
    slope: float
    slope_se: float
    intercept: float
    predicted_slope: float
    nu: float
    n_inits: int


def kurtosis_experiment(
    activation: str = "tanh", width: int = 256, depths: tuple[int, ...] = (8, 16, 24, 32, 40), *,
    n_inits: int = 1000, n0: int = 64, seed: int = 0, chunk: int = 50,
) -> KurtosisResult:
    """Excess kurtosis of output preactivations at criticality, as a function of L/n (fixed width).

    One network of the largest depth is run per initialisation; its layer-L preactivation has the same
    distribution as the output of a depth-L network, so every depth is read off the same run.
    Normalisation: vertex = κ/3 = V^(L)/(n (K^(L))²), the book's normalised four-point vertex
    (Roberts, Yaida & Hanin 2022, §4.3 and §5.4), predicted ≈ ν L/n with ν = 5 (ReLU), 2/3 (tanh).
    """
    cb, cw = _default_point(activation, None, None)
    X = _inputs(n0, seed)[:1]
    L = max(depths)
    r = probe_mlp([n0] + [width] * L, activation, X.float(), cb=cb, cw=cw, n_inits=n_inits, seed=seed,
                  chunk=chunk, gradients=False)
    k1 = cb + cw * float(X[0].pow(2).mean())
    _, v_ratio = vertex_recursion(k1, L, activation, cb, cw)
    idx = [d - 1 for d in depths]
    x = np.array(depths, dtype=float) / width
    vertex = (r.kurtosis[idx] / 3).numpy()
    se = (r.kurtosis_se[idx] / 3).numpy()
    pred = (v_ratio[idx] / width).numpy()
    slope, intercept = np.polyfit(x, vertex, 1)
    rng = np.random.default_rng(seed)
    boots = [np.polyfit(x, vertex + rng.normal(0, se), 1)[0] for _ in range(500)]
    pslope = float(np.polyfit(x, pred, 1)[0])
    return KurtosisResult(activation, width, list(depths), x.tolist(), vertex.tolist(), se.tolist(), pred.tolist(),
                          float(slope), float(np.std(boots)), float(intercept), pslope,
                          NU.get(activation, float("nan")), n_inits)


def kurtosis_figure(results: list[KurtosisResult]) -> Figure:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for res in results:
        x = np.array(res.l_over_n)
        label = f"{res.activation} n={res.width}: slope {res.slope:.3g}±{res.slope_se:.2g} (ν={res.nu:.3g})"
        line = ax.errorbar(x, res.vertex, yerr=2 * np.array(res.vertex_se), fmt="o", ms=4, label=label)
        ax.plot(x, res.intercept + res.slope * x, "-", color=line[0].get_color())
        ax.plot(x, res.predicted, "x", color=line[0].get_color())
    ax.set(xlabel="L / n", ylabel="κ/3 = V/(nK²)", title="normalised four-point vertex (x: 1/n recursion)")
    return _finish(fig, [ax])


@dataclass
class NTKConvergenceResult:
    """Relative Frobenius distance ‖Θ_emp - Θ‖/‖Θ‖ per width (mean and per-seed values)."""

    activation: str
    depth: int
    widths: list[int]
    distance: list[float]
    distance_per_seed: list[list[float]] = field(default_factory=list)


def ntk_convergence_experiment(
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096), *, depth: int = 2, n_points: int = 10,
    n_seeds: int = 3, cb: float = 0.0, cw: float = 2.0, n0: int = 16, seed: int = 0,
) -> NTKConvergenceResult:
    """Empirical NTK (torch.func, learning-rate scales of `ntk_scales`) of ReLU MLPs vs the analytic NTK."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_points, n0, generator=g)
    _, theta = nngp_ntk(X, depth=depth, activation="relu", cb=cb, cw=cw)
    per_width = []
    for n in widths:
        ds = []
        for s in range(n_seeds):
            gen = torch.Generator().manual_seed(seed * 1000 + s)
            dims = [n0] + [n] * depth + [1]
            mods: list[nn.Module] = []
            for i in range(len(dims) - 1):
                lin = nn.Linear(dims[i], dims[i + 1])
                with torch.no_grad():
                    lin.weight.normal_(0.0, (cw / dims[i]) ** 0.5, generator=gen)
                    lin.bias.normal_(0.0, cb**0.5, generator=gen) if cb > 0 else lin.bias.zero_()
                mods += [lin, nn.ReLU()] if i < len(dims) - 2 else [lin]
            net = nn.Sequential(*mods)
            emp = empirical_ntk(net, X, scales=ntk_scales(net, cb, cw)).double()
            ds.append(float((emp - theta).norm() / theta.norm()))
        per_width.append(ds)
    return NTKConvergenceResult("relu", depth, list(widths), [float(np.mean(d)) for d in per_width], per_width)


def ntk_figure(res: NTKConvergenceResult) -> Figure:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    w = np.array(res.widths, dtype=float)
    ax.loglog(w, res.distance, "o-", label="mean over seeds")
    ax.loglog(w, res.distance[0] * (w / w[0]) ** -0.5, ":", color="gray", label="∝ n^-1/2")
    ax.set(xlabel="width n", ylabel="‖Θ_emp − Θ‖_F / ‖Θ‖_F", title=f"ReLU MLP, {res.depth} hidden layers")
    return _finish(fig, [ax])
