"""Learning rules for convolutional layers: the signal a convolution sends back to its input.

Backpropagation sends a convolution's error ``delta`` (batch, C_out, *spatial) to its input as the transposed
convolution with the forward kernel W. The rules here keep the forward pass and the local kernel update
``dW = delta ⋆ x`` and replace only that signal, as `deepsci.rules.feedback` does for dense layers:

====================================  ==========================================================
rule                                  signal sent to the layer input
====================================  ==========================================================
``backprop``                          transposed convolution with W   (the true gradient)
``feedback-alignment``                transposed convolution with a fixed random kernel B
                                      (Lillicrap et al. 2016; convolutional: Moskovitz et al. 2018)
``sign-symmetry``                     transposed convolution with sign(W) * mean|W|
                                      (Liao, Leibo & Poggio 2016)
``adaptive-feedback-alignment``       transposed convolution with B, which learns with dB = dW
                                      (Baldi, Sadowski & Lu 2018)
``direct-feedback-alignment``         the output error e (batch, n_out) through a fixed random
                                      B_l (n_out, C_in * spatial), reshaped to the input (Nøkland 2016)
====================================  ==========================================================

`apply_network_rule` applies a rule to every dense and convolutional layer of a network (deepsci's CNN, or
any module made of them); the dense layers go through `deepsci.rules.feedback.apply_rule`, whose output-error
capture the convolutions' direct feedback alignment shares. Feedback kernels are buffers that are not saved
with the weights (`persistent=False`): they are redrawn from the run's seed, so a run folder holds the forward
network only.

References:
    Moskovitz, Litwin-Kumar & Abbott (2018), arXiv:1812.06488, "Feedback alignment in deep convolutional
    networks".
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError, unknown_name
from deepsci.rules.feedback import RULES, RuleLinear, _DFAState, _DFAToken, apply_rule
from deepsci.rules.recurrent import apply_recurrent_rule

_CONV_FNS = {1: nn.functional.conv1d, 2: nn.functional.conv2d, 3: nn.functional.conv3d}


def _conv_backward(grad_out: Tensor, x: Tensor, weight: Tensor, layer: RuleConv, mask: list[bool]) -> tuple[Any, ...]:
    """aten's convolution backward: (grad_input, grad_weight, grad_bias) where `mask` asks for them."""
    bias_sizes = [weight.shape[0]] if mask[2] else None
    return torch.ops.aten.convolution_backward(  # type: ignore[no-any-return]
        grad_out, x, weight, bias_sizes, list(layer.stride), list(layer.padding), list(layer.dilation),
        False, [0] * layer.dims, layer.groups, mask)


class _RuleConvFunction(torch.autograd.Function):
    """y = conv(x, W) + b whose backward to x is chosen by the layer's rule; dW, db stay local."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor | None,
                layer: RuleConv, token: _DFAToken | None) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.layer, ctx.token = layer, token
        ctx.has_bias, ctx.has_feedback = bias is not None, feedback is not None
        return _CONV_FNS[layer.dims](x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        layer: RuleConv = ctx.layer
        _, grad_w, grad_b = _conv_backward(grad_out, x, weight, layer, [False, True, ctx.has_bias])
        grad_x = layer.input_signal(grad_out, x, weight, ctx.token) if ctx.needs_input_grad[0] else None
        grad_fb = grad_w if ctx.has_feedback and ctx.needs_input_grad[3] else None
        return grad_x, grad_w, grad_b, grad_fb, None, None


class RuleConv(nn.Module):
    """A convolution (1-, 2- or 3-D) whose backward signal follows a learning rule (module docstring).

    Built with :meth:`from_conv`, it shares the weight and bias Parameters of the convolution it replaces, so
    the state-dict keys, the optimiser and the forward outputs are those of the original layer.

    Attributes:
        rule: one of ``RULES``.
        feedback: a random kernel B shaped like W (feedback alignment: a buffer; adaptive: a Parameter), the
            (n_outputs, C_in * spatial) B_l of direct feedback alignment (drawn at the first backward pass,
            when the input's shape is known), or None.
        force_backprop: when True the layer sends the true gradient whatever its rule (alignment diagnostics).
    """

    feedback: Tensor | None

    def __init__(self, conv: nn.modules.conv._ConvNd, rule: str, generator: torch.Generator,
                 n_outputs: int, dfa_state: _DFAState | None) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str) or conv.transposed:
            raise ModelError(f"rule '{rule}' supports convolutions with integer zero padding; this layer has "
                             f"padding={conv.padding!r}, padding_mode='{conv.padding_mode}'. Give an integer "
                             "padding, or train with rule = 'backprop'.")
        self.dims = len(conv.kernel_size)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups = conv.groups
        self.weight = conv.weight
        self.bias = conv.bias
        self.rule, self.force_backprop = rule, False
        self.n_outputs, self._dfa, self._generator = n_outputs, dfa_state, generator
        w = conv.weight.detach()
        self._std = float(w.std()) if w.numel() > 1 else 1.0  # feedback starts at the forward weights' size
        self.register_buffer("feedback", None, persistent=False)
        if rule in ("feedback-alignment", "adaptive-feedback-alignment"):
            b = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device) * self._std
            if rule == "adaptive-feedback-alignment":
                self.feedback = nn.Parameter(b)  # type: ignore[assignment]
            else:
                self.register_buffer("feedback", b, persistent=False)
        elif rule == "direct-feedback-alignment":
            # B_l's shape needs the input's spatial size: drawn once, at the first backward pass, from a
            # generator seeded now, so it does not depend on when other layers draw theirs.
            self._generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=generator)))

    @classmethod
    def from_conv(cls, conv: nn.modules.conv._ConvNd, rule: str, generator: torch.Generator, n_outputs: int,
                  dfa_state: _DFAState | None = None) -> RuleConv:
        """A RuleConv sharing ``conv``'s Parameters, its random feedback drawn from ``generator``."""
        return cls(conv, rule, generator, n_outputs, dfa_state)

    def forward(self, x: Tensor) -> Tensor:
        token = self._dfa.current if self._dfa is not None else None
        fb = self.feedback if isinstance(self.feedback, nn.Parameter) else None
        return _RuleConvFunction.apply(x, self.weight, self.bias, fb, self, token)  # type: ignore[no-any-return]

    def input_signal(self, delta: Tensor, x: Tensor, weight: Tensor, token: _DFAToken | None) -> Tensor:
        """The signal sent to the layer input for the error ``delta`` (batch, C_out, *out) -> x's shape."""
        rule = "backprop" if self.force_backprop else self.rule
        if rule == "direct-feedback-alignment":
            return self._direct_signal(x, token)
        kernels = {"backprop": lambda: weight, "sign-symmetry": lambda: torch.sign(weight) * weight.abs().mean(),
                   "feedback-alignment": self._random_kernel, "adaptive-feedback-alignment": self._random_kernel}
        if rule not in kernels:
            raise ModelError(unknown_name("learning rule", rule, list(RULES)))
        grad_x, _, _ = _conv_backward(delta, x, kernels[rule](), self, [True, False, False])
        return grad_x  # type: ignore[no-any-return]

    def _random_kernel(self) -> Tensor:
        assert self.feedback is not None
        return self.feedback.detach()

    def _direct_signal(self, x: Tensor, token: _DFAToken | None) -> Tensor:
        """e B_l reshaped to the input: the output error straight to this layer (Nøkland 2016)."""
        if token is None or token.error is None:
            raise ModelError("direct-feedback-alignment found no output error for this backward pass: "
                             "call backward on a loss computed from the model's own output.")
        size = math.prod(x.shape[1:])
        if self.feedback is None or self.feedback.shape[1] != size:
            b = torch.randn((self.n_outputs, size), generator=self._generator, dtype=x.dtype) * self._std
            self.register_buffer("feedback", b.to(x.device), persistent=False)
        assert self.feedback is not None
        error = token.error.reshape(-1, token.error.shape[-1])  # (batch, n_out)
        return (error @ self.feedback.to(error.dtype)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, stride={self.stride}, padding={self.padding}, rule={self.rule}"


def _conv_children(model: nn.Module) -> list[tuple[nn.Module, str, nn.modules.conv._ConvNd]]:
    """(parent, attribute name, layer) for every convolution, in definition order."""
    return [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if isinstance(child, nn.modules.conv._ConvNd)]


def apply_network_rule(model: nn.Module, rule: str, seed: int = 0) -> nn.Module:
    """Make every dense, convolutional and recurrent layer of ``model`` learn with ``rule`` (in place).

    Dense layers become `RuleLinear` (`deepsci.rules.feedback.apply_rule`), convolutions `RuleConv`, and
    nn.RNN / nn.GRU / nn.LSTM `deepsci.rules.recurrent.RuleRecurrent` (random feedback through time). Forward
    outputs and the state-dict keys of the weights are unchanged. For direct feedback alignment the model's
    output must come from its last nn.Linear (the head), as for dense networks.

    Raises:
        ModelError: an unknown rule, a model with no dense layer, a layer the rules do not cover.
    """
    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()):
        raise ModelError(f"rule '{rule}' covers dense, convolutional and recurrent layers; this network has "
                         "attention (nn.MultiheadAttention), which the rules do not cover. Set train.rule = "
                         "'backprop'.")
    apply_rule(model, rule, seed=seed)
    heads = [m for m in model.modules() if isinstance(m, RuleLinear)]
    state = heads[0]._dfa if heads else None
    n_outputs = heads[-1].out_features
    gen = torch.Generator().manual_seed(int(seed) + 1)  # apart from the dense layers' stream
    for parent, name, conv in _conv_children(model):
        setattr(parent, name, RuleConv.from_conv(conv, rule, gen, n_outputs, state))
    apply_recurrent_rule(model, rule, gen, n_outputs, state)
    return model
