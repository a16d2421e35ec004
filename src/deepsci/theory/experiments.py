"""The "must show" experiments of the theory: each returns a dataclass of numbers and a figure.

- `propagation_experiment`: predicted vs measured per-layer variance, correlation, gradient norms.
- `gradient_experiment`: gradient norms across depth for several C_W (critical vs not).
- `trainability_experiment`: a very deep tanh MLP trained on sklearn digits with plain SGD, per C_W.
- `kurtosis_experiment`: normalised four-point vertex (excess kurtosis / 3) vs L/n, fitted slope vs ν.
- `ntk_convergence_experiment`: relative Frobenius distance of the empirical NTK to the analytic one.

Figures are `matplotlib.figure.Figure` (no pyplot, no windows). References: Roberts, Yaida & Hanin
(2022), chapters 4–5 (recursions, criticality, four-point vertex) and 9–10 (NTK).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from deepsci.theory.criticality import critical
from deepsci.theory.kernels import empirical_ntk, nngp_ntk, ntk_scales
from deepsci.theory.probes import probe_mlp
from deepsci.theory.recursion import chi_perp, propagate_pair, propagate_variance, vertex_recursion

# Book values of ν in V/(nK²) ≈ ν L/n at criticality (§5.4: ReLU exactly 5(L-1)/n; tanh 2/3 at large L).
NU = {"relu": 5.0, "tanh": 2.0 / 3.0}


def _inputs(n0: int, seed: int) -> Tensor:
    """Two unit-variance-per-feature inputs with correlation 0.5 (deterministic)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, n0, generator=g, dtype=torch.float64)
    x0 = a
    x1 = 0.5 * a + (0.75**0.5) * b
    return torch.stack([x0 / x0.pow(2).mean().sqrt(), x1 / x1.pow(2).mean().sqrt()])


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
    axes[0].errorbar(layers, res.measured_variance, yerr=2 * np.array(res.variance_se), fmt="o", ms=3, label="measured ±2 SE")
    axes[0].set(xlabel="layer l", ylabel="E[z²]", title="preactivation variance")
    axes[1].plot(layers, res.predicted_correlation, "-", label="recursion")
    axes[1].plot(layers, res.measured_correlation, "o", ms=3, label="measured")
    axes[1].set(xlabel="layer l", ylabel="ρ", title="input–input correlation")
    axes[2].semilogy(layers, res.predicted_grad_norm, "-", label="∏ χ⊥")
    axes[2].semilogy(layers, res.measured_grad_norm, "o", ms=3, label="measured (RMS)")
    axes[2].set(xlabel="layer l", ylabel="‖∂f/∂z^(l)‖", title="gradient norm")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(f"{res.activation}, width {res.width}, C_b={res.cb:g}, C_W={res.cw:g}, {res.n_inits} inits")
    fig.tight_layout()
    return fig


@dataclass
class GradientResult:
    """Gradient norms per layer for each C_W; spread = max/min over layers.

    `grad_norm` is ‖∂f/∂W^(l)‖ (what SGD updates; at criticality the shrinking forward signal and the
    growing backward signal cancel, ch. 9), `preact_grad_norm` is ‖∂f/∂z^(l)‖ (∝ √∏χ⊥).
    """

    activation: str
    depth: int
    width: int
    grad_norm: dict[str, list[float]]
    spread: dict[str, float]
    preact_grad_norm: dict[str, list[float]] = field(default_factory=dict)
    preact_spread: dict[str, float] = field(default_factory=dict)


def gradient_experiment(
    activation: str = "tanh", depth: int = 100, width: int = 256, cws: tuple[float, ...] = (0.5, 1.0, 2.0), *,
    cb: float = 0.0, n_inits: int = 8, n0: int = 64, seed: int = 0,
) -> GradientResult:
    """RMS ‖∂f/∂z^(l)‖ over initialisations, per layer, for each C_W (C_b fixed)."""
    X = _inputs(n0, seed).float()
    norms: dict[str, list[float]] = {}
    spread: dict[str, float] = {}
    pnorms: dict[str, list[float]] = {}
    pspread: dict[str, float] = {}
    for cw in cws:
        r = probe_mlp([n0] + [width] * depth, activation, X, cb=cb, cw=cw, n_inits=n_inits, seed=seed, chunk=4)
        g, p = r.weight_grad_norm, r.grad_norm
        norms[f"{cw:g}"], spread[f"{cw:g}"] = g.tolist(), float(g.max() / g.min())
        pnorms[f"{cw:g}"], pspread[f"{cw:g}"] = p.tolist(), float(p.max() / p.min())
    return GradientResult(activation, depth, width, norms, spread, pnorms, pspread)


def gradient_figure(res: GradientResult) -> Figure:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for cw, g in res.grad_norm.items():
        ax.semilogy(np.arange(1, len(g) + 1), g, label=f"C_W = {cw} (max/min {res.spread[cw]:.3g})")
    ax.set(xlabel="layer l", ylabel="‖∂f/∂W^(l)‖ (RMS over inits)",
           title=f"{res.activation}, depth {res.depth}, width {res.width}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@dataclass
class TrainabilityResult:
    """Training curves (per epoch) and final test accuracy per C_W."""

    depth: int
    width: int
    epochs: int
    lr: float
    train_loss: dict[str, list[float]]
    test_accuracy: dict[str, float]


def trainability_experiment(
    depth: int = 100, width: int = 128, cws: tuple[float, ...] = (0.5, 1.0, 2.0), *, activation: str = "tanh",
    cb: float = 0.0, epochs: int = 4, lr: float = 0.05, batch_size: int = 32, seed: int = 0,
) -> TrainabilityResult:
    """Train a depth-`depth` MLP on sklearn digits with plain SGD from a Gaussian init per C_W.

    Inputs standardised (train statistics), 75/25 split, cross-entropy, constant learning rate.
    Chance accuracy is 0.1.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data.target), generator=g)
    X = torch.tensor(data.data, dtype=torch.float32)[perm]
    y = torch.tensor(data.target, dtype=torch.int64)[perm]
    n_train = int(0.75 * len(y))
    mu, sd = X[:n_train].mean(0), X[:n_train].std(0).clamp_min(1e-3)
    X = (X - mu) / sd
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
    losses: dict[str, list[float]] = {}
    accs: dict[str, float] = {}
    for cw in cws:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        widths = [64] + [width] * depth + [10]
        for i in range(len(widths) - 1):
            lin = nn.Linear(widths[i], widths[i + 1])
            with torch.no_grad():
                lin.weight.normal_(0.0, (cw / widths[i]) ** 0.5, generator=gen)
                lin.bias.normal_(0.0, cb**0.5, generator=gen) if cb > 0 else lin.bias.zero_()
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(acts[activation]())
        net = nn.Sequential(*layers)
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        curve = []
        for _ in range(epochs):
            order = torch.randperm(n_train, generator=gen)
            total, count = 0.0, 0
            for i in range(0, n_train, batch_size):
                idx = order[i : i + batch_size]
                loss = nn.functional.cross_entropy(net(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            curve.append(total / count)
        with torch.no_grad():
            acc = float((net(X[n_train:]).argmax(1) == y[n_train:]).float().mean())
        losses[f"{cw:g}"] = curve
        accs[f"{cw:g}"] = acc
    return TrainabilityResult(depth, width, epochs, lr, losses, accs)


def trainability_figure(res: TrainabilityResult) -> Figure:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for cw, curve in res.train_loss.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, "o-", label=f"C_W = {cw}: test acc {res.test_accuracy[cw]:.2f}")
    ax.axhline(np.log(10), color="gray", ls=":", label="chance (ln 10)")
    ax.set(xlabel="epoch", ylabel="train cross-entropy", title=f"digits, tanh depth {res.depth}, width {res.width}, SGD lr {res.lr:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


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
                          float(slope), float(np.std(boots)), float(intercept), pslope, NU.get(activation, float("nan")),
                          n_inits)


def kurtosis_figure(results: list[KurtosisResult]) -> Figure:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for res in results:
        x = np.array(res.l_over_n)
        line = ax.errorbar(x, res.vertex, yerr=2 * np.array(res.vertex_se), fmt="o", ms=4,
                           label=f"{res.activation} n={res.width}: slope {res.slope:.3g}±{res.slope_se:.2g} (ν={res.nu:.3g})")
        ax.plot(x, res.intercept + res.slope * x, "-", color=line[0].get_color())
        ax.plot(x, res.predicted, "x", color=line[0].get_color())
    ax.set(xlabel="L / n", ylabel="κ/3 = V/(nK²)", title="normalised four-point vertex (x: 1/n recursion)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


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
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
