"""Learning rules for recurrent layers (nn.RNN, nn.GRU, nn.LSTM): random feedback through time.

A recurrent layer has two dense maps per step, the input projection x_t W_ih^T + b_ih and the recurrent one
h_(t-1) W_hh^T + b_hh. Backpropagation through time sends the gates' error to x_t through W_ih and to h_(t-1)
through W_hh; here, as for dense layers (`deepsci.rules.feedback`), only those two signals change:

    feedback-alignment   fixed random B_ih, B_hh of the weights' shapes: random feedback through time
                         (Lillicrap et al. 2016's rule applied at every step of the unrolled network)
    sign-symmetry        sign(W) · mean|W| for both (Liao, Leibo & Poggio 2016)
    backprop             W itself: exactly backpropagation through time (checked against nn.GRU/LSTM's autograd)

and the weight updates stay the local products of each gate's error with x_t and h_(t-1). `RuleRecurrent` runs
the cell step by step in Python (PyTorch's fused kernels have no hook for another feedback matrix), so it is
slower than nn.GRU for long sequences. It keeps the recurrent module's Parameters under their own names, takes
and returns what nn.RNN/GRU/LSTM take and return (batch-first tensors or packed sequences, h_n or (h_n, c_n)).

Direct feedback alignment (the output error sent to every step's state) and adaptive feedback alignment are not
defined here for recurrent layers; they are refused with the rules that are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from deepsci.errors import ModelError
from deepsci.rules.feedback import _DFAState

RECURRENT_RULES = ("backprop", "feedback-alignment", "sign-symmetry")


class _RuleMatmul(torch.autograd.Function):
    """y = x W^T + b whose backward to x goes through `feedback` (None: W, i.e. backprop)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None,  # type: ignore[override]
                feedback: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight, feedback)
        ctx.has_bias = bias is not None
        return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight, feedback = ctx.saved_tensors
        g2 = grad_out.reshape(-1, grad_out.shape[-1])  # (rows, out)
        grad_x = (grad_out @ (weight if feedback is None else feedback)) if ctx.needs_input_grad[0] else None
        grad_w = g2.t() @ x.reshape(-1, x.shape[-1])  # (out, in): the local update every rule shares
        grad_b = g2.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None


def _gru_step(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """PyTorch's GRU cell from the projections gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh (gates r, z, n)."""
    ir, iz, i_n = gi.chunk(3, -1)
    hr, hz, h_n = gh.chunk(3, -1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def _lstm_step(gi: Tensor, gh: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """PyTorch's LSTM cell (gates i, f, g, o)."""
    i, f, g, o = (gi + gh).chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RuleRecurrent(nn.Module):
    """An nn.RNN / nn.GRU / nn.LSTM (batch_first) run step by step, its feedback chosen by a learning rule.

    Shares the Parameters of the layer it replaces (same names: weight_ih_l0, weight_hh_l0_reverse, ...);
    feedback matrices are buffers that are not saved (`persistent=False`), redrawn from the run's seed.
    """

    def __init__(self, rnn: nn.RNNBase, rule: str, generator: torch.Generator) -> None:
        super().__init__()
        if rule not in RECURRENT_RULES:
            raise ModelError(f"rule '{rule}' is not defined for recurrent layers; use one of "
                             f"{', '.join(RECURRENT_RULES)} for a network with {type(rnn).__name__}.")
        if not rnn.batch_first or rnn.proj_size:
            raise ModelError("learning rules cover batch-first recurrent layers without projections; build the "
                             "layer with batch_first=True and proj_size=0, or train with rule = 'backprop'.")
        self.mode, self.rule = rnn.mode, rule
        self.hidden_size, self.num_layers = rnn.hidden_size, rnn.num_layers
        self.directions = 2 if rnn.bidirectional else 1
        self.dropout = rnn.dropout
        self.nonlinearity = getattr(rnn, "nonlinearity", "tanh")
        self.names = list(rnn._flat_weights_names)
        for name in self.names:
            self.register_parameter(name, getattr(rnn, name))
            if name.startswith("weight"):
                self.register_buffer(f"feedback_{name}", self._feedback(getattr(rnn, name), rule, generator),
                                     persistent=False)

    @staticmethod
    def _feedback(weight: Tensor, rule: str, generator: torch.Generator) -> Tensor | None:
        if rule != "feedback-alignment":
            return None
        w = weight.detach()
        return torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device) * float(w.std())

    def _project(self, x: Tensor, name: str) -> Tensor:
        """x W^T + b for the weights `name` (e.g. "ih_l0"), with the rule's feedback to x."""
        weight: Tensor = getattr(self, f"weight_{name}")
        bias = getattr(self, f"bias_{name}", None)
        feedback = {"backprop": None, "feedback-alignment": getattr(self, f"feedback_weight_{name}", None),
                    "sign-symmetry": torch.sign(weight.detach()) * weight.detach().abs().mean()}[self.rule]
        return _RuleMatmul.apply(x, weight, bias, feedback)  # type: ignore[no-any-return]

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple[Any, Any]:
        packed = isinstance(input, PackedSequence)
        if isinstance(input, PackedSequence):
            x, lengths = pad_packed_sequence(input, batch_first=True)  # rows in the caller's order
        else:
            x, lengths = input, torch.full((input.shape[0],), input.shape[1], dtype=torch.int64)
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]  # (B, T) real steps
        states = self._initial(hx, x)
        finals: list[tuple[Tensor, ...]] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                out, final = self._run(layer_in, mask.to(x.device), lengths, layer, direction,
                                       tuple(s[k] for s in states))
                outs.append(out)
                finals.append(final)
            layer_in = torch.cat(outs, -1) if len(outs) > 1 else outs[0]
            if layer < self.num_layers - 1 and self.dropout > 0:
                layer_in = nn.functional.dropout(layer_in, self.dropout, self.training)
        h_n = torch.stack([f[0] for f in finals])
        state: Any = (h_n, torch.stack([f[1] for f in finals])) if self.mode == "LSTM" else h_n
        if packed:
            return pack_padded_sequence(layer_in, lengths, batch_first=True, enforce_sorted=False), state
        return layer_in, state

    def _initial(self, hx: Any, x: Tensor) -> tuple[Tensor, ...]:
        """The initial states, each (layers * directions, B, H)."""
        if hx is not None:
            return tuple(hx) if isinstance(hx, tuple) else (hx,)
        zeros = x.new_zeros(self.num_layers * self.directions, x.shape[0], self.hidden_size)
        return (zeros, zeros) if self.mode == "LSTM" else (zeros,)

    def _run(self, x: Tensor, mask: Tensor, lengths: Tensor, layer: int, direction: int,
             state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One layer in one direction over (B, T, I): its outputs (B, T, H), zero on padded steps, and final state."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        if direction:  # each row reversed within its own length
            order = _reversal(lengths, x.shape[1]).to(x.device)
            x = x.gather(1, order[..., None].expand_as(x))
        gi = self._project(x, f"ih{suffix}")  # (B, T, G·H), all steps at once
        outs = []
        for t in range(x.shape[1]):
            gh = self._project(state[0], f"hh{suffix}")
            new = self._cell(gi[:, t], gh, state)
            keep = mask[:, t, None]
            state = tuple(torch.where(keep, n, s) for n, s in zip(new, state))
            outs.append(torch.where(keep, state[0], torch.zeros_like(state[0])))
        out = torch.stack(outs, 1)
        if direction:
            out = out.gather(1, order[..., None].expand_as(out))  # the reversal is its own inverse
        return out, state

    def _cell(self, gi: Tensor, gh: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if self.mode == "GRU":
            return (_gru_step(gi, gh, state[0]),)
        if self.mode == "LSTM":
            return _lstm_step(gi, gh, state[0], state[1])
        return ((torch.relu if self.nonlinearity == "relu" else torch.tanh)(gi + gh),)


def _reversal(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) indices that reverse each row's first `length` steps and leave its padding in place."""
    t = torch.arange(steps)[None, :]
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


def apply_recurrent_rule(model: nn.Module, rule: str, generator: torch.Generator, n_outputs: int,
                         dfa_state: _DFAState | None) -> None:
    """Swap every nn.RNN / nn.GRU / nn.LSTM of `model` for a `RuleRecurrent` learning with `rule` (in place)."""
    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, nn.RNNBase)]
    for parent, name, rnn in found:
        setattr(parent, name, RuleRecurrent(rnn, rule, generator))
