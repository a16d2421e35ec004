"""Several inputs at once (an image and a table of metadata; a sequence and a set): one encoder per input.

    inputs {name: tensor, name_mask: mask}  ->  encoder_name (its network without the head)  -> (n, f_name)
                                            ->  concat over names (sorted)                    -> (n, sum f)
                                            ->  MLP head                                      -> (n, n_outputs)

Each encoder is any single-input deepsci network (MLP, CNN, RNN, transformer, Deep Sets, Set
Transformer, the D4/C4-equivariant CNN, the Lorentz network) whose last Linear layer, its head, is replaced
by the identity, so it emits the features its head would read. The symmetric encoders keep their promise
inside: their features are already invariant (pooled over the group; built from Minkowski products), so the
whole model's output does not change when that input is rotated or flipped, or its event boosted or rotated.
forward(**inputs) takes the names as keyword arguments, as `deepsci.data.batch` passes them.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified
from deepsci.models.init import seeded
from deepsci.models.registry import model_from_spec
from deepsci.models.specs import ENCODER_KINDS
from deepsci.models.transformer import mlp_head


def strip_head(model: nn.Module) -> int:
    """Replace `model`'s last Linear layer (its head) by the identity in place; returns that layer's in_features."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(f"{type(model).__name__} has no Linear head to strip; it cannot be an encoder.")
    name, layer = linears[-1]
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential):
        parent[int(attr)] = nn.Identity()
    else:
        setattr(parent, attr, nn.Identity())
    return int(layer.in_features)


class MultiInput(Specified, nn.Module):
    """One encoder per named input, features concatenated, then an MLP head.

    Args:
        encoders: {input name: spec of a single-input model} (`model.spec()` of an MLP, CNN, ...). The
            specs' own heads are stripped, so their n_outputs does not matter.
        n_outputs: head width.
        hidden: head widths after concatenation; dropout: before each head Linear.
        activation: "relu" or "gelu" in the head. seed: seeds the head.

    Shapes: forward(**{name: x_name, f"{name}_mask": mask_name}) -> (batch, n_outputs).
    """

    KIND = "multi"

    def __init__(self, encoders: dict[str, dict[str, Any]], n_outputs: int, *, hidden: Sequence[int] = (64,),
                 dropout: float = 0.0, activation: str = "relu", seed: int = 0) -> None:
        super().__init__()
        if not encoders:
            raise ModelError("a multi-input model needs at least one named input encoder.")
        self.names = sorted(encoders)
        self.encoders = nn.ModuleDict()
        width = 0
        for name in self.names:
            kind = str(encoders[name].get("kind"))
            if kind not in ENCODER_KINDS:
                raise ModelError(f"input '{name}': a '{kind}' model cannot be an encoder; use "
                                 f"{', '.join(ENCODER_KINDS[:-1])} or {ENCODER_KINDS[-1]}.")
            encoder = model_from_spec(encoders[name])
            width += strip_head(encoder)
            self.encoders[name] = encoder
        with seeded(seed):
            self.head = mlp_head(width, hidden, int(n_outputs), dropout, "gelu" if activation == "gelu" else "relu")

    def forward(self, **inputs: Tensor) -> Tensor:
        missing = [n for n in self.names if n not in inputs]
        known = set(self.names) | {f"{n}_mask" for n in self.names}
        extra = [k for k in inputs if k not in known]
        if missing or extra:
            raise ModelError(f"this model takes inputs {self.names} (and <name>_mask for masked ones); received "
                             f"{sorted(inputs)}" + (f", missing {missing}" if missing else "")
                             + (f", unknown {extra}" if extra else "") + ".")
        parts = []
        for name in self.names:
            mask = inputs.get(f"{name}_mask")
            encoder = self.encoders[name]
            parts.append(encoder(inputs[name]) if mask is None else encoder(inputs[name], mask))
        return self.head(torch.cat(parts, dim=1))  # (batch, n_outputs)
