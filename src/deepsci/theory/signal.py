"""Signal propagation in a built network at initialisation: the Gaussian recursions against one forward and
backward pass of the network itself on a batch of its training rows.

At infinite width each weight layer's preactivations are Gaussian, and their second moment follows the kernel
recursion of `deepsci.theory.recursion`, layer by layer, with each layer's own (C_b, C_W):

    dense         K_out = C_b + C_W · mean_j E[h_j²]                      (fan-in mean of the input's moments)
    convolution   K_out(p) = C_b + C_W · (1/|window|) Σ_{t in window} E[h(p+t)²]   (zero padding counts as 0)
    activation    E[σ(z)²] with z ~ N(0, K), per row and position         (Gaussian quadrature)
    batch norm    K · γ² / mean_batch K + β²                               (training mode: the batch statistics)

run per input row from the row's own moments (so K^(1) = C_b + C_W |x|²/n_0 for a dense first layer), then
averaged over rows and positions. Backwards, the squared norm of the gradient of f = u·output (u a fixed unit
vector) obeys E‖δ_in‖² = C_W · (window share) · ‖δ_out‖² through a weight layer and ‖δ_z‖² = E[σ'(z)²] ‖δ_h‖²
through an activation, so each layer multiplies it by χ⊥ = C_W E[σ'(z)²] (Roberts, Yaida & Hanin 2022,
§5.1 and ch. 8; Schoenholz et al. 2017; for convolutions Xiao et al. 2018).

(C_b, C_W) are read from the network's own weights: C_W = fan_in · mean(W²), C_b = mean(b²), which is the
scheme's variance whatever the scheme (PyTorch's default U(±1/√fan_in) is C_W = 1/3; He normal, C_W = 2).
A module the Gaussian recursion does not describe (max or average pooling, which mix correlated positions;
attention; recurrence; residual joins) is not guessed at: the prediction restarts there from the measured
moments of that module's output (forward) and input gradient (backward), and the table says so.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepsci.models.activations import Elementwise
from deepsci.theory.activation import Activation, derivative
from deepsci.theory.gaussian import gaussian_expectation

#: parameter-free torch modules that are elementwise activations (deepsci's own are `Elementwise`)
TORCH_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.Mish)
#: modules that are the identity at the first training step as the theory describes it (dropout is off)
IDENTITIES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass(frozen=True)
class LayerSignal:
    """One weight layer at initialisation: predicted against measured.

    Attributes:
        name: the module's path in the network ("layers.0", "features.1.0").
        kind: "dense" or "convolution".
        width: output units (dense) or channels (convolution).
        cb, cw: the layer's bias variance and weight variance × fan-in, read from its weights.
        predicted_variance, measured_variance: mean over rows, units and positions of the preactivation z².
        predicted_grad, measured_grad: root mean square over rows of ‖∂f/∂z‖ (f = u·output, u a unit vector).
        restarted: "" when the prediction reaching this layer is the theory's from the input rows; else the
            module the theory could not cross, whose measured moments the prediction restarted from.
    """

    name: str
    kind: str
    width: int
    cb: float
    cw: float
    predicted_variance: float
    measured_variance: float
    predicted_grad: float
    measured_grad: float
    restarted: str = ""

    @property
    def variance_error(self) -> float:
        """Relative error of the predicted variance, (predicted - measured) / measured."""
        return (self.predicted_variance - self.measured_variance) / self.measured_variance


@dataclass(frozen=True)
class SignalPropagation:
    """What `signal_propagation` measured and predicted (see the module docstring).

    Attributes:
        layers: the weight layers, input to output.
        activation: the hidden activation's name ("" when there is none, or several).
        chi_parallel, chi_perp: the geometric means over hidden layers of χ∥ = dK_out/dK and χ⊥ = C_W E[σ'²]
            at each layer's predicted K (Roberts, Yaida & Hanin 2022, §5.1).
        depth_scale: ξ = 1/|ln χ⊥|, the number of layers over which gradients grow or shrink by e (inf at
            criticality).
        gradient_change: measured ‖∂f/∂z‖ at the first weight layer over that at the last.
        rows: training rows in the batch.
        not_covered: module types the prediction restarted at (the theory does not cross them).
    """

    layers: tuple[LayerSignal, ...]
    activation: str
    chi_parallel: float
    chi_perp: float
    depth_scale: float
    gradient_change: float
    rows: int
    not_covered: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """The JSON block of metrics.json["theory"]["signal"] (inf and NaN as null)."""
        out = asdict(self)
        out["layers"] = [{**asdict(layer), "variance_error": layer.variance_error} for layer in self.layers]
        return _finite(out)


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (JSON has no inf/NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# -- what one pass records ---------------------------------------------------------------------------
@dataclass
class _Call:
    """One leaf module's call: its input and output tensors (grads retained) and its path."""

    name: str
    module: nn.Module
    input: Tensor
    output: Tensor


def _record(model: nn.Module, X: Tensor) -> tuple[list[_Call], Tensor]:
    """Run `model` on X with hooks on every leaf module; (calls in execution order, output)."""
    calls: list[_Call] = []
    names = {id(m): n for n, m in model.named_modules()}

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if args and isinstance(args[0], Tensor) and isinstance(output, Tensor) and output.requires_grad:
            if args[0].requires_grad:
                args[0].retain_grad()
            output.retain_grad()
            calls.append(_Call(names.get(id(module), type(module).__name__), module, args[0], output))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        out = model(X.requires_grad_(True))
    finally:
        for h in handles:
            h.remove()
    return calls, out


def _moment_map(t: Tensor) -> Tensor:
    """Per-row second moment, averaged over features/channels: (B,) for (B, d), (B, *spatial) for (B, C, *s)."""
    t = t.detach().double()
    return (t**2).mean(1) if t.dim() > 2 else (t**2).mean(-1)


def _grad_map(t: Tensor) -> Tensor:
    """Per-row squared gradient norm, summed over channels: the same shapes as `_moment_map`."""
    g = t.grad
    if g is None:
        return torch.zeros(_moment_map(t).shape, dtype=torch.float64)
    g = g.detach().double()
    return (g**2).sum(1) if g.dim() > 2 else (g**2).sum(-1)


def activation_of(module: nn.Module) -> Activation | None:
    """The theory's Activation for an elementwise activation module, else None."""
    if isinstance(module, Elementwise):
        return Activation(module.name, module.fn)
    if isinstance(module, TORCH_ACTIVATIONS):
        return Activation(type(module).__name__.lower(), module)
    return None


def _layer_variances(module: nn.Module) -> tuple[float, float]:
    """(C_b, C_W) of a dense or convolutional layer from its own weights: C_W = fan_in · mean(W²)."""
    weight = module.weight
    assert isinstance(weight, Tensor)
    w = weight.detach().double()
    fan_in = w[0].numel()
    bias = getattr(module, "bias", None)
    cb = float((bias.detach().double() ** 2).mean()) if bias is not None else 0.0
    return cb, float(fan_in * (w**2).mean())


def _window(module: nn.modules.conv._ConvNd, shape: tuple[int, ...], transposed: bool, q: Tensor) -> Tensor:
    """Mean of q over each output position's window (forward) or spread back over the input (transposed)."""
    dims = len(module.kernel_size)
    ones = torch.ones((1, 1, *module.kernel_size), dtype=torch.float64) / math.prod(module.kernel_size)
    conv = {1: nn.functional.conv1d, 2: nn.functional.conv2d, 3: nn.functional.conv3d}[dims]
    convt = {1: nn.functional.conv_transpose1d, 2: nn.functional.conv_transpose2d,
             3: nn.functional.conv_transpose3d}[dims]
    padding: Any = module.padding
    if not transposed:
        return conv(q[:, None], ones, stride=module.stride, padding=padding, dilation=module.dilation)[:, 0]
    out = convt(q[:, None], ones, stride=module.stride, padding=padding, dilation=module.dilation)[:, 0]
    pad = [s - o for s, o in zip(shape, out.shape[1:])]  # a stride that does not divide the input leaves a rim
    return nn.functional.pad(out, [p for d in reversed(pad) for p in (0, d)]) if any(pad) else out


GRID = 256  # K values at which a map of many entries is integrated exactly (the rest interpolated)


def _expectation(f: Callable[[Tensor], Tensor], q: Tensor) -> Tensor:
    """E[f(z)], z ~ N(0, K) for every entry K of q (any shape). A map of more entries than `GRID` (a convolution's
    rows x positions) is integrated at GRID log-spaced K and interpolated linearly in log K: the expectations
    are smooth in K, and the interpolation's relative error is below 1e-4, far under one draw's fluctuation."""
    k = q.clamp_min(1e-300)
    if k.numel() <= GRID:
        return gaussian_expectation(f, k, order=32, breakpoints=(0.0,))
    lo, hi = float(k.min().log()), float(k.max().log())
    if hi - lo < 1e-12:
        return gaussian_expectation(f, k.flatten()[:1], order=32, breakpoints=(0.0,)).expand(k.shape).clone()
    logs = torch.linspace(lo, hi, GRID, dtype=torch.float64)
    values = gaussian_expectation(f, logs.exp(), order=32, breakpoints=(0.0,))
    position = (k.log() - lo) / (hi - lo) * (GRID - 1)
    left = position.floor().clamp(0, GRID - 2).long()
    weight = position - left
    return values[left] * (1 - weight) + values[left + 1] * weight


# -- forward and backward maps, by module type ------------------------------------------------------
def _forward_map(call: _Call, q: Tensor) -> Tensor | None:
    """The predicted moment map of the call's output from that of its input, or None (not covered)."""
    m = call.module
    if isinstance(m, nn.Linear) and q.dim() == 1:  # (batch, features) in; a Linear over steps is not covered
        cb, cw = _layer_variances(m)
        return cb + cw * q
    if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m.padding, str) and m.groups == 1:
        cb, cw = _layer_variances(m)
        return cb + cw * _window(m, tuple(q.shape[1:]), False, q)
    act = activation_of(m)
    if act is not None:
        return _expectation(lambda z: act(z) ** 2, q)
    if isinstance(m, IDENTITIES):
        return q
    if isinstance(m, nn.Flatten):
        return q.reshape(q.shape[0], -1).mean(1)
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
        gamma2 = float((m.weight.detach().double() ** 2).mean())
        beta2 = float((m.bias.detach().double() ** 2).mean())
        return gamma2 * q / q.mean() + beta2
    return None


def _backward_map(call: _Call, d: Tensor, q_in: Tensor, q_out: Tensor) -> Tensor | None:
    """The predicted squared-gradient map at the call's input from that at its output, or None.

    q_in, q_out: the predicted moment maps of its input and output (K, for an activation's σ'(z)).
    """
    m = call.module
    if isinstance(m, nn.Linear) and q_in.dim() == 1:
        _, cw = _layer_variances(m)
        return cw * d.reshape(d.shape[0], -1).sum(1)  # E‖δ_in‖² = C_W ‖δ_out‖² per row
    if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m.padding, str) and m.groups == 1:
        _, cw = _layer_variances(m)
        return cw * _window(m, tuple(q_in.shape[1:]), True, d)
    act = activation_of(m)
    if act is not None:
        slope = derivative(act.fn)
        return d * _expectation(lambda z: slope(z) ** 2, q_in)
    if isinstance(m, IDENTITIES):
        return d
    if isinstance(m, nn.Flatten):
        ones = [1] * (q_in.dim() - 1)  # the flattened row's squared gradient, shared equally by its positions
        return (d.reshape(-1, *ones) / math.prod(q_in.shape[1:])).expand(q_in.shape).contiguous()
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
        gamma2 = float((m.weight.detach().double() ** 2).mean())
        return d * gamma2 / q_in.mean()
    return None


@dataclass
class _Chain:
    """The predicted maps along the recorded calls (forward moments, backward squared gradients)."""

    q_in: list[Tensor]
    q_out: list[Tensor]
    restarted: list[str]


def _forward(calls: list[_Call]) -> _Chain:
    """Predicted moment maps of every call's input and output, restarting from measurement where needed."""
    chain = _Chain([], [], [])
    for i, call in enumerate(calls):
        follows = i > 0 and call.input is calls[i - 1].output
        q = chain.q_out[-1] if follows else _moment_map(call.input)
        predicted = _forward_map(call, q)
        chain.q_in.append(q)
        chain.q_out.append(predicted if predicted is not None else _moment_map(call.output))
        chain.restarted.append("" if predicted is not None else type(call.module).__name__)
    return chain


def _backward(calls: list[_Call], chain: _Chain) -> list[Tensor]:
    """Predicted squared-gradient maps at every call's output, from the head back."""
    d_out: list[Tensor] = [torch.empty(0)] * len(calls)
    d = _grad_map(calls[-1].output)
    for i in range(len(calls) - 1, -1, -1):
        call = calls[i]
        if i < len(calls) - 1 and calls[i + 1].input is not call.output:
            d = _grad_map(call.output)  # a join the chain does not see (residual, several inputs): measured
        d_out[i] = d
        back = _backward_map(call, d, chain.q_in[i], chain.q_out[i])
        d = back if back is not None else _grad_map(call.input)
    return d_out


def _criticality(calls: list[_Call], chain: _Chain) -> tuple[str, float, float]:
    """(activation name, geometric-mean χ∥, geometric-mean χ⊥) over the hidden activations."""
    names, chi_par, chi_perp = set(), [], []
    weights = [i for i, c in enumerate(calls) if isinstance(c.module, WEIGHT_LAYERS)]
    for i, call in enumerate(calls):
        act = activation_of(call.module)
        after = [j for j in weights if j > i]
        if act is None or not after:
            continue
        names.add(act.name)
        _, cw = _layer_variances(calls[after[0]].module)
        k = chain.q_in[i].double().mean().clamp_min(1e-300)
        slope = derivative(act.fn)
        chi_perp.append(cw * float(gaussian_expectation(lambda z: slope(z) ** 2, k, order=64, breakpoints=(0.0,))))
        chi_par.append(cw * float(gaussian_expectation(lambda z: act(z) ** 2 * (z * z - k), k, order=64,
                                                       breakpoints=(0.0,))) / (2 * float(k) ** 2))
    return (names.pop() if len(names) == 1 else ", ".join(sorted(names)), _geomean(chi_par), _geomean(chi_perp))


def _geomean(values: list[float]) -> float:
    positive = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else math.nan


def signal_propagation(model: nn.Module, X: Tensor, *, seed: int = 0) -> SignalPropagation:
    """Predicted against measured preactivation variance and gradient norm, layer by layer, at initialisation.

    Args:
        model: the network as built (not trained); it is copied, never changed. Batch norm runs in training
            mode (the batch's statistics, as in the first step), dropout is off.
        X: (B, ...) a batch of training rows, as the model takes them.
        seed: seeds the unit vector u of f = u·output whose gradient is propagated back.

    Returns:
        SignalPropagation (float64 statistics of a float32 pass).
    """
    # float32 pass (its statistics are summed in float64): a float64 convolution on a CPU is many times slower
    net = copy.deepcopy(model).float().train()
    for m in net.modules():
        if isinstance(m, IDENTITIES):
            m.eval()
    calls, out = _record(net, X.detach().float().clone())  # a copy: the pass sets requires_grad on it
    u = torch.randn(out.shape[1:], generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    (out * (u / u.norm())).sum().backward()
    chain = _forward(calls)
    d_out = _backward(calls, chain)
    layers = [LayerSignal(name=c.name, kind="dense" if isinstance(c.module, nn.Linear) else "convolution",
                          width=int(c.output.shape[1]), cb=_layer_variances(c.module)[0],
                          cw=_layer_variances(c.module)[1],
                          predicted_variance=float(chain.q_out[i].mean()),
                          measured_variance=float(_moment_map(c.output).mean()),
                          predicted_grad=float(_rows_mean(d_out[i]).sqrt()),
                          measured_grad=float(_rows_mean(_grad_map(c.output)).sqrt()),
                          restarted=_restart_before(calls, chain, i))
              for i, c in enumerate(calls) if isinstance(c.module, WEIGHT_LAYERS)]
    name, chi_par, chi_perp = _criticality(calls, chain)
    change = layers[0].measured_grad / layers[-1].measured_grad if layers and layers[-1].measured_grad else math.nan
    return SignalPropagation(layers=tuple(layers), activation=name, chi_parallel=chi_par, chi_perp=chi_perp,
                             depth_scale=1.0 / abs(math.log(chi_perp)) if chi_perp > 0 and chi_perp != 1 else math.inf,
                             gradient_change=change, rows=int(X.shape[0]),
                             not_covered=tuple(sorted({r for r in chain.restarted if r})))


def _rows_mean(d: Tensor) -> Tensor:
    """Mean over rows of a per-row squared-norm map summed over its positions."""
    return d.reshape(d.shape[0], -1).sum(1).mean()


def _restart_before(calls: list[_Call], chain: _Chain, i: int) -> str:
    """The module between the previous weight layer and call i where the prediction restarted ("" if none)."""
    for j in range(i - 1, -1, -1):
        if isinstance(calls[j].module, WEIGHT_LAYERS):
            return ""
        if chain.restarted[j]:
            return chain.restarted[j]
    return ""
