"""A fast path for dense stacks: explicit forward and backward with a fused optimiser step.

On a small table a training step of an MLP costs a few hundred microseconds of which the arithmetic is a
few tens: the rest is Python, the dispatcher, autograd's graph and the optimiser's bookkeeping
(shared/DESIGN.md). For a stack of affine maps and elementwise activations the backward pass is short
enough to write out, so this module runs the step without autograd:

    forward   z_l = h_{l-1} W_l^T + b_l (addmm; baddbmm for a stacked ensemble),  h_l = f(z_l)
    backward  dz_l = dh_l * f'(z_l) (aten's own activation backward kernels, as autograd calls them)
              dW_l = dz_l^T h_{l-1},  db_l = sum_rows dz_l,  dh_{l-1} = dz_l W_l
    update    one fused Adam / AdamW kernel over all parameters on the optimiser's own state tensors
              (torch.optim's update rule, exactly); any other optimiser runs its own `step()`.

It serves deepsci's `MLP`, a plain `nn.Sequential` of the same layers, and the stacked ensemble
(`StackedMLP`, trained on `ensemble_loss`), with the losses mse, cross-entropy (class labels) and binary
cross-entropy. `dense_step` returns None for anything else (dropout, batch norm, maxout, hooks, frozen
parameters, other losses), and the Trainer then trains through autograd, the general path. Backprop is the
learning rule whose feedback matrix is W^T: `dense_gradients` is the engine a rule with another feedback
matrix can reuse.

The step reads and writes the module's own parameters in place (early stopping's restore and checkpoint
loading act on them), reads the learning rate from `optimizer.param_groups` every step (schedules keep
working) and keeps the optimiser's state in `optimizer.state` (checkpoints save and resume it bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as torch_module
from torch.optim import optimizer as torch_optimizer

from deepsci.models.activations import Elementwise
from deepsci.models.mlp import MLP
from deepsci.training.losses import binary_cross_entropy, cross_entropy, mse
from deepsci.training.ensemble import EnsembleLoss, StackedLinear, StackedMLP
from deepsci.training.optimisers import Adam, AdamW

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]
# A training step: (inputs, targets, sample weights or None) -> the detached batch loss.
Step = Callable[[Any, Tensor, "Tensor | None"], Tensor]
aten = torch.ops.aten

__all__ = ["DenseLayer", "DenseStep", "dense_gradients", "dense_layers", "dense_step", "ACTIVATION_GRADIENTS"]


# -- activations: forward and the aten backward kernel autograd itself calls ------------------------------------
# Each entry: (forward f(z, **kw), backward (grad, z, h, **kw) -> grad * f'(z)). The backward kernels are the
# ones in torch's derivatives.yaml, so the fast path's gradients are autograd's, kernel for kernel.
ACTIVATION_GRADIENTS: dict[str, Callable[..., Tensor]] = {
    "relu": lambda g, z, h: aten.threshold_backward(g, h, 0),
    "tanh": lambda g, z, h: aten.tanh_backward(g, h),
    "sigmoid": lambda g, z, h: aten.sigmoid_backward(g, h),
    "leaky-relu": lambda g, z, h, slope=0.01: aten.leaky_relu_backward(g, z, slope, False),
    "elu": lambda g, z, h, alpha=1.0: aten.elu_backward(g, alpha, 1, 1, False, z),
    "gelu": lambda g, z, h: aten.gelu_backward(g, z, approximate="none"),
    "silu": lambda g, z, h: aten.silu_backward(g, z),
    "softplus": lambda g, z, h: aten.softplus_backward(g, z, 1, 20),
}
# torch.nn's own modules, for a plain nn.Sequential written by hand.
_TORCH_ACTIVATIONS: dict[type, str] = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.GELU: "gelu",
                                       nn.SiLU: "silu", nn.Softplus: "softplus", nn.ELU: "elu",
                                       nn.LeakyReLU: "leaky-relu"}


@dataclass(frozen=True)
class DenseLayer:
    """One affine map and the elementwise activation after it (None: none, as for the head).

    weight: (out, in) as nn.Linear stores it, or (K, in, out) for a stacked ensemble; bias: (out,) or
    (K, 1, out), or None. `fn` is the activation's forward and `grad` its backward kernel.
    """

    weight: Tensor
    bias: Tensor | None
    stacked: bool
    fn: Callable[[Tensor], Tensor] | None = None
    grad: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None


def dense_layers(model: nn.Module) -> list[DenseLayer] | None:
    """The model as a list of DenseLayer, or None where it is not a plain dense stack.

    Covered: deepsci's MLP, a plain nn.Sequential and a StackedMLP made of Linear (StackedLinear) layers,
    each followed by at most one elementwise activation from ACTIVATION_GRADIENTS (or none), dropout of
    probability 0 and identities. Anything else (batch norm, dropout > 0, maxout, a subclass with its own
    forward, hooks on any module) gives None.
    """
    if isinstance(model, (MLP, StackedMLP)) and type(model).forward in (MLP.forward, StackedMLP.forward):
        sequence: nn.Module = model.layers
    elif type(model) is nn.Sequential:
        sequence = model
    else:
        return None
    if type(sequence) is not nn.Sequential or _has_hooks(model):
        return None
    stacked = isinstance(model, StackedMLP)
    layers: list[DenseLayer] = []
    for module in sequence:
        if type(module) in (nn.Linear, StackedLinear) and stacked == isinstance(module, StackedLinear):
            layers.append(DenseLayer(module.weight, module.bias, stacked))  # type: ignore[arg-type]
            continue
        if _is_identity(module):
            continue
        act = _activation(module)
        if act is None or not layers or layers[-1].fn is not None:
            return None  # not covered, or an activation with no affine map before it
        layers[-1] = DenseLayer(layers[-1].weight, layers[-1].bias, stacked, *act)
    return layers if layers else None


def _has_hooks(model: nn.Module) -> bool:
    """Whether any module carries forward or backward hooks (the fast path would skip them)."""
    global_hooks = (torch_module._global_forward_hooks, torch_module._global_forward_pre_hooks,
                    torch_module._global_backward_hooks, torch_module._global_backward_pre_hooks)
    if any(global_hooks):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
               for m in model.modules())


def _is_identity(module: nn.Module) -> bool:
    return type(module) is nn.Identity or (type(module) is nn.Dropout and module.p == 0.0)  # type: ignore[union-attr]


def _activation(module: nn.Module) -> tuple[Callable[[Tensor], Tensor], Callable[..., Tensor]] | None:
    """(forward, backward) of an elementwise activation module, or None if not covered."""
    if type(module) is Elementwise:
        name, kwargs = module.name, dict(module.kwargs)
        if name == "linear":
            return (lambda z: z), (lambda g, z, h: g)
    elif type(module) in _TORCH_ACTIVATIONS:
        name, kwargs = _TORCH_ACTIVATIONS[type(module)], {}
        if isinstance(module, nn.LeakyReLU):
            kwargs = {"slope": module.negative_slope}
        elif isinstance(module, nn.ELU):
            kwargs = {"alpha": module.alpha}
        elif isinstance(module, nn.GELU) and module.approximate != "none":
            return None
        elif isinstance(module, nn.Softplus) and (module.beta != 1 or module.threshold != 20):
            return None
        if getattr(module, "inplace", False):
            return None
    else:
        return None
    if name not in ACTIVATION_GRADIENTS:
        return None
    if type(module) is Elementwise:  # deepsci's own function object: the forward is the module's, exactly
        return module.fn, (lambda g, z, h: ACTIVATION_GRADIENTS[name](g, z, h, **kwargs))
    forward = _FORWARD[name]
    backward = ACTIVATION_GRADIENTS[name]
    if kwargs:
        return (lambda z: forward(z, **kwargs)), (lambda g, z, h: backward(g, z, h, **kwargs))
    return forward, backward


_FORWARD: dict[str, Callable[..., Tensor]] = {
    "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "leaky-relu": lambda z, slope=0.01: F.leaky_relu(z, slope), "elu": lambda z, alpha=1.0: F.elu(z, alpha),
    "gelu": F.gelu, "silu": F.silu, "softplus": F.softplus,
}


# -- losses: value and gradient with respect to the output ------------------------------------------------------
def _loss_rule(loss: Any, stacked: bool) -> "GradientRule | None":
    """The value-and-gradient rule of a covered loss (mse, cross-entropy, binary cross-entropy; for a
    StackedMLP, the member loss inside its `ensemble_loss`), or None where the fast path does not know it."""
    if stacked:
        if type(loss) is not EnsembleLoss:
            return None
        loss = loss.loss
    try:
        return _GRADIENT_RULES.get(loss)
    except TypeError:  # an unhashable callable
        return None


class _Scale:
    """What a gradient rule reads from its engine: the loss's factor (K for a stacked ensemble's sum of
    member losses, else 1) and mse's (scale / n, 2 scale / n) as 0-dim tensors, made once per batch size."""

    def __init__(self, scale: float, dtype: torch.dtype, device: torch.device) -> None:
        self.scale, self.dtype, self.device = scale, dtype, device
        self._factors: dict[int, tuple[Tensor, Tensor]] = {}

    def mse_factors(self, n: int) -> tuple[Tensor, Tensor]:
        if n not in self._factors:
            self._factors[n] = (torch.tensor(self.scale / n, dtype=self.dtype, device=self.device),
                                torch.tensor(2.0 * self.scale / n, dtype=self.dtype, device=self.device))
        return self._factors[n]


# A gradient rule: (output, target, scale) -> (scale * loss, d(scale * loss) / d output), or None for targets
# the fast path does not cover (class probabilities as targets, shapes or dtypes that would broadcast).
GradientRule = Callable[[Tensor, Tensor, _Scale], "tuple[Tensor, Tensor] | None"]


def _mse_and_grad(output: Tensor, target: Tensor, scale: _Scale) -> tuple[Tensor, Tensor] | None:
    """(scale * mean((o - t)^2), its gradient 2 scale (o - t) / n) from one difference, with the factors
    (scale / n, 2 scale / n) as 0-dim tensors of the output's dtype: four small kernels, where mse_loss and
    mse_loss_backward launch about ten (a mean is a sum, a dtype round trip and a division, and a Python
    float multiplier is first made a tensor and cast)."""
    if output.shape != target.shape or target.dtype != output.dtype:
        return None
    factors = scale.mse_factors(output.numel())
    diff = torch.sub(output, target)
    flat = diff.view(-1)
    return torch.dot(flat, flat).mul_(factors[0]), diff.mul_(factors[1])


def _cross_entropy_and_grad(output: Tensor, target: Tensor, scale: _Scale) -> tuple[Tensor, Tensor] | None:
    """Softmax cross-entropy of logits (batch, k) against class labels (batch,), mean over the batch."""
    if output.dim() != 2 or target.dim() != 1 or target.dtype != torch.long:
        return None
    logp = torch.log_softmax(output, 1)
    value = F.nll_loss(logp, target)
    one = torch.full((), scale.scale, dtype=logp.dtype, device=logp.device)
    rows = torch.full((), target.shape[0], dtype=logp.dtype, device=logp.device)  # the mean's denominator
    grad_logp = aten.nll_loss_backward(one, logp, target, None, 1, -100, rows)
    return _scaled(value, scale.scale), aten._log_softmax_backward_data(grad_logp, logp, 1, logp.dtype)


def _binary_cross_entropy_and_grad(output: Tensor, target: Tensor, scale: _Scale) -> tuple[Tensor, Tensor] | None:
    """Binary cross-entropy of logits (batch, 1) against labels (batch,): d/dx = (sigmoid(x) - t) / n."""
    logits = output.squeeze(-1)
    if logits.shape != target.shape:
        return None
    target = target.to(logits.dtype)
    value = F.binary_cross_entropy_with_logits(logits, target)
    grad = (torch.sigmoid(logits) - target) * (scale.scale / logits.numel())
    return _scaled(value, scale.scale), grad.view_as(output)


_GRADIENT_RULES: dict[Loss, GradientRule] = {
    mse: _mse_and_grad,
    cross_entropy: _cross_entropy_and_grad,
    binary_cross_entropy: _binary_cross_entropy_and_grad,
}


def _scaled(value: Tensor, scale: float) -> Tensor:
    return value if scale == 1.0 else value * scale


# -- forward and backward ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Operands:
    """A layer's weight as each product reads it, made once per engine: views of the parameter, which every
    update changes in place, so they stay current without a transpose dispatched per step.

    forward: W^T (in, out) for a plain layer, W (K, in, out) for a stacked one; backward: W (out, in), or
    W_k^T (K, out, in); column: a stacked layer with one output, whose products with `backward` (K, 1, in)
    run as a broadcast multiply and a row sum (a batched GEMM with one column costs ~5x).
    """

    forward: Tensor
    backward: Tensor
    column: bool


def _operands(layer: DenseLayer) -> _Operands:
    w = layer.weight
    if not layer.stacked:
        return _Operands(w.t(), w, False)
    return _Operands(w, w.transpose(1, 2), w.shape[2] == 1)


def _forward(layers: Sequence[DenseLayer], ops: Sequence[_Operands], x: Tensor
             ) -> tuple[Tensor, list[tuple[Tensor, Tensor, Tensor]]]:
    """The output and, per layer, (input, pre-activation, activation) saved for the backward pass."""
    saved = []
    h = x
    for layer, op in zip(layers, ops):
        if not layer.stacked:
            z = h.mm(op.forward) if layer.bias is None else torch.addmm(layer.bias, h, op.forward)
        elif op.column and h.dim() == 3:  # (K, B, in) . (K, 1, in) summed over in -> (K, B, 1)
            z = torch.mul(h, op.backward).sum(2, keepdim=True)
            if layer.bias is not None:
                z.add_(layer.bias)
        else:
            hk = h if h.dim() == 3 else h.unsqueeze(0).expand(layer.weight.shape[0], -1, -1)
            z = torch.bmm(hk, op.forward) if layer.bias is None else torch.baddbmm(layer.bias, hk, op.forward)
        out = layer.fn(z) if layer.fn is not None else z
        saved.append((h, z, out))
        h = out
    return h, saved


def _backward(layers: Sequence[DenseLayer], ops: Sequence[_Operands], saved: Sequence[tuple[Tensor, Tensor, Tensor]],
              grad: Tensor, grads: list[Tensor]) -> None:
    """Write every parameter's gradient into `grads` (weight, bias per layer, in order) from d loss/d output."""
    slot = 2 * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        layer, op, (h, z, out) = layers[i], ops[i], saved[i]
        if layer.grad is not None:
            grad = layer.grad(grad, z, out)
        slot -= 2
        gw, gb = grads[slot], grads[slot + 1]
        if not layer.stacked:
            torch.mm(grad.t(), h, out=gw)
            if layer.bias is not None:
                torch.sum(grad, 0, out=gb)
        else:
            _stacked_weight_grad(h, grad, gw, op.column)
            if layer.bias is not None:
                torch.sum(grad, 1, keepdim=True, out=gb)
        if i == 0:  # the input's gradient is never needed
            break
        if not layer.stacked:
            grad = grad.mm(op.backward)
        elif op.column:  # (K, B, 1) * (K, 1, in)
            grad = torch.mul(grad, op.backward)
        else:
            grad = torch.bmm(grad, op.backward)


def _stacked_weight_grad(h: Tensor, grad: Tensor, out: Tensor, column: bool) -> None:
    """dW_k = h_k^T dz_k into out (K, in, out_features); h (B, in) shared by all members or (K, B, in)."""
    if h.dim() == 3:
        if column:  # one output: sum_b h_kbi dz_kb, a multiply and a sum instead of a one-column bmm
            torch.sum(torch.mul(h, grad), 1, out=out.view(out.shape[0], out.shape[1]))
        else:
            torch.bmm(h.transpose(1, 2), grad, out=out)
        return
    # A batched product over the members with h^T broadcast (stride 0): no copies in or out, where one
    # member-wide product needed a permuted copy of dz and of its (in, K*out) result (~1.5x the time).
    torch.bmm(h.t().unsqueeze(0).expand(grad.shape[0], -1, -1), grad, out=out)


def dense_gradients(model: nn.Module, loss: Loss, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]] | None:
    """The batch loss and d loss / d parameter (in `model.parameters()` order) by the explicit backward pass.

    None where the model or loss is not covered (see `dense_layers`). Parameters and their .grad are not
    touched. This is the engine the fast training step runs; tests hold it against autograd.
    """
    plan = _plan(model, loss)
    if plan is None:
        return None
    engine = _Engine(*plan, loss)
    with torch.no_grad():
        grads = [torch.empty_like(p) for p in _parameters(plan[0])]
        value = engine.run(x, y, grads)
    return None if value is None else (value, grads)


def _plan(model: nn.Module, loss: Any) -> tuple[list[DenseLayer], GradientRule] | None:
    """The dense layers and the loss's gradient rule, or None where the model or loss is not covered."""
    layers = dense_layers(model)
    rule = _loss_rule(loss, isinstance(model, StackedMLP))
    if layers is None or rule is None or not _covers_parameters(model, layers):
        return None
    return layers, rule


def _parameters(layers: Sequence[DenseLayer]) -> list[Tensor]:
    return [p for layer in layers for p in (layer.weight, layer.bias) if p is not None]


def _covers_parameters(model: nn.Module, layers: Sequence[DenseLayer]) -> bool:
    """The dense layers hold exactly the model's parameters, in order, all trainable, all one dtype/device."""
    own = list(model.parameters())
    mine = _parameters(layers)
    if len(own) != len(mine) or any(a is not b for a, b in zip(own, mine)):
        return False
    first = own[0]
    return all(p.requires_grad and p.dtype == first.dtype and p.device == first.device and p.is_floating_point()
               for p in own)


class _Engine:
    """Forward, loss and backward of one dense stack into preallocated gradient tensors."""

    def __init__(self, layers: Sequence[DenseLayer], rule: GradientRule, loss: Any) -> None:
        # Detached aliases of the parameters (the same storage, updated in place by every step): products
        # of tensors that do not require gradients record no autograd graph, whatever the grad mode.
        self.layers = [_in_place(replace(layer, weight=layer.weight.detach(),
                                         bias=None if layer.bias is None else layer.bias.detach()))
                       for layer in layers]
        self.rule, self.loss = rule, loss
        self.ops = [_operands(layer) for layer in self.layers]
        self.stacked = layers[0].stacked
        self.with_bias = all(layer.bias is not None for layer in layers)
        param = layers[0].weight
        self.dtype, self.device = param.dtype, param.device
        # ensemble_loss sums the members' mean losses: the loss and its gradient carry a factor K.
        self.scale = _Scale(float(param.shape[0]) if self.stacked else 1.0, self.dtype, self.device)
        self.dims = (2, 3) if self.stacked else (2,)

    def run(self, x: Tensor, y: Tensor, grads: list[Tensor]) -> Tensor | None:
        """Write the gradients; return the detached batch loss, or None if these targets are not covered."""
        if x.dtype != self.dtype or x.device != self.device or x.dim() not in self.dims:
            return None
        output, saved = _forward(self.layers, self.ops, x)
        out, target = self.loss.fold(output, y) if self.stacked else (output, y)
        result = self.rule(out, target, self.scale)
        if result is None:
            return None
        value, grad = result
        if not self.with_bias:  # bias-free layers: slots stay aligned with weight/bias pairs
            grads = _with_bias_slots(self.layers, grads)
        _backward(self.layers, self.ops, saved, grad if grad.shape == output.shape else grad.reshape(output.shape),
                  grads)
        return value


def _relu_back_in_place(g: Tensor, z: Tensor, h: Tensor) -> Tensor:
    return aten.threshold_backward.grad_input(g, h, 0, grad_input=g)  # type: ignore[no-any-return]


def _in_place(layer: DenseLayer) -> DenseLayer:
    """The layer with its activation applied in place where the backward reads the activation's output
    only (relu, tanh, sigmoid: the pre-activation is never needed again), and relu's backward written over
    the incoming gradient (the engine's own temporary). The values are the same; a large batch saves two
    allocations and passes over memory per layer and step."""
    fn = layer.fn
    if fn is torch.relu:
        return replace(layer, fn=torch.relu_, grad=_relu_back_in_place)
    if fn is torch.tanh or fn is torch.sigmoid:
        return replace(layer, fn=torch.tanh_ if fn is torch.tanh else torch.sigmoid_)
    return layer


def _with_bias_slots(layers: Sequence[DenseLayer], grads: list[Tensor]) -> list[Tensor]:
    """Gradient list with a placeholder where a layer has no bias (so slot 2l+1 is always layer l's bias)."""
    it = iter(grads)
    out: list[Tensor] = []
    for layer in layers:
        out.append(next(it))
        out.append(next(it) if layer.bias is not None else torch.empty(0))
    return out


# -- the optimiser step -----------------------------------------------------------------------------------------
_ADAMS = (Adam, AdamW, torch.optim.Adam, torch.optim.AdamW)  # whose step the fast path knows (not a subclass's)

def _fused_adam_settings(optimizer: torch.optim.Optimizer) -> bool:
    """Whether `optimizer` is a fused Adam / AdamW whose step the fast path can issue itself, exactly."""
    if type(optimizer) not in _ADAMS or len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    plain = not (group["amsgrad"] or group["maximize"] or group["capturable"] or group["differentiable"])
    hooks = (optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
             or torch_optimizer._global_optimizer_pre_hooks or torch_optimizer._global_optimizer_post_hooks)
    return bool(group["fused"]) and plain and not hooks


# Below about 8 MFLOP a step (forward and backward: ~6 flops per parameter per row) its ops are so small that
# splitting them over threads costs more in wake-ups and barriers than it saves; on a shared machine a
# descheduled thread then stalls every op of the step.
_ONE_THREAD_FLOPS = 2 ** 23


def _scalar(value: Any) -> float:
    return float(value.item()) if torch.is_tensor(value) else float(value)


class DenseStep:
    """The fast training step: (xb, yb) -> detached batch loss, updating the model's parameters in place.

    Gradients are written into preallocated tensors (also set as each parameter's .grad, as after
    loss.backward()), clipped like `nn.utils.clip_grad_norm_(foreach=True)` when asked, and applied by one
    fused Adam/AdamW kernel on the optimiser's own state (or by `optimizer.step()` for other optimisers,
    and for the first step, which creates that state exactly as torch does). Batches the fast path does
    not cover (named inputs, class probabilities as targets after mixup) go to `fallback`: the Trainer's
    autograd step (`Trainer.autograd_step`), the one general path.
    """

    def __init__(self, layers: list[DenseLayer], rule: GradientRule, loss: Any, optimizer: torch.optim.Optimizer,
                 clip_grad_norm: float | None, fallback: Step) -> None:
        self.optimizer, self.clip, self.fallback = optimizer, clip_grad_norm, fallback
        self.engine = _Engine(layers, rule, loss)
        self.params: list[Tensor] = list(_parameters(layers))
        self.data = [p.detach() for p in self.params]  # what the fused kernel updates in place, outside autograd
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.numel = sum(p.numel() for p in self.params)
        self.fused_adam = _fused_adam_settings(optimizer)
        self.decoupled = bool(optimizer.param_groups[0].get("decoupled_weight_decay", False)) or isinstance(
            optimizer, torch.optim.AdamW)
        self._adopted: dict[str, Any] | None = None  # the first parameter's state whose tensors are held below
        self._steps = self._one = torch.zeros(0)
        self._step_views: list[Tensor] = []
        self._exp_avg: list[Tensor] = []
        self._exp_avg_sq: list[Tensor] = []

    def __call__(self, xb: Any, yb: Tensor, wb: Tensor | None = None) -> Tensor:
        if wb is not None or not isinstance(xb, Tensor):  # the Trainer does not choose this step for such fits
            return self.fallback(xb, yb, wb)
        threads = torch.get_num_threads()
        few = threads > 1 and xb.device.type == "cpu" and 6 * xb.shape[-2] * self.numel < _ONE_THREAD_FLOPS
        if few:  # a small step: one intra-op thread (restored below) beats waking the others for each tiny op
            torch.set_num_threads(1)
        try:
            # The engine and the update act on detached aliases and buffers: no grad-mode switch is needed.
            value = self.engine.run(xb.detach() if xb.requires_grad else xb, yb, self.grads)
            if value is None:
                return self.fallback(xb, yb, None)
            if self.clip is not None:
                self._clip(self.clip)
            self._update()
        finally:
            if few:
                torch.set_num_threads(threads)
        return value.float()  # as Trainer.train_step's autograd path returns it

    def _clip(self, max_norm: float) -> None:
        total = torch.nn.utils.get_total_norm(self.grads, 2.0, False, True)
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        torch._foreach_mul_(self.grads, coef)

    def _update(self) -> None:
        if self.params[0].grad is not self.grads[0]:  # the gradients stay readable as .grad, as after backward()
            for p, g in zip(self.params, self.grads):
                p.grad = g
        first = self.optimizer.state.get(self.params[0])
        if not self.fused_adam or not first:
            self.optimizer.step()
            return
        if first is not self._adopted:  # the state torch just created, or one a checkpoint loaded
            self._adopt_state()
        self._steps.add_(self._one)
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        step = torch._fused_adamw_ if self.decoupled else torch._fused_adam_
        step(self.data, self.grads, self._exp_avg, self._exp_avg_sq, [], self._step_views, amsgrad=False,
             lr=group["lr"], beta1=_scalar(beta1), beta2=_scalar(beta2), weight_decay=group["weight_decay"],
             eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)

    def _adopt_state(self) -> None:
        """Hold the optimiser's state tensors in lists, and make every parameter's step counter a view of
        one tensor, so a step increments them all with one kernel (torch's `_foreach_add_` over the
        counters runs one add per parameter on a CPU). The values are torch's own: optimizer.step() and
        state_dict() see ordinary 0-dim step tensors (safetensors writes non-overlapping views as they are)."""
        states = [self.optimizer.state[p] for p in self.params]
        self._steps = torch.stack([s["step"] for s in states])
        self._one = torch.ones((), dtype=self._steps.dtype, device=self._steps.device)  # a tensor: no cast a step
        self._step_views = list(self._steps.unbind(0))
        for s, view in zip(states, self._step_views):
            s["step"] = view
        self._exp_avg = [s["exp_avg"] for s in states]
        self._exp_avg_sq = [s["exp_avg_sq"] for s in states]
        self._adopted = states[0]


def dense_step(model: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], optimizer: torch.optim.Optimizer, *,
               fallback: Step, clip_grad_norm: float | None = None) -> DenseStep | None:
    """A step (xb, yb, wb=None) -> detached loss for `model` where the fast path applies, else None.

    Applies to a dense stack (`dense_layers`) with a covered loss (mse, cross-entropy, binary cross-entropy;
    their `ensemble_loss` for a StackedMLP) whose parameters are all trainable, of one dtype and device,
    and are exactly the optimiser's, in one parameter group. Batches it does not cover go to `fallback`
    (the autograd step, same signature).
    """
    plan = _plan(model, loss)
    if plan is None:
        return None
    layers, rule = plan
    groups, params = optimizer.param_groups, _parameters(layers)
    if len(groups) != 1 or len(groups[0]["params"]) != len(params) or any(
            a is not b for a, b in zip(groups[0]["params"], params)):
        return None
    return DenseStep(layers, rule, loss, optimizer, clip_grad_norm, fallback)
