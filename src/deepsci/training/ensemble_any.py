"""Deep ensembles of any network: CNNs, recurrent nets, transformers, set networks, as well as MLPs.

`deepsci.training.ensemble` stacks the K members of an MLP into one module of batched matmuls (~2x one member's
time for K = 8). Other networks have two forms here, each trained by the one Trainer on the same `ensemble_loss`
(the sum of the members' mean losses), so each member's gradient, and its Adam update, is exactly what it would
be trained alone (Lakshminarayanan, Pritzel & Blundell 2017): the members differ by their initial weights (seeds
seed + k) and by their dropout masks.

- `MemberEnsemble` (sequential, the default): the K members side by side, each step runs them one after another
  on the same batch: K times one member's arithmetic and overhead. It serves every network.
- `VmapEnsemble` (vectorised): the members' parameters stacked (K, ...) with `torch.func.stack_module_state`, and
  one forward `vmap`s `functional_call` over them, so each layer runs once for all K members. vmap cannot update
  batch norm's running statistics in place (and the time-series presets all use batch norm), so a network with
  batch norm is refused (`vectorisable` says why); recurrent layers (torch's fused RNN kernels) and packed
  sequences have no vmap rule either. On this 2-core CPU it is no faster than the sequential form at the sizes
  measured (benchmarks/ensemble_coverage.py `--speed`, docs/uncertainty.md), so it is offered, not the default.

Both answer the interface of `StackedMLP` that the rest of the house reads (they subclass it for that, and build
nothing of it): `members`, `member_spec` (model.json), `member_state_dict` and `load_member_state_dict`
(model.safetensors: each key of one member with a leading K dimension), `unstack`, and forward(...) ->
(K, batch, ...), so inference joins its batches on dim 1, and the K-fold members of CV+ bands (`HeldOutLoss`)
and the ensembles' calibrated probabilities and conformal sets work unchanged.

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

__all__ = ["MemberEnsemble", "VmapEnsemble", "build_any_ensemble", "stack_any", "vectorisable"]


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


def _members(models: Sequence[nn.Module]) -> list[nn.Module]:
    """The members as a list: at least one, all of one class and architecture (ModelError otherwise)."""
    models = list(models)
    if not models:
        raise ModelError("an ensemble needs at least one member; received an empty list.")
    _check_same_architecture(models)
    return models


class MemberEnsemble(StackedMLP):
    """K identically-built networks of any kind held side by side (module docstring); forward -> (K, batch, ...).

    Args:
        models: K >= 1 networks of one class and architecture (usually one spec with K seeds). They are held as
            given (not copied): training them trains the ensemble.
    """

    FORM = "sequential"

    def __init__(self, models: Sequence[nn.Module]) -> None:
        nn.Module.__init__(self)  # StackedMLP's interface only: its stacked layers are not built
        models = _members(models)
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


def vectorisable(model: nn.Module) -> str | None:
    """Why `model`'s members cannot be vmapped over stacked parameters (`VmapEnsemble`), or None when they can.

    Refused: batch norm that tracks running statistics (vmap cannot update them in place) and torch's recurrent
    layers (fused kernels without a vmap rule, and packed sequences)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            return f"{name} is batch norm (vmap cannot update its running statistics)"
        if isinstance(module, nn.RNNBase):
            return f"{name} is a recurrent layer (torch's fused RNN kernels have no vmap rule)"
    return None


def _flat(name: str) -> str:
    """A dotted state_dict name as one attribute name ("head.1.weight" -> "head__1__weight")."""
    return name.replace(".", "__")


class VmapEnsemble(StackedMLP):
    """K identically-built networks as stacked parameters (K, ...) run with torch.func.vmap; forward -> (K, batch, ...).

    The members' parameters and buffers are stacked (`torch.func.stack_module_state`) into parameters of this
    module, so one optimiser trains them and `member_state_dict` is those tensors themselves. A copy of member 0
    on the meta device gives the architecture; `functional_call` runs it with member k's tensors under `vmap`
    (randomness "different": each member draws its own dropout masks). Networks with batch norm or recurrent
    layers are refused (`vectorisable`).

    Args:
        models: K >= 1 networks of one class and architecture; their current weights are copied.
    """

    FORM = "vectorised"

    def __init__(self, models: Sequence[nn.Module]) -> None:
        nn.Module.__init__(self)  # StackedMLP's interface only: its stacked layers are not built
        models = _members(models)
        why = vectorisable(models[0])
        if why is not None:
            raise ModelError(f"these members cannot be vectorised: {why}. Train them one after another "
                             "(MemberEnsemble, the default), or build the network without it.")
        self.members = len(models)
        params, buffers = torch.func.stack_module_state(models)  # type: ignore[arg-type]
        self._params, self._buffers_names = list(params), list(buffers)
        for name, tensor in params.items():
            self.register_parameter(_flat(name), nn.Parameter(tensor.detach().clone()))
        for name, tensor in buffers.items():
            self.register_buffer(_flat(name), tensor.detach().clone())
        self._base: list[nn.Module] = [copy.deepcopy(models[0]).to("meta")]  # a list: not a registered submodule
        self._base[0].train(self.training)
        spec = getattr(models[0], "spec", None)
        self.member_spec: dict[str, Any] | None = spec() if callable(spec) else None

    def train(self, mode: bool = True) -> "VmapEnsemble":
        """Training / eval mode for this module and the architecture the members run in (dropout reads it)."""
        super().train(mode)
        self._base[0].train(mode)
        return self

    def _stacked(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = {name: getattr(self, _flat(name)) for name in self._params}
        return params, {name: getattr(self, _flat(name)) for name in self._buffers_names}

    def forward(self, *inputs: Any, **named: Any) -> Tensor:  # type: ignore[override]
        """Every member on the same batch: (K, batch, ...), member first."""
        base = self._base[0]

        def member(params: dict[str, Tensor], buffers: dict[str, Tensor], *args: Any) -> Tensor:
            return torch.func.functional_call(base, (params, buffers), args, named)

        params, buffers = self._stacked()
        run = torch.func.vmap(member, in_dims=(0, 0, *([None] * len(inputs))), randomness="different")
        return run(params, buffers, *inputs)  # type: ignore[no-any-return]

    def member_state_dict(self) -> dict[str, Tensor]:
        """Each key of one member's state_dict with a leading K dimension (safetensors; as StackedMLP writes)."""
        params, buffers = self._stacked()
        return {name: t.detach().contiguous() for name, t in {**params, **buffers}.items()}

    def load_member_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load tensors written by `member_state_dict` (of either form)."""
        expected = set(self._params) | set(self._buffers_names)
        if set(state) != expected:
            raise ModelError(f"ensemble weights do not match this network: missing {sorted(expected - set(state))[:5]}"
                             f", unexpected {sorted(set(state) - expected)[:5]}. Load weights saved from an ensemble "
                             "with the same spec.")
        with torch.no_grad():
            for name, tensor in state.items():
                getattr(self, _flat(name)).copy_(tensor)

    def unstack(self) -> list[nn.Module]:
        """K independent networks holding the current weights and mode."""
        device = next(iter(self._stacked()[0].values())).device
        out = []
        for k in range(self.members):
            net = copy.deepcopy(self._base[0]).to_empty(device=device)
            net.load_state_dict({name: t[k] for name, t in self.member_state_dict().items()})
            out.append(net.train(self.training))
        return out

    def extra_repr(self) -> str:
        return f"members={self.members}, vectorised"


def stack_any(models: Sequence[nn.Module], vectorise: bool = False) -> StackedMLP:
    """K identically-built networks as one ensemble module: a StackedMLP where they stack, else a VmapEnsemble
    (`vectorise`) or a MemberEnsemble."""
    models = list(models)
    if models and isinstance(getattr(models[0], "layers", models[0]), nn.Sequential):
        return StackedMLP(models)
    return VmapEnsemble(models) if vectorise else MemberEnsemble(models)


def build_any_ensemble(make_member: Callable[[int], nn.Module], members: int, seed: int = 0,
                       vectorise: bool = False) -> nn.Module:
    """K members make_member(seed + k) as one ensemble module of any network (`build_ensemble` where it stacks;
    `vectorise`: a VmapEnsemble, else a MemberEnsemble)."""
    if members < 1:
        raise ModelError(f"an ensemble needs members >= 1, got {members}. Set uncertainty.members to e.g. 8.")
    first = make_member(seed)
    if _stackable(first):
        return build_ensemble(lambda s: first if s == seed else make_member(s), members, seed=seed)
    return stack_any([first] + [make_member(seed + k) for k in range(1, members)], vectorise=vectorise)
