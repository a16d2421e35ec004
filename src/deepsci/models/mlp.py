"""The multilayer perceptron: the dense network every other part of deepsci can train, probe or stack.

Layout (kept flat on purpose, so ensembles, learning rules and probes can walk it):
    layers = Sequential(Linear, [BatchNorm1d], activation, [Dropout], ..., Linear head)
The head emits raw values: regression outputs, or logits (binary: 1, multiclass: k) that the loss and
`predict_proba` turn into probabilities.

Monotone outputs (`increasing`, `decreasing`: input columns), where physics demands them (a galaxy's stellar
mass rises with its luminosity): the first layer's weights on those columns are constrained to >= 0 (<= 0 for
decreasing), every later layer's weights to >= 0, and the activation must be non-decreasing. Then every path
from such an input to an output is a chain of non-decreasing maps, so each output is non-decreasing in the
increasing inputs (non-increasing in the decreasing ones) whatever the other inputs and the training; the
other inputs enter unconstrained. The constraint is a weight parametrisation (W = s |V| where a sign s is
set, torch.nn.utils.parametrize), so the layers stay a flat Sequential of Linear layers (Daniels & Velikova
2010, "Monotone and partially monotone neural networks").
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from deepsci.errors import ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.activations import check_activation
from deepsci.models.arguments import Specified
from deepsci.models.init import check_init, initialise_linear


#: activations that never decrease (a monotone MLP needs one; gelu and silu dip below zero)
MONOTONE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky-relu", "elu", "softplus", "linear", "maxout")


class SignConstrained(nn.Module):
    """A weight parametrisation: W[:, j] -> s_j |W[:, j]| where s_j = +1 or -1, unchanged where s_j = 0.

    signs: (in_features,) of +1, -1 or 0. Shapes: W (out, in) -> (out, in).
    """

    signs: Tensor

    def __init__(self, signs: Tensor) -> None:
        super().__init__()
        self.register_buffer("signs", signs, persistent=False)

    def forward(self, weight: Tensor) -> Tensor:
        signs = self.signs.to(weight.dtype)
        return torch.where(signs == 0, weight, signs * weight.abs())


class MLP(Specified, nn.Module):
    """A dense network: inputs (batch, n_inputs) -> outputs (batch, n_outputs).

    Args:
        n_inputs, n_outputs: widths of the input and of the head.
        hidden: widths of the hidden layers, e.g. (64, 64); () gives a linear model.
        activation: a name from `deepsci.models.activations.ACTIVATIONS`.
        dropout: probability of zeroing a hidden unit in training (0 disables).
        batch_norm: batch normalisation after each hidden Linear (Ioffe & Szegedy 2015).
        maxout_pieces: k for maxout (each hidden Linear then has k * width outputs).
        leaky_slope: negative slope of leaky-relu.
        init: a name from `deepsci.models.init.INITS`; cw, cb for "gaussian".
        increasing, decreasing: input columns in which every output is monotone (module docstring); they need
            an activation of MONOTONE_ACTIVATIONS and no batch norm.
        seed: seeds the initial weights (one torch.Generator, nothing global).
    """

    KIND = "mlp"

    def __init__(self, n_inputs: int, n_outputs: int, hidden: Sequence[int] = (64, 64),
                 activation: str = "relu", *, dropout: float = 0.0, batch_norm: bool = False,
                 maxout_pieces: int = 2, leaky_slope: float = 0.01, init: str = "default",
                 cw: float | None = None, cb: float | None = None, increasing: Sequence[int] = (),
                 decreasing: Sequence[int] = (), seed: int = 0) -> None:
        super().__init__()
        check_activation(activation)
        check_init(init)
        if n_inputs < 1 or n_outputs < 1 or any(h < 1 for h in hidden):
            raise ModelError(f"layer widths must be positive: n_inputs={n_inputs}, hidden={list(hidden)}, "
                             f"n_outputs={n_outputs}.")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"dropout must be in [0, 1), got {dropout}.")
        s = self.hparams
        layers: list[nn.Module] = []  # flat: Linear, [BatchNorm1d], activation, [Dropout], ..., Linear head
        width, pieces = s["n_inputs"], s["maxout_pieces"] if s["activation"] == "maxout" else 1
        for h in s["hidden"]:
            layers.append(nn.Linear(width, h * pieces))
            if s["batch_norm"]:
                layers.append(nn.BatchNorm1d(h * pieces))
            layers.append(make_activation(s["activation"], slope=s["leaky_slope"], pieces=s["maxout_pieces"]))
            if s["dropout"] > 0:
                layers.append(nn.Dropout(s["dropout"]))
            width = h
        layers.append(nn.Linear(width, s["n_outputs"]))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters(seed)
        if increasing or decreasing:
            self._constrain_signs()

    def _constrain_signs(self) -> None:
        """Parametrise the weights so the outputs are monotone in the `increasing` / `decreasing` columns."""
        s = self.hparams
        both = set(s["increasing"]) & set(s["decreasing"])
        outside = [j for j in (*s["increasing"], *s["decreasing"]) if not 0 <= j < s["n_inputs"]]
        if both or outside:
            raise ModelError(f"monotone columns must be distinct inputs 0..{s['n_inputs'] - 1}; received increasing="
                             f"{s['increasing']}, decreasing={s['decreasing']}.")
        if s["activation"] not in MONOTONE_ACTIVATIONS or s["batch_norm"]:
            raise ModelError(f"monotone outputs need a non-decreasing activation ({', '.join(MONOTONE_ACTIVATIONS)}) "
                             f"and no batch norm; received activation '{s['activation']}', batch_norm="
                             f"{s['batch_norm']}.")
        first = torch.zeros(s["n_inputs"])
        first[list(s["increasing"])], first[list(s["decreasing"])] = 1.0, -1.0
        for i, layer in enumerate(m for m in self.layers if isinstance(m, nn.Linear)):
            signs = first if i == 0 else torch.ones(layer.in_features)
            parametrize.register_parametrization(layer, "weight", SignConstrained(signs))

    def reset_parameters(self, seed: int) -> None:
        """Re-draw every weight from one generator seeded with `seed` (same seed, same network)."""
        s = self.hparams
        generator = torch.Generator().manual_seed(seed)
        linears = [m for m in self.layers if isinstance(m, nn.Linear)]
        for i, layer in enumerate(linears):
            # The head of a critical (gaussian) network keeps the same (C_b, C_W); other schemes
            # initialise the head with the same rule as the hidden layers.
            act = s["activation"] if i < len(linears) - 1 else "linear"
            initialise_linear(layer, s["init"], activation=act, generator=generator,
                              cw=s["cw"], cb=s["cb"], slope=s["leaky_slope"])
        for m in self.layers:
            if isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (batch, n_outputs)

