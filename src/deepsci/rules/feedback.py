"""Learning rules for dense layers: what the backward pass sends to a layer's input.

Backpropagation sends the error ``delta`` of a dense layer ``y = x W^T + b`` to its input as
``delta W`` (the transposed forward weights). The rules here keep the forward pass and the local
weight update ``dW = delta^T x`` unchanged and replace only that feedback signal:

====================================  ==========================================================
rule                                  signal sent to the layer input
====================================  ==========================================================
``backprop``                          ``delta W``                       (the true gradient)
``feedback-alignment``                ``delta B``, B fixed random       (Lillicrap et al. 2016)
``sign-symmetry``                     ``delta sign(W) * mean|W|``       (Liao, Leibo & Poggio 2016)
``adaptive-feedback-alignment``       ``delta B``, B learns with ``dB = dW``  (Baldi et al. 2018)
``direct-feedback-alignment``         ``e B_l``: the output error e straight to every layer
                                      through a fixed random ``B_l``    (Nøkland 2016)
====================================  ==========================================================

Each ``nn.Linear`` of a model is swapped for a :class:`RuleLinear` that keeps the same weight and
bias ``Parameter`` objects, so any torch optimiser, schedule and the Trainer work unchanged.

References:
    Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7, 13276.
    Nøkland (2016), NeurIPS, "Direct feedback alignment provides learning in deep neural networks".
    Liao, Leibo & Poggio (2016), AAAI, "How important is weight symmetry in backpropagation?".
    Baldi, Sadowski & Lu (2018), Artif. Intell. 260, "Learning in the machine: random
    backpropagation and the deep learning channel".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError, unknown_name
from deepsci.training.names import RULES as RULE_NAMES

RULES: dict[str, str] = {
    "backprop": "the transposed forward weights W^T (the true gradient)",
    "feedback-alignment": "a fixed random matrix B per layer",
    "direct-feedback-alignment": "the output error through a fixed random matrix B_l to every layer",
    "sign-symmetry": "sign(W) scaled by mean |W|: the sign of the forward weights, not their size",
    "adaptive-feedback-alignment": "a random matrix B per layer that learns with the same update as W",
}
if tuple(RULES) != RULE_NAMES:  # one vocabulary: deepsci.config validates against training.names
    raise ImportError(f"rules.feedback implements {tuple(RULES)} but training.names lists {RULE_NAMES}")


class _DFAState:
    """The output error of the current forward pass, shared by all layers of one DFA model."""

    def __init__(self) -> None:
        self.current: _DFAToken | None = None


class _DFAToken:
    """One forward pass: filled with the output error e (batch, n_out) when backward starts."""

    def __init__(self) -> None:
        self.error: Tensor | None = None


class _RuleLinearFunction(torch.autograd.Function):
    """y = x W^T + b whose backward to x is chosen by the layer's rule; dW, db stay local."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor | None,
                layer: RuleLinear, token: _DFAToken | None) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        ctx.token = token
        ctx.has_bias = bias is not None
        ctx.has_feedback = feedback is not None
        return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        layer: RuleLinear = ctx.layer
        g2 = grad_out.reshape(-1, grad_out.shape[-1])  # (batch, out)
        x2 = x.reshape(-1, x.shape[-1])  # (batch, in)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = layer.input_signal(g2, weight, ctx.token).reshape(x.shape)
        grad_w = g2.t() @ x2  # (out, in): the local update every rule shares
        grad_b = g2.sum(0) if ctx.has_bias else None
        # adaptive FA: the feedback matrix receives the same local update as the forward weights.
        grad_fb = grad_w if ctx.has_feedback and ctx.needs_input_grad[3] else None
        return grad_x, grad_w, grad_b, grad_fb, None, None


class RuleLinear(nn.Linear):
    """A dense layer whose backward signal follows a learning rule (see the module docstring).

    Built with :meth:`from_linear`, it shares the weight and bias Parameters of the layer it replaces.

    Attributes:
        rule: one of ``RULES``.
        feedback: (out, in) fixed random B (feedback-alignment, a buffer), learned B
            (adaptive-feedback-alignment, a Parameter), (n_outputs, in) B_l for
            direct-feedback-alignment (a buffer), or None.
        force_backprop: when True the layer sends ``delta W`` whatever its rule (used by the
            alignment diagnostics to get the true gradient from the same model).
    """

    feedback: Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rule: str = "backprop") -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.rule = rule
        self.force_backprop = False
        self._dfa: _DFAState | None = None
        self.register_buffer("feedback", None)

    @classmethod
    def from_linear(cls, linear: nn.Linear, rule: str, generator: torch.Generator,
                    n_outputs: int | None = None, dfa_state: _DFAState | None = None) -> RuleLinear:
        """A RuleLinear sharing ``linear``'s Parameters, with its feedback drawn from ``generator``.

        Random feedback has the standard deviation of the forward weights at the time of the swap,
        so the backward signal starts at the size backprop's would have.
        """
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = linear.in_features, linear.out_features
        new.weight = linear.weight
        new.bias = linear.bias  # type: ignore[assignment]
        new.rule = rule
        new.force_backprop = False
        new._dfa = dfa_state
        w = linear.weight.detach()
        std = float(w.std()) if w.numel() > 1 else 1.0
        if rule in ("feedback-alignment", "adaptive-feedback-alignment"):
            b = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device) * std
            if rule == "feedback-alignment":
                new.register_buffer("feedback", b)
            else:
                new.feedback = nn.Parameter(b)  # type: ignore[assignment]
        elif rule == "direct-feedback-alignment":
            if n_outputs is None:
                raise ModelError("direct-feedback-alignment needs the number of model outputs; received None.")
            b = torch.randn((n_outputs, w.shape[1]), generator=generator, dtype=w.dtype).to(w.device) * std
            new.register_buffer("feedback", b)
        else:
            new.register_buffer("feedback", None)
        return new

    def forward(self, x: Tensor) -> Tensor:
        token = self._dfa.current if self._dfa is not None else None
        fb = self.feedback if isinstance(self.feedback, nn.Parameter) else None
        return _RuleLinearFunction.apply(x, self.weight, self.bias, fb, self, token)  # type: ignore[no-any-return]

    def input_signal(self, delta: Tensor, weight: Tensor, token: _DFAToken | None) -> Tensor:
        """The signal sent to the layer input for the error ``delta`` (batch, out) -> (batch, in)."""
        rule = "backprop" if self.force_backprop else self.rule
        if rule == "backprop":
            return delta @ weight
        if rule == "sign-symmetry":
            return delta @ (torch.sign(weight) * weight.abs().mean())
        if rule in ("feedback-alignment", "adaptive-feedback-alignment"):
            assert self.feedback is not None
            return delta @ self.feedback.detach()
        if rule == "direct-feedback-alignment":
            assert self.feedback is not None
            if token is None or token.error is None:
                raise ModelError("direct-feedback-alignment found no output error for this backward pass: "
                                 "call backward on a loss computed from the model's own output.")
            return token.error.reshape(-1, token.error.shape[-1]) @ self.feedback
        raise ModelError(unknown_name("learning rule", rule, list(RULES)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rule={self.rule}"


def _linear_children(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute name, layer) for every nn.Linear in forward-definition order."""
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found.append((parent, name, child))
    return found


def apply_rule(model: nn.Module, rule: str, seed: int = 0) -> nn.Module:
    """Make ``model`` learn with ``rule``: swap every nn.Linear for a rule-aware RuleLinear.

    The model is changed in place and returned. Forward outputs are unchanged; weight and bias
    Parameters are the same objects, so build the optimiser after (or before, for every rule but
    adaptive-feedback-alignment, whose feedback matrices are new Parameters).

    Args:
        model: any module whose dense layers are nn.Linear (e.g. deepsci's MLP). For
            direct-feedback-alignment the model's output must come from its last nn.Linear (the head)
            and be what the loss sees: its gradient is the error e sent to every layer.
        rule: one of ``RULES``.
        seed: seeds the torch.Generator that draws every random feedback matrix.

    Returns:
        The same module, now learning with ``rule``.

    Raises:
        ModelError: unknown rule, no nn.Linear in the model, or a rule applied twice.
    """
    if rule not in RULES:
        raise ModelError(unknown_name("learning rule", rule, list(RULES)))
    if any(isinstance(m, RuleLinear) for m in model.modules()):
        raise ModelError("apply_rule: this model already has a learning rule; build a fresh model to change it.")
    layers = _linear_children(model)
    if not layers:
        raise ModelError(f"apply_rule: {type(model).__name__} has no nn.Linear layer to apply '{rule}' to.")
    gen = torch.Generator().manual_seed(int(seed))
    n_outputs = layers[-1][2].out_features
    state = _DFAState() if rule == "direct-feedback-alignment" else None
    for parent, name, linear in layers:
        setattr(parent, name, RuleLinear.from_linear(linear, rule, gen, n_outputs=n_outputs, dfa_state=state))
    if state is not None:
        _install_dfa_hooks(model, state)
    return model


def _install_dfa_hooks(model: nn.Module, state: _DFAState) -> None:
    """Capture dL/d(output) of every forward pass in a token the layers' backward reads."""

    def pre_hook(module: nn.Module, args: Any) -> None:
        state.current = _DFAToken()

    def post_hook(module: nn.Module, args: Any, output: Any) -> None:
        token = state.current
        if token is None or not isinstance(output, Tensor) or not output.requires_grad:
            return

        def capture(grad: Tensor) -> None:
            token.error = grad.detach()

        output.register_hook(capture)

    model.register_forward_pre_hook(pre_hook)
    model.register_forward_hook(post_hook)


def rule_of(model: nn.Module) -> str:
    """The learning rule a model was given with apply_rule ("backprop" if none)."""
    for m in model.modules():
        if isinstance(m, RuleLinear):
            return m.rule
    return "backprop"


def rule_layers(model: nn.Module) -> list[RuleLinear]:
    """The model's RuleLinear layers, input to output."""
    return [m for m in model.modules() if isinstance(m, RuleLinear)]


@contextmanager
def true_gradient_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within this block every RuleLinear of ``model`` backpropagates exactly (``delta W``)."""
    layers = rule_layers(model)
    before = [m.force_backprop for m in layers]
    for m in layers:
        m.force_backprop = True
    try:
        yield model
    finally:
        for m, b in zip(layers, before):
            m.force_backprop = b
