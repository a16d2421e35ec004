"""Deep ensembles of any network: CNNs, recurrent nets, transformers, set networks, as well as MLPs.

`deepsci.training.ensemble` stacks the K members of an MLP into one module of batched matmuls (~2x one member's
time for K = 8). A convolutional, recurrent or attention network does not reduce to stacked matmuls, so its K
members are held side by side (`MemberEnsemble`) and each step runs them one after another on the same batch:
K times one member's arithmetic, with one optimiser, one loss and one Trainer loop. The loss is the same
`ensemble_loss` (the sum of the members' mean losses), so each member's gradient, and its Adam update, is
exactly what it would be trained alone (Lakshminarayanan, Pritzel & Blundell 2017): the members differ by
their initial weights (seeds seed + k) and by their dropout masks. `torch.func.stack_module_state` with
`functional_call` under `vmap` would batch the members' arithmetic as well, but vmap cannot update batch
norm's running statistics in place, and the time-series networks (deepsci.models.presets) all use batch norm;
the sequential form serves every network.

A `MemberEnsemble` answers the interface of `StackedMLP` that the rest of the house reads (it subclasses it
for that, and builds nothing of it): `members`, `member_spec` (model.json), `member_state_dict` and
`load_member_state_dict` (model.safetensors: each key of one member with a leading K dimension), `unstack`,
and forward(...) -> (K, batch, ...), so inference joins its batches on dim 1, and the K-fold members of CV+
bands (`HeldOutLoss`) and the ensembles' calibrated probabilities work unchanged.

Not covered: bootstrap resamples (a batch per member, (K, B, ...)), which only the stacked MLP reads.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.training.ensemble import StackedMLP, build_ensemble

Tensor = torch.Tensor

__all__ = ["MemberEnsemble", "build_any_ensemble", "stack_any"]


def _stackable(model: nn.Module) -> bool:
    """True when `model` stacks into a StackedMLP (its layers one nn.Sequential) or holds its own members."""
    return isinstance(getattr(model, "layers", model), nn.Sequential) or callable(getattr(model, "as_ensemble", None))


def _check_same_architecture(models: Sequence[nn.Module]) -> None:
    shapes = [[(name, tuple(t.shape)) for name, t in m.state_dict().items()] for m in models]
    for k in range(1, len(models)):
        if shapes[k] != shapes[0] or type(models[k]) is not type(models[0]):
            raise ModelError(f"ensemble members must be built identically (only the seed may differ); member {k} "
                             f"is a {type(models[k]).__name__} with tensors {shapes[k][:3]}..., member 0 a "
                             f"{type(models[0]).__name__} with {shapes[0][:3]}... Build every member from one spec.")


class MemberEnsemble(StackedMLP):
    """K identically-built networks of any kind held side by side (module docstring); forward -> (K, batch, ...).

    Args:
        models: K >= 1 networks of one class and architecture (usually one spec with K seeds). They are held as
            given (not copied): training them trains the ensemble.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        nn.Module.__init__(self)  # StackedMLP's interface only: its stacked layers are not built
        models = list(models)
        if not models:
            raise ModelError("an ensemble needs at least one member; received an empty list.")
        _check_same_architecture(models)
        self.members = len(models)
        self.nets = nn.ModuleList(models)
        spec = getattr(models[0], "spec", None)
        self.member_spec: dict[str, Any] | None = spec() if callable(spec) else None

    def forward(self, *inputs: Any, **named: Any) -> Tensor:  # type: ignore[override]
        """Every member on the same batch: (K, batch, ...), member first."""
        return torch.stack([net(*inputs, **named) for net in self.nets])

    def member_state_dict(self) -> dict[str, Tensor]:
        """Each key of one member's state_dict with a leading K dimension (safetensors; as StackedMLP writes)."""
        states = [net.state_dict() for net in self.nets]
        return {name: torch.stack([s[name] for s in states]).contiguous() for name in states[0]}

    def load_member_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load tensors written by `member_state_dict`."""
        expected = set(self.nets[0].state_dict())
        if set(state) != expected:
            raise ModelError(f"ensemble weights do not match this network: missing {sorted(expected - set(state))[:5]}"
                             f", unexpected {sorted(set(state) - expected)[:5]}. Load weights saved from an ensemble "
                             "with the same spec.")
        for k, net in enumerate(self.nets):
            net.load_state_dict({name: t[k] for name, t in state.items()})

    def unstack(self) -> list[nn.Module]:
        """K independent copies of the members, with the current weights and mode."""
        return [copy.deepcopy(net) for net in self.nets]

    def extra_repr(self) -> str:
        return f"members={self.members}"


def stack_any(models: Sequence[nn.Module]) -> StackedMLP:
    """K identically-built networks as one ensemble module: a StackedMLP where they stack, else a MemberEnsemble."""
    models = list(models)
    if models and isinstance(getattr(models[0], "layers", models[0]), nn.Sequential):
        return StackedMLP(models)
    return MemberEnsemble(models)


def build_any_ensemble(make_member: Callable[[int], nn.Module], members: int, seed: int = 0) -> nn.Module:
    """K members make_member(seed + k) as one ensemble module of any network (`build_ensemble` where it stacks)."""
    if members < 1:
        raise ModelError(f"an ensemble needs members >= 1, got {members}. Set uncertainty.members to e.g. 8.")
    first = make_member(seed)
    if _stackable(first):
        return build_ensemble(lambda s: first if s == seed else make_member(s), members, seed=seed)
    return MemberEnsemble([first] + [make_member(seed + k) for k in range(1, members)])
