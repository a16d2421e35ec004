"""Probes of real networks at initialisation, over many random initialisations at once.

A network is a stack of fully connected layers z^(1) = W^(1) x + b^(1),
z^(l+1) = W^(l+1) σ(z^(l)) + b^(l+1), with weights W ~ N(0, C_W / fan_in) and biases b ~ N(0, C_b)
drawn fresh for every initialisation. M initialisations are run as one batched computation: the
weights of a layer are a (M, n_out, n_in) tensor and each layer is one `torch.baddbmm`, which is
1.6x faster than M separate networks with autograd at width 512, depth 20, M = 50, while measuring
more (benchmarks/theory_probes.py; 2.1 s against 3.5 s on the shared 2-core machine).

Measured, per layer l (and compared against `deepsci.theory.recursion`):
- the preactivation variance G^(l)_a = E[z_i(x_a)²] (mean over initialisations and neurons);
- the correlation between two inputs E[z_i(x_a) z_i(x_b)] / √(G_aa G_bb);
- the backpropagated gradient norm ‖∂f/∂z^(l)‖ for f = u·z^(L) with a fixed unit vector u
  (its mean square obeys E‖δ^(l)‖² = χ⊥(K^(l)) E‖δ^(l+1)‖², Roberts, Yaida & Hanin 2022, §5.1/ch. 8),
  and the weight-gradient norm ‖∂f/∂W^(l)‖ = ‖δ^(l)‖ ‖σ(z^(l-1))‖ for one input;
- the excess kurtosis E[z⁴]/E[z²]² - 3 of the output preactivation, which to leading order in 1/n is
  3 V^(L)/(n (K^(L))²) (ch. 4, §4.3): three times the normalised four-point vertex.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.theory.activation import Activation, derivative, resolve_activation
from deepsci.theory.recursion import ActivationLike


@dataclass
class ProbeResult:
    """What `probe_mlp` measured (L = number of weight layers, B = inputs).

    Attributes:
        variance: (L, B) mean over initialisations and neurons of z^(l)(x_a)².
        variance_se: (L, B) standard error of `variance` across initialisations.
        correlation: (L,) measured correlation of inputs 0 and 1 (NaN if B = 1).
        grad_norm: (L,) root-mean-square over initialisations of ‖∂f/∂z^(l)‖ for input 0.
        weight_grad_norm: (L,) RMS over initialisations of ‖∂f/∂W^(l)‖ for input 0.
        kurtosis: (L,) excess kurtosis of z^(l)(x_0), pooled over neurons and initialisations.
        kurtosis_se: (L,) bootstrap standard error of `kurtosis` (resampling initialisations).
        widths: layer widths [n_0, n_1, ..., n_L].
        n_inits: number of initialisations.
    """

    variance: Tensor
    variance_se: Tensor
    correlation: Tensor
    grad_norm: Tensor
    weight_grad_norm: Tensor
    kurtosis: Tensor
    kurtosis_se: Tensor
    widths: list[int]
    n_inits: int


def mlp_plan(model: nn.Module) -> tuple[list[int], Activation]:
    """Widths [n_0, ..., n_L] and the (single) activation of a Linear/activation stack.

    Accepts an `nn.Sequential` of `nn.Linear` and elementwise activation modules (Dropout and
    Identity are skipped: identity at initialisation in eval mode), or a module with a `.layers`
    Sequential (deepsci's MLP).

    Raises:
        ModelError: BatchNorm or another layer the Gaussian theory does not describe, mixed
            activations, or no Linear layer.
    """
    seq = getattr(model, "layers", model)
    if not isinstance(seq, nn.Sequential):
        raise ModelError(
            f"probes need an nn.Sequential of Linear and activation layers (or a model with .layers); "
            f"received {type(model).__name__}. Build the network with deepsci.models.mlp.MLP or nn.Sequential."
        )
    widths: list[int] = []
    acts: list[nn.Module] = []
    for m in seq:
        if isinstance(m, nn.Linear):
            if not widths:
                widths.append(m.in_features)
            widths.append(m.out_features)
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
            raise ModelError(f"layer {type(m).__name__} is not covered by the Gaussian kernel theory of plain MLPs; "
                             "probe the network without batch_norm.")
        elif len(list(m.parameters())) == 0:
            acts.append(m)
        else:
            raise ModelError(f"layer {type(m).__name__} has parameters and is not nn.Linear; probes support MLPs only.")
    if not widths:
        raise ModelError("the model has no nn.Linear layer to probe.")
    kinds = {type(a).__name__ + repr(a) for a in acts}
    if len(kinds) > 1:
        raise ModelError(f"probes compare against a recursion with one activation; the model mixes {sorted(kinds)}.")
    if acts:
        module = acts[0]
        act = Activation(name=type(module).__name__.lower(), fn=module, breakpoints=(0.0,))
    else:
        act = resolve_activation("linear")
    return widths, act


def _bootstrap_kurtosis(m2: Tensor, m4: Tensor, n_boot: int, gen: torch.Generator) -> Tensor:
    """Bootstrap SE of the pooled excess kurtosis from per-init moments m2, m4: (M, L)."""
    m = m2.shape[0]
    idx = torch.randint(0, m, (n_boot, m), generator=gen)
    k = m4[idx].mean(1) / m2[idx].mean(1) ** 2 - 3.0  # (n_boot, L)
    return k.std(0)


def probe_mlp(widths: Sequence[int], activation: ActivationLike, X: Tensor, *, cb: float, cw: float, n_inits: int = 50,
              seed: int = 0, chunk: int = 10, gradients: bool = True,
              dtype: torch.dtype = torch.float32) -> ProbeResult:
    """Measure variances, correlations, gradient norms and kurtosis over many initialisations.

    Args:
        widths: [n_0, n_1, ..., n_L] (input width first, output width last).
        activation: name, elementwise function or `Activation` (applied after every layer but the last).
        X: (B, n_0) inputs; the probe runs on their device (weights drawn on the host, so any device
            sees the same draws) and returns its statistics on the host.
        cb, cw: bias variance and weight variance (weights ~ N(0, cw / fan_in)).
        n_inits: number of independent initialisations M.
        seed: seeds the one `torch.Generator` all draws come from.
        chunk: initialisations per batched pass (memory: chunk × Σ n_l n_(l+1) weights, if gradients).
        gradients: also backpropagate (needs the chunk's weights kept in memory).

    Returns:
        ProbeResult.
    """
    act = resolve_activation(activation)
    dact = derivative(act.fn)
    gen = torch.Generator().manual_seed(seed)
    widths = list(widths)
    n_layers = len(widths) - 1
    x = X.to(dtype)
    B = x.shape[0]
    device = x.device  # weights are drawn on the host (one stream, the same numbers on any device), then moved
    u = torch.randn(widths[-1], generator=gen, dtype=dtype).to(device)
    u = u / u.norm()
    sq_sums: list[Tensor] = []
    cross: list[Tensor] = []
    m2_all: list[Tensor] = []
    m4_all: list[Tensor] = []
    g2_all: list[Tensor] = []
    wg2_all: list[Tensor] = []
    done = 0
    while done < n_inits:
        m = min(chunk, n_inits - done)
        done += m
        h = x.expand(m, B, widths[0])
        weights, zs, hs = [], [], [h]
        per_var, per_cross, per_m2, per_m4 = [], [], [], []
        for layer in range(n_layers):
            n_in, n_out = widths[layer], widths[layer + 1]
            w = torch.randn(m, n_out, n_in, generator=gen, dtype=dtype).to(device) * (cw / n_in) ** 0.5
            b = torch.randn(m, 1, n_out, generator=gen, dtype=dtype).to(device) * cb**0.5
            z = torch.baddbmm(b, h, w.transpose(1, 2))  # (m, B, n_out)
            z64 = z.double()
            per_var.append((z64**2).mean(-1))  # (m, B)
            per_cross.append((z64[:, 0] * z64[:, 1]).mean(-1) if B > 1
                             else torch.zeros(m, dtype=torch.float64, device=device))
            per_m2.append((z64[:, 0] ** 2).mean(-1))
            per_m4.append((z64[:, 0] ** 4).mean(-1))
            if gradients:
                weights.append(w)
                zs.append(z)
            if layer < n_layers - 1:
                h = act(z)
                if gradients:
                    hs.append(h)
        sq_sums.append(torch.stack(per_var, 1))  # (m, L, B)
        cross.append(torch.stack(per_cross, 1))  # (m, L)
        m2_all.append(torch.stack(per_m2, 1))
        m4_all.append(torch.stack(per_m4, 1))
        if gradients:
            delta = u.expand(m, widths[-1]).clone()  # ∂f/∂z^(L) for input 0
            g2 = [torch.zeros(m, dtype=torch.float64, device=device)] * n_layers
            wg2 = [torch.zeros(m, dtype=torch.float64, device=device)] * n_layers
            for layer in range(n_layers - 1, -1, -1):
                g2[layer] = (delta.double() ** 2).sum(-1)
                wg2[layer] = g2[layer] * (hs[layer][:, 0].double() ** 2).sum(-1)
                if layer > 0:
                    back = torch.bmm(delta[:, None, :], weights[layer])[:, 0]  # (m, n_in)
                    delta = dact(zs[layer - 1][:, 0]) * back
            g2_all.append(torch.stack(g2, 1))
            wg2_all.append(torch.stack(wg2, 1))
    var = torch.cat(sq_sums)  # (M, L, B)
    cr = torch.cat(cross)
    m2, m4 = torch.cat(m2_all), torch.cat(m4_all)
    v_mean = var.mean(0)
    corr = cr.mean(0) / (v_mean[:, 0] * v_mean[:, 1]).sqrt() if B > 1 else torch.full((n_layers,), float("nan"))
    nan = torch.full((n_layers,), float("nan"), dtype=torch.float64)
    # The statistics come back to the host, whatever device X was on (they are a few numbers per layer).
    return ProbeResult(variance=v_mean.cpu(),
                       variance_se=(var.std(0) / n_inits**0.5 if n_inits > 1 else torch.zeros_like(v_mean)).cpu(),
                       correlation=corr.cpu(),
                       grad_norm=torch.cat(g2_all).mean(0).sqrt().cpu() if gradients else nan,
                       weight_grad_norm=torch.cat(wg2_all).mean(0).sqrt().cpu() if gradients else nan,
                       kurtosis=(m4.mean(0) / m2.mean(0) ** 2 - 3.0).cpu(),
                       kurtosis_se=_bootstrap_kurtosis(m2.cpu(), m4.cpu(), 200, gen) if n_inits > 1 else nan,
                       widths=widths,
                       n_inits=n_inits)


def probe(model: nn.Module, X: Tensor, *, cb: float, cw: float, n_inits: int = 50, seed: int = 0,
          chunk: int = 10) -> ProbeResult:
    """`probe_mlp` for a built model: its architecture, fresh Gaussian weights for every initialisation.

    The model's own weights are not used (one draw says little about the ensemble the theory
    describes); only its widths and activation are. See `mlp_plan` for what is accepted.
    """
    widths, act = mlp_plan(model)
    return probe_mlp(widths, act, X, cb=cb, cw=cw, n_inits=n_inits, seed=seed, chunk=chunk)
