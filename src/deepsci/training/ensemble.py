"""Vectorised deep ensembles: K identically-built MLPs trained as ONE module with stacked weights.

Deep ensembles (Lakshminarayanan, Pritzel & Blundell 2017) train K networks from independent
initialisations. Run one after another they cost K times one network; on a small CPU problem nearly all
of a step is per-step overhead (Python, dispatcher, autograd, optimiser bookkeeping), so stacking the K
members' weights and running each layer as one batched matmul (`torch.baddbmm`) costs about as many
kernel launches as a single network. Measured on this machine: ~2x one member for K = 8
(benchmarks/ensemble_speed.py), against ~8x for K sequential runs.

Layer by layer (the flat MLP layout of `deepsci.models.mlp`):

    nn.Linear(in, out)      -> StackedLinear: weight (K, in, out), bias (K, 1, out); baddbmm
    nn.BatchNorm1d(F)       -> StackedBatchNorm1d: one BatchNorm1d(K*F) over the (B, K*F) view, so each
                               member keeps its own affine parameters and running statistics
    activation, Dropout,    -> the same module applied to (K, B, F): each acts on the last dim
    Maxout(k)                  (dropout draws an independent mask per member)

Hidden activations are (K, B, F): member first. `forward(x)` takes x (B, d) (every member sees the same
batch) or x (K, B, d) (a batch per member, e.g. bootstrap resamples) and returns (K, B, out).

Training goes through `deepsci.training.Trainer` like every other model (DESIGN.md: one training loop):
`ensemble_loss(loss)` sums the members' mean losses, so each member's gradient is exactly
what it would be alone and Adam (per-parameter, elementwise) gives each member the update it would get
alone, at the same learning rate. Options that couple parameters across members do not keep them
independent: gradient-norm clipping clips the norm of all members together.

K-fold members (cross-conformal bands): `cross_folds` deals the training rows into one fold per member and
`HeldOutLoss` trains member k without fold k and validates it on fold k alone (the stacked model is unchanged).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Literal, Sequence

import torch
from torch import nn

from deepsci.errors import DataError, ModelError
from deepsci.training.losses import PerSampleLoss, per_sample_form

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]

__all__ = ["StackedLinear", "StackedBatchNorm1d", "StackedMLP", "stack_models", "build_ensemble", "is_stacked",
           "ensemble_loss", "bootstrap_indices", "bootstrap_data", "per_member_batch", "EnsembleLoss", "HeldOutLoss",
           "cross_folds", "held_out_loss"]


class StackedLinear(nn.Module):
    """K affine maps applied at once: (K, B, in) -> (K, B, out), y_k = x_k W_k + b_k.

    Weights are stored transposed relative to nn.Linear, (K, in, out), so the forward is one
    `torch.baddbmm(bias, x, weight)` with no transpose.
    """

    def __init__(self, linears: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.members = len(linears)
        self.in_features = linears[0].in_features
        self.out_features = linears[0].out_features
        with torch.no_grad():
            self.weight = nn.Parameter(torch.stack([m.weight.detach().t() for m in linears]).contiguous())
            if linears[0].bias is not None:
                self.bias: nn.Parameter | None = nn.Parameter(
                    torch.stack([m.bias.detach() for m in linears]).unsqueeze(1).contiguous())  # (K, 1, out)
            else:
                self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:  # the same batch for every member
            x = x.unsqueeze(0).expand(self.members, -1, -1)  # (K, B, in), a view
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)  # (K, B, out)

    def member(self, k: int) -> dict[str, Tensor]:
        """Member k's parameters in nn.Linear's layout (weight (out, in), bias (out,))."""
        state = {"weight": self.weight[k].detach().t().contiguous()}
        if self.bias is not None:
            state["bias"] = self.bias[k, 0].detach().clone()
        return state

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


class StackedBatchNorm1d(nn.Module):
    """K BatchNorm1d(F) layers as one BatchNorm1d(K*F) over the (B, K*F) view of (K, B, F).

    Column k*F + j of the view is feature j of member k over that member's batch, so the batch statistics,
    the running statistics and the affine parameters of each member are exactly its own.
    """

    def __init__(self, norms: Sequence[nn.BatchNorm1d]) -> None:
        super().__init__()
        first = norms[0]
        self.members = len(norms)
        self.num_features = first.num_features
        self.norm = nn.BatchNorm1d(self.members * first.num_features, eps=first.eps, momentum=first.momentum,
                                   affine=first.affine, track_running_stats=first.track_running_stats)
        with torch.no_grad():
            if first.affine:
                self.norm.weight.copy_(torch.cat([m.weight for m in norms]))
                self.norm.bias.copy_(torch.cat([m.bias for m in norms]))
            if first.track_running_stats:
                assert self.norm.running_mean is not None and self.norm.running_var is not None
                self.norm.running_mean.copy_(torch.cat([m.running_mean for m in norms]))  # type: ignore[misc]
                self.norm.running_var.copy_(torch.cat([m.running_var for m in norms]))  # type: ignore[misc]
                self.norm.num_batches_tracked.copy_(first.num_batches_tracked)  # type: ignore[union-attr, arg-type]

    def forward(self, x: Tensor) -> Tensor:
        k, b, f = x.shape
        flat = x.transpose(0, 1).reshape(b, k * f)  # (B, K*F)
        return self.norm(flat).view(b, k, f).transpose(0, 1)  # (K, B, F)

    def member(self, k: int) -> dict[str, Tensor]:
        """Member k's state in nn.BatchNorm1d's layout."""
        sl = slice(k * self.num_features, (k + 1) * self.num_features)
        return {name: (tensor if name == "num_batches_tracked" else tensor[sl]).detach().clone()
                for name, tensor in self.norm.state_dict().items()}

    def extra_repr(self) -> str:
        return f"members={self.members}, num_features={self.num_features}"


def _sequential(model: nn.Module) -> nn.Sequential:
    """The flat layer list of an MLP (`model.layers`), or the model itself if it is an nn.Sequential."""
    layers = getattr(model, "layers", model)
    if not isinstance(layers, nn.Sequential):
        raise ModelError(f"a stacked ensemble needs MLPs whose layers are one nn.Sequential (deepsci.models.MLP); "
                         f"received {type(model).__name__}. Build the members with deepsci.models.MLP.")
    return layers


def _check_same_architecture(models: Sequence[nn.Module]) -> None:
    shapes = [[(name, tuple(t.shape)) for name, t in m.state_dict().items()] for m in models]
    kinds = [[type(layer).__name__ for layer in _sequential(m)] for m in models]
    for k in range(1, len(models)):
        if shapes[k] != shapes[0] or kinds[k] != kinds[0]:
            raise ModelError(f"ensemble members must be built identically (only the seed may differ); member {k} "
                             f"has layers {kinds[k]} and shapes {shapes[k][:4]}..., member 0 has {kinds[0]} and "
                             f"{shapes[0][:4]}... Build every member from the same spec.")


class StackedMLP(nn.Module):
    """K identically-built MLPs as one module with stacked weights (see the module docstring).

    Args:
        models: K >= 1 MLPs (deepsci.models.MLP, or nn.Sequential of the same layer kinds) with the same
            architecture; usually the same spec with K different seeds. Their current weights and batch-norm
            statistics are copied; the originals are not modified and not kept in sync.

    forward(x): x (B, d) or (K, B, d) -> (K, B, n_outputs).
    """

    FORM = "stacked"  # how the members run (metrics.json): one network of batched matmuls

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        models = list(models)
        if not models:
            raise ModelError("a stacked ensemble needs at least one member; received an empty list.")
        _check_same_architecture(models)
        self.members = len(models)
        seqs = [_sequential(m) for m in models]
        stacked: list[nn.Module] = []
        for i, layer in enumerate(seqs[0]):
            column = [s[i] for s in seqs]
            if isinstance(layer, nn.Linear):
                stacked.append(StackedLinear(column))  # type: ignore[arg-type]
            elif isinstance(layer, nn.BatchNorm1d):
                stacked.append(StackedBatchNorm1d(column))  # type: ignore[arg-type]
            elif any(True for _ in layer.parameters()) or any(True for _ in layer.buffers()):
                raise ModelError(f"cannot stack layer {i} ({type(layer).__name__}): only Linear, BatchNorm1d and "
                                 "parameter-free layers that act on the last dimension can be stacked.")
            else:
                stacked.append(copy.deepcopy(layer))  # activation / Dropout / Maxout: works on (K, B, F)
        self.layers = nn.Sequential(*stacked)
        # A template to rebuild members from (a list, so it is not registered as a submodule).
        self._template: list[nn.Module] = [copy.deepcopy(models[0])]
        spec = getattr(models[0], "spec", None)
        self.member_spec: dict[str, Any] | None = spec() if callable(spec) else None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3 and x.shape[0] != self.members:
            raise DataError(f"a per-member batch must be (members={self.members}, batch, features); "
                            f"received {tuple(x.shape)}. Pass (batch, features) to give all members the same batch.")
        if x.dim() not in (2, 3):
            raise DataError(f"StackedMLP takes (batch, features) or (members, batch, features); received "
                            f"{tuple(x.shape)}.")
        return self.layers(x)  # (K, B, n_outputs)

    def member_state_dict(self) -> dict[str, Tensor]:
        """A flat dict of stacked tensors for safetensors: each member's state_dict key with a leading K dim.

        Keys are those of one member's `state_dict()` (e.g. "layers.0.weight" of shape (K, out, in), in
        nn.Linear's layout), so member k is `{name: t[k] for name, t in state.items()}`.
        """
        states = [m.state_dict() for m in self.unstack()]
        return {name: torch.stack([s[name] for s in states]).contiguous() for name in states[0]}

    def load_member_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load tensors written by `member_state_dict` (e.g. read back from safetensors)."""
        template = self._template[0]
        expected = set(template.state_dict())
        if set(state) != expected:
            raise ModelError(f"stacked weights do not match this ensemble's architecture: missing "
                             f"{sorted(expected - set(state))[:5]}, unexpected {sorted(set(state) - expected)[:5]}. "
                             "Load weights saved from an ensemble with the same spec.")
        members = [copy.deepcopy(template) for _ in range(self.members)]
        for k, m in enumerate(members):
            m.load_state_dict({name: t[k] for name, t in state.items()})
        self.layers.load_state_dict(StackedMLP(members).layers.state_dict())

    def unstack(self) -> list[nn.Module]:
        """K independent modules (copies of the first member's class) holding the current weights."""
        template = self._template[0]
        out = []
        for k in range(self.members):
            m = copy.deepcopy(template)
            seq = _sequential(m)
            with torch.no_grad():
                for i, layer in enumerate(self.layers):
                    if isinstance(layer, (StackedLinear, StackedBatchNorm1d)):
                        seq[i].load_state_dict(layer.member(k))
            m.train(self.training)
            out.append(m)
        return out


def stack_models(models: Sequence[nn.Module]) -> StackedMLP:
    """Stack K identically-built MLPs into one `StackedMLP` (same as `StackedMLP(models)`)."""
    return StackedMLP(models)


def is_stacked(model: nn.Module) -> bool:
    """True when `model` holds ensemble members itself and answers (K, batch, ...): a StackedMLP, or a
    network built with K > 1 members (a graph network's `as_ensemble`). Rows are then dim 1, not dim 0."""
    return isinstance(model, StackedMLP) or getattr(model, "members", 1) > 1


def build_ensemble(make_member: Callable[[int], nn.Module], members: int, seed: int = 0) -> nn.Module:
    """Build K members with `make_member(seed + k)` for k = 0..K-1 and stack them: one module whose
    output is (K, batch, ...). A network that holds its members itself (its `as_ensemble(K)`, e.g. the
    graph networks, whose member k equals the network of seed + k) builds them; other members are
    stacked into a StackedMLP.

    Example: `build_ensemble(lambda s: MLP(200, 1, (64, 64), seed=s), members=8, seed=0)`.
    """
    if members < 1:
        raise ModelError(f"an ensemble needs members >= 1, got {members}. Set uncertainty.members to e.g. 8.")
    first = make_member(seed)
    as_ensemble = getattr(first, "as_ensemble", None)
    if callable(as_ensemble):
        return as_ensemble(members)  # type: ignore[no-any-return]
    return StackedMLP([first] + [make_member(seed + k) for k in range(1, members)])


class EnsembleLoss:
    """The sum over members of each member's mean loss (see `ensemble_loss`); callable as a loss.

    `per_sample(output (K, B, ...), target) -> (B,)`: each row's loss summed over members, so that the
    weighted mean over rows is the sum of the members' weighted mean losses (sample weights, see
    `deepsci.training.losses.weighted_loss`). None where the member loss has no per-sample form.
    """

    def __init__(self, loss: Loss, targets: Literal["auto", "shared", "per-member"] = "auto",
                 target_dims: int | None = None) -> None:
        self.loss, self.targets, self.target_dims = loss, targets, target_dims
        self._member_per_sample = per_sample_form(loss)
        self.per_sample = self._per_sample if self._member_per_sample is not None else None

    def fold(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """(K*B, ...) outputs (a view of `output` (K, B, ...)) and the matching (K*B, ...) targets; the loss
        is then K times the member loss of these (deepsci.training.fastdense differentiates it so)."""
        k, b = output.shape[0], output.shape[1]
        if self.targets == "auto" and self.target_dims is not None:
            per_member = target.dim() == self.target_dims + 1
        else:
            per_member = self.targets == "per-member" or (
                self.targets == "auto" and target.dim() >= 2 and tuple(target.shape[:2]) == (k, b) and b != k)
        if per_member:
            flat_target = target.reshape(k * b, *target.shape[2:])
        else:
            if target.shape[0] != b:
                raise DataError(f"target batch {tuple(target.shape)} does not match the ensemble output "
                                f"{tuple(output.shape)} (members, batch, ...).")
            flat_target = target.unsqueeze(0).expand(k, *target.shape).reshape(k * b, *target.shape[1:])
        return output.reshape(k * b, *output.shape[2:]), flat_target

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        flat_output, flat_target = self.fold(output, target)
        return self.loss(flat_output, flat_target) * output.shape[0]

    def _per_sample(self, output: Tensor, target: Tensor) -> Tensor:
        assert self._member_per_sample is not None
        flat_output, flat_target = self.fold(output, target)
        return self._member_per_sample(flat_output, flat_target).view(output.shape[0], output.shape[1]).sum(0)


def ensemble_loss(loss: Loss, *, targets: Literal["auto", "shared", "per-member"] = "auto",
                  target_dims: int | None = None) -> EnsembleLoss:
    """The sum over members of each member's mean loss, from a per-batch loss `loss(output, target)`.

    The member dim is folded into the batch: loss(output.reshape(K*B, ...), target repeated K times) * K.
    That equals sum_k loss(output[k], target_k) for every loss that is a mean over the batch (MSE, MAE,
    Huber, cross-entropy, Gaussian NLL), because each member contributes B of the K*B rows.

    Args:
        loss: a deepsci loss taking (batch, ...) outputs and targets.
        targets: "shared": target (B, ...) is the same for every member; "per-member": target (K, B, ...);
            "auto": with `target_dims` set, per-member when target.dim() == target_dims + 1 (exact; use it
            when batches may have B == K); else per-member when target.shape[:2] == output.shape[:2] and
            B != K, else shared.
        target_dims: dims of one member's target batch (regression (B, t): 2; class labels (B,): 1).

    Returns:
        loss'(output (K, B, ...), target) -> scalar, with a `per_sample` form (B,) for sample weights.
    """
    return EnsembleLoss(loss, targets, target_dims)


def bootstrap_indices(n: int, members: int, generator: torch.Generator) -> Tensor:
    """Each member's bootstrap resample of 0..n-1 (drawn with replacement): (members, n) int64."""
    return torch.randint(0, n, (members, n), generator=generator)


def bootstrap_data(X: Tensor, y: Tensor, members: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Each member's bootstrap resample laid out row-major for the Trainer: (n, K, ...) inputs and targets.

    Row j holds row `rows[k, j]` of the data for every member k (rows from `bootstrap_indices`), so the
    Trainer's index-sliced batches X[idx] give (B, K, d): B resampled rows per member, each member its own.
    Train with `augment=per_member_batch` (moves the member dim first) and `ensemble_loss(loss, target_dims=...)`.
    Bootstrap resampling gives members different data as well as different initialisations (Breiman 1996;
    Lakshminarayanan et al. 2017 found it did not help deep ensembles much: it is optional).
    """
    if X.shape[0] != y.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but y has {y.shape[0]}; they must match.")
    rows = bootstrap_indices(int(X.shape[0]), members, generator).t()  # (n, K)
    return X[rows], y[rows]  # (n, K, d), (n, K, ...)


def per_member_batch(xb: Tensor, yb: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A Trainer `augment` for bootstrap batches: (B, K, ...) -> (K, B, ...) for inputs and targets."""
    return xb.transpose(0, 1), yb.transpose(0, 1)


# -- K-fold members (cross-conformal): member k never learns from fold k ------------------------------------
FOLD_STREAM = 2_000_003  # offset of the fold draw's seed from the run's: independent of batch order and bootstrap


def cross_folds(n: int, members: int, seed: int = 0) -> Tensor:
    """Each of n rows' fold, (n,) int64 in 0..members-1: a seeded random permutation taken modulo K, so
    fold sizes differ by at most one. Training and evaluation both call it, so the folds need not be stored.
    """
    if not 2 <= members <= n:
        raise DataError(f"{members} folds need 2 <= folds <= rows; the training split has {n} rows. Use fewer "
                        "ensemble members (uncertainty.members) or more training rows.")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + FOLD_STREAM)) % members


class HeldOutLoss:
    """The ensemble loss of K-fold members: member k never learns from fold k and is validated on it alone.

    The Trainer hands a loss only (output, target), so each row's fold travels with its target: one extra
    last column ((B, t + 1); `with_folds`) holds a code. On training rows the code is the fold f (member f
    skips the row), on validation rows K + f (member f alone counts it). The value is the sum over members
    of each member's mean loss over the rows it counts (0 for a member with none in the batch), so with the
    validation targets of `validation_targets` the Trainer's early stopping watches every member on its own
    left-out fold. In train mode batch norm still sees the whole batch's inputs (never its targets).

    Args:
        per_sample: the member loss per row, (output (B, out), target (B, t)) -> (B,).
        members: K.
    """

    def __init__(self, per_sample: PerSampleLoss, members: int) -> None:
        self.member_per_sample, self.members = per_sample, members
        self.per_sample = None  # sample weights would need a weight per member and row

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        k, b = output.shape[0], output.shape[1]
        if k != self.members or target.dim() != 2 or target.shape[0] != b:
            raise DataError(f"held-out ensemble targets must be (batch, targets + 1) with the fold code last, for "
                            f"{self.members} members; received output {tuple(output.shape)} and target "
                            f"{tuple(target.shape)}.")
        y, code = target[:, :-1], target[:, -1].round().long()  # (B, t), (B,)
        member = torch.arange(k, device=code.device).unsqueeze(1)  # (K, 1)
        counted = torch.where(code >= k, code - k == member, code != member).to(output.dtype)  # (K, B)
        flat_y = y.unsqueeze(0).expand(k, *y.shape).reshape(k * b, *y.shape[1:])
        per_row = self.member_per_sample(output.reshape(k * b, *output.shape[2:]), flat_y).view(k, b)
        return ((per_row * counted).sum(1) / counted.sum(1).clamp_min(1.0)).sum()

    def with_folds(self, y: Tensor, folds: Tensor, *, validation: bool = False) -> Tensor:
        """Targets y (n, t) with each row's fold code appended: (n, t + 1) (code K + fold for validation)."""
        if y.dim() != 2 or not y.is_floating_point():
            raise DataError(f"held-out (cross-conformal) ensembles are for regression targets (n, t); received "
                            f"{tuple(y.shape)} {y.dtype}. Use uncertainty.conformal_method = 'split'.")
        code = folds.to(y.dtype) + (self.members if validation else 0)
        return torch.cat([y, code.unsqueeze(1)], dim=1)

    def validation_targets(self, coded: Tensor) -> Tensor:
        """The validation targets matching training targets from `with_folds`: each code f becomes K + f."""
        return torch.cat([coded[:, :-1], coded[:, -1:] + self.members], dim=1)


def held_out_loss(loss: Loss, members: int, per_sample: PerSampleLoss | None = None) -> HeldOutLoss:
    """`HeldOutLoss` of a member loss: its per-row form from `per_sample`, the loss's `per_sample`, or
    `deepsci.training.losses.PER_SAMPLE` (mse, mae, huber)."""
    form = per_sample or per_sample_form(loss)
    if form is None:
        raise ModelError("K-fold (cross-conformal) members need a loss with a per-row form (mse, mae, huber or the "
                         "Gaussian NLL); use one of them, or uncertainty.conformal_method = 'split'.")
    return HeldOutLoss(form, members)
