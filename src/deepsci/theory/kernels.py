"""Infinite-width kernels of deep MLPs (NNGP and NTK), kernel regression with them, and the
empirical NTK of a finite torch model.

Network (standard parameterisation, the one nn.Linear uses): z^(1) = W x + b,
z^(l+1) = W σ(z^(l)) + b, W ~ N(0, C_W / fan_in), b ~ N(0, C_b); `depth` hidden layers, so the
output is z^(depth+1). Its infinite-width kernels (Lee et al. 2018; Jacot et al. 2018; Roberts,
Yaida & Hanin 2022, ch. 4 and ch. 9, with learning-rate tensors λ_b = C_b, λ_W = C_W / fan_in):

    K^(1)   = C_b + C_W x·x'/n_0                       Θ^(1) = K^(1)
    K^(l+1) = C_b + C_W E[σ(z)σ(z')]                   Θ^(l+1) = K^(l+1) + C_W E[σ'(z)σ'(z')] Θ^(l)

expectations over (z, z') ~ N(0, K^(l)). NNGP = K^(depth+1), NTK = Θ^(depth+1).

Closed forms: ReLU (arc-cosine kernels, Cho & Saul 2009), with θ = arccos(K12/√(K11K22)):
E[relu relu] = √(K11K22)/(2π) (sin θ + (π-θ) cos θ), E[relu' relu'] = (π-θ)/(2π);
erf (Williams 1997): E[erf erf] = (2/π) arcsin(2K12/√((1+2K11)(1+2K22))),
E[erf' erf'] = (4/π) / √((1+2K11)(1+2K22) - 4K12²). Other activations use 2-D quadrature.

The empirical NTK weights each parameter tensor's Jacobian product by its learning-rate scale
λ_p (λ = C_W/fan_in for weights, C_b for biases): this is the NTK a standard-parameterised network
has under gradient descent with those per-layer learning rates, and it is what converges to the
analytic Θ as the width grows (the unscaled NTK of a standard-parameterised net grows like the width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.theory.activation import Activation, derivative, resolve_activation
from deepsci.theory.gaussian import gaussian_expectation, gaussian_expectation_2d
from deepsci.theory.recursion import ActivationLike

KernelName = Literal["nngp", "ntk"]
KERNELS = ("nngp", "ntk")


def _expectations(act: Activation, k11: Tensor, k12: Tensor, k22: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """E[σ(z1)σ(z2)] and E[σ'(z1)σ'(z2)] with k11 (N1,1), k22 (1,N2), k12 (N1,N2)."""
    if act.name == "relu":
        norm = (k11 * k22).sqrt()
        theta = torch.arccos((k12 / norm).clamp(-1.0, 1.0))
        return (norm / (2 * math.pi) * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)),
                (math.pi - theta) / (2 * math.pi))
    if act.name == "erf":
        a, b = 1 + 2 * k11, 1 + 2 * k22
        return (2 / math.pi) * torch.arcsin(2 * k12 / (a * b).sqrt()), (4 / math.pi) / (a * b - 4 * k12**2).sqrt()
    k11, k22 = k11.expand(k12.shape), k22.expand(k12.shape)
    e, ed = (gaussian_expectation_2d(f, None, k11, k12, k22, order=order, breakpoints=act.breakpoints)
             for f in (act.fn, derivative(act.fn)))
    return e, ed


def _diag_expectations(act: Activation, k: Tensor, order: int) -> Tensor:
    if act.name == "relu":
        return k / 2
    if act.name == "erf":
        return (2 / math.pi) * torch.arcsin(2 * k / (1 + 2 * k))
    return gaussian_expectation(lambda z: act(z) ** 2, k, order=64, breakpoints=act.breakpoints)


def nngp_ntk(X1: Tensor, X2: Tensor | None = None, *, depth: int = 2, activation: ActivationLike = "relu",
             cb: float = 0.0, cw: float = 2.0, order: int = 20) -> tuple[Tensor, Tensor]:
    """NNGP K and NTK Θ between inputs X1 (N1, d) and X2 (N2, d) of an MLP with `depth` hidden layers.

    Args:
        depth: number of hidden layers (≥ 0; 0 is a linear model).
        activation: name (closed forms for "relu" and "erf"), or a function (quadrature).
        cb, cw: bias and weight variances.
        order: quadrature nodes per piece for activations without a closed form.

    Returns:
        (K, Θ), each (N1, N2) float64.
    """
    act = resolve_activation(activation)
    if depth < 0:
        raise ConfigError(f"depth must be >= 0 hidden layers; received {depth}.")
    X1 = X1.double().reshape(X1.shape[0], -1)
    X2 = X1 if X2 is None else X2.double().reshape(X2.shape[0], -1)
    if X1.shape[1] != X2.shape[1]:
        raise DataError(f"X1 has {X1.shape[1]} features and X2 has {X2.shape[1]}; they must match.")
    n0 = X1.shape[1]
    k12 = cb + cw * X1 @ X2.T / n0  # (N1, N2)
    k11 = (cb + cw * (X1 * X1).sum(1) / n0)[:, None]  # (N1, 1)
    k22 = (cb + cw * (X2 * X2).sum(1) / n0)[None, :]  # (1, N2)
    theta = k12.clone()
    for _ in range(depth):
        e, ed = _expectations(act, k11, k12, k22, order)
        k12_next = cb + cw * e
        theta = k12_next + cw * ed * theta
        k12 = k12_next
        k11 = cb + cw * _diag_expectations(act, k11, order)
        k22 = cb + cw * _diag_expectations(act, k22, order)
    return k12, theta


def kernel_matrix(
    X1: Tensor, X2: Tensor | None = None, *, kernel: KernelName = "ntk", depth: int = 2,
    activation: ActivationLike = "relu", cb: float = 0.0, cw: float = 2.0,
) -> Tensor:
    """The NNGP or NTK matrix (N1, N2); see `nngp_ntk`."""
    if kernel not in KERNELS:
        raise ConfigError(unknown_name("kernel", kernel, KERNELS))
    k, theta = nngp_ntk(X1, X2, depth=depth, activation=activation, cb=cb, cw=cw)
    return k if kernel == "nngp" else theta


def kernel_regression(X_train: Tensor, y_train: Tensor, X_test: Tensor, kernel: KernelName = "ntk", depth: int = 2,
                      activation: ActivationLike = "relu", cb: float = 0.0, cw: float = 2.0,
                      ridge: float = 1e-3) -> Tensor:
    """Kernel ridge regression with an infinite-width kernel: ŷ = K(X_test, X) (K(X, X) + λ I)⁻¹ y.

    With kernel "ntk" and λ → 0 this is the mean prediction of an infinitely wide network trained
    to convergence by gradient flow on squared loss from zero output; with "nngp" it is the
    posterior mean of the network's Gaussian-process prior (Lee et al. 2018, 2019).

    Args:
        X_train: (N, d). y_train: (N,) or (N, t). X_test: (M, d).
        ridge: λ, relative to the mean diagonal of K(X, X) (so it does not depend on C_W or depth).

    Returns:
        (M,) or (M, t) float64 predictions.
    """
    if X_train.shape[0] != y_train.shape[0]:
        raise DataError(f"X_train has {X_train.shape[0]} rows but y_train has {y_train.shape[0]}; they must match.")
    if ridge < 0:
        raise ConfigError(f"ridge must be >= 0; received {ridge}.")
    kxx, kzx = (kernel_matrix(a, b, kernel=kernel, depth=depth, activation=activation, cb=cb, cw=cw)
                for a, b in ((X_train, None), (X_test, X_train)))
    scale = kxx.diagonal().mean()
    a = kxx + (ridge * scale + 1e-12 * scale) * torch.eye(kxx.shape[0], dtype=kxx.dtype)
    y = y_train.double()
    chol = torch.linalg.cholesky(a)
    alpha = torch.cholesky_solve(y[:, None] if y.dim() == 1 else y, chol)
    pred = kzx @ alpha
    return pred[:, 0] if y.dim() == 1 else pred


def ntk_scales(model: nn.Module, cb: float, cw: float) -> dict[str, float]:
    """Learning-rate scales λ_p making a standard-parameterised MLP's empirical NTK match Θ above.

    λ = C_W / fan_in for every nn.Linear weight and λ = C_b for its bias (Roberts, Yaida & Hanin
    2022, §7.2 and ch. 8: λ_W^(l) = λ_W / n_(l-1)). Parameters of other modules get 1.
    """
    scales: dict[str, float] = {}
    for mod_name, mod in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        if isinstance(mod, nn.Linear):
            scales[prefix + "weight"] = cw / mod.in_features
            if mod.bias is not None:
                scales[prefix + "bias"] = cb
    return scales


def empirical_ntk(model: nn.Module, X1: Tensor, X2: Tensor | None = None, *, scales: Mapping[str, float] | None = None,
                  chunk: int = 16) -> Tensor:
    """Empirical NTK Θ_ab = (1/O) Σ_o Σ_p λ_p ∂f_o(x_a)/∂θ_p · ∂f_o(x_b)/∂θ_p of a torch model.

    Jacobians come from `torch.func.jacrev` vmapped over inputs, one parameter tensor at a time (so
    the memory is that of the largest layer's Jacobian, not of all of them).

    Args:
        model: maps (batch, d) to (batch, O).
        X1: (N1, d). X2: (N2, d) or None for X1.
        scales: λ_p per parameter name (default 1 for all; see `ntk_scales`).
        chunk: inputs per vmapped Jacobian.

    Returns:
        (N1, N2) tensor in the model's dtype, on the model's device; the output-averaged same-output kernel.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    device = next(iter(params.values())).device if params else X1.device
    same = X2 is None
    X1 = X1.to(device)  # the inputs go to the model (a GPU's model, a host's inputs)
    X2 = X1 if X2 is None else X2.to(device)

    def jac(name: str, X: Tensor) -> Tensor:
        def f(p: Tensor, x: Tensor) -> Tensor:
            return functional_call(model, {**params, name: p}, (x[None],))[0]  # (O,)

        j = torch.cat([vmap(jacrev(f), in_dims=(None, 0))(params[name], X[i : i + chunk])
                       for i in range(0, X.shape[0], chunk)])  # (N, O, *shape)
        return j.reshape(j.shape[0], j.shape[1], -1)

    out: Tensor | None = None
    for name in params:
        lam = 1.0 if scales is None else float(scales.get(name, 1.0))
        if lam == 0.0:
            continue
        j1 = jac(name, X1)
        j2 = j1 if same else jac(name, X2)
        term = lam * torch.einsum("aop,bop->ab", j1, j2) / j1.shape[1]
        out = term if out is None else out + term
        del j1, j2
    if out is None:
        return torch.zeros(X1.shape[0], X2.shape[0], device=device)
    return out
