"""Which inputs drove a prediction: attributions per feature, pixel, position or atom, through captum.

Five methods, one vocabulary (`METHODS`), each returning signed values per row and per *unit*:
a table's feature, an image's pixel (channels summed), a signal's or sequence's position (channels,
embedding or one-hot dimensions summed).

- "integrated-gradients": (x - x') · ∫₀¹ ∂f(x' + α(x - x'))/∂x dα, baseline x' = 0 (the training mean
  of standardised features, a black image, padding tokens). Its units sum to f(x) - f(x')
  (completeness; Sundararajan, Taly & Yan 2017); `Attributions.delta` holds the error of that sum.
- "gradient-x-input": x · ∂f/∂x (Shrikumar et al. 2016), the first-order term of the same sum.
- "saliency": |∂f/∂x| (Simonyan, Vedaldi & Zisserman 2014), summed over a unit's elements.
- "occlusion": f(x) - f(x with the unit set to the baseline), one unit at a time (Zeiler & Fergus 2014;
  captum's FeatureAblation with one mask entry per unit).
- "permutation": the increase of each row's loss when the unit is shuffled across rows (Breiman 2001;
  Fisher, Rudin & Dominici 2019); needs the labels.

Molecular graphs (schema structure "graph") and reactions ("reaction": the reactants' atoms, then the
product's) are attributed per atom: see deepsci.explain.graph_attributions (baseline: every atom's features 0,
bonds and descriptors kept; permutation is not defined there).

Token sequences (int64 symbols) have no gradient: the gradient methods attribute to the model's first
float representation (the embedding's output, or the one-hot channels a CNN makes), which is what
captum's layer methods are for; occlusion puts padding in a position and permutation swaps whole
positions. `f` is the explained output: the predicted class's logit (multiclass), the logit (binary),
the first target in scaled units (regression), averaged over the members of a stacked ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepsci.data.batch import Inputs, RowSource
from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, DataError
from deepsci.explain.graph_attributions import attribute_graph, check_graph, graph_feature_names, graph_targets
from deepsci.tasks import task_of

METHODS: tuple[str, ...] = ("integrated-gradients", "gradient-x-input", "saliency", "occlusion", "permutation")
GRADIENT_METHODS = ("integrated-gradients", "gradient-x-input", "saliency")
#: input structures attributed per atom: molecules, and reactions (reactant atoms, then product atoms)
GRAPH_STRUCTURES = ("graph", "reaction")


@dataclass(frozen=True)
class Attributions:
    """One method's attributions on n rows.

    Attributes:
        method: one of METHODS.
        units: names of the units, e.g. feature names, "pixel (r, c)", "position i" (0-based).
        values: (n, units) signed attributions in the explained output's units (permutation: the loss
            increase per row).
        delta: (n,) integrated gradients' completeness error Σ values - (f(x) - f(x')), else None.
        gap: (n,) f(x) - f(x') for integrated gradients, else None.
        atom_values: molecular graphs only: (atoms,) the attribution of every atom (its features summed),
            molecule after molecule; `values` then holds (n, atom features) sums over each molecule's atoms.
        atom_counts: molecular graphs only: (n,) atoms per molecule.
    """

    method: str
    units: list[str]
    values: Tensor
    delta: Tensor | None = None
    gap: Tensor | None = None
    atom_values: Tensor | None = None
    atom_counts: Tensor | None = None

    def per_atom(self) -> list[Tensor]:
        """Molecular graphs: one (atoms of molecule r,) tensor per row r, in RDKit's atom order of its SMILES."""
        if self.atom_values is None or self.atom_counts is None:
            raise DataError(f"{self.method} attributions are per {self.units[0] if self.units else 'unit'}, not per "
                            "atom; per-atom values exist for molecular graph inputs.")
        return list(torch.split(self.atom_values, self.atom_counts.tolist()))

    def importance(self) -> Tensor:
        """(units,) one number per unit: mean |value| over rows (permutation: the mean loss increase)."""
        if self.method == "permutation":
            return self.values.mean(0)
        return self.values.abs().mean(0)

    def top(self, k: int) -> list[str]:
        """The k units of largest importance, largest first."""
        order = torch.argsort(self.importance(), descending=True, stable=True)
        return [self.units[int(i)] for i in order[:k]]


class ExplainedOutput(nn.Module):
    """The model as captum sees it: (x[, mask]) -> (n, outputs); a stacked ensemble's members averaged,
    a forecast's (horizon, targets) flattened."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        out = self.model(x) if mask is None else self.model(x=x, mask=mask)
        if out.dim() == 3 and out.shape[0] != len(x):  # a stacked ensemble: (K, n, outputs) -> (n, outputs)
            out = out.mean(0)
        return out.reshape(len(x), -1)  # a forecast (n, horizon, targets): one output per step and target


def split_input(X: Inputs) -> tuple[Tensor, Tensor | None]:
    """(x, mask) of a model's one input; several named inputs or a RowSource are refused."""
    if isinstance(X, Tensor):
        return X, None
    if isinstance(X, RowSource) or not isinstance(X, dict):
        raise DataError("attributions for rows streamed from disk are not available; explain a run on a table, "
                        "image, signal, sequence, set or molecular graph.")
    extra = sorted(set(X) - {"x", "mask"})
    if extra or "x" not in X:
        raise DataError(f"attributions take a model with one input; this one has inputs {sorted(X)}. Explain a run "
                        "whose data has one input.")
    return X["x"], X.get("mask")


def explained_targets(model: nn.Module, x: Tensor, mask: Tensor | None, task: str) -> Tensor:
    """(n,) the output index explained per row: the predicted class (multiclass), else output 0."""
    if not task_of(task).class_logits:
        return torch.zeros(len(x), dtype=torch.int64)
    with torch.no_grad():
        return ExplainedOutput(model)(x, mask).argmax(1)


def explained_output(task: str) -> str:
    """What the attributions of a run of `task` explain, in words (`explained_targets` picks it)."""
    t = task_of(task)
    if t.class_logits:
        return "the logit of the predicted class"
    if t.head == "sigmoid-binary":
        return "the logit of class 1"
    return "the first target, in scaled units" if t.continuous else "the output"


def unit_names(schema: InputSchema) -> list[str]:
    """Names of the units attributions are reported on, for an input of this schema."""
    s, shape = schema.structure, schema.shape
    if s == "table":
        return list(schema.feature_names) or [f"feature {i}" for i in range(shape[0])]
    if s == "image":
        spatial = shape[1:]
        grid = torch.cartesian_prod(*[torch.arange(n) for n in spatial]) if len(spatial) > 1 else torch.arange(spatial[0])[:, None]
        return [f"pixel ({', '.join(str(int(v)) for v in idx)})" for idx in grid.reshape(-1, len(spatial))]
    if s == "signal":
        return [f"position {i}" for i in range(shape[-1])]
    if s in ("sequence", "window", "set"):
        return [f"{'element' if s == 'set' else 'position'} {i}" for i in range(shape[0])]
    raise DataError(f"attributions for '{s}' inputs are not available yet; explain a table, image, signal, "
                    "sequence or set.")


def unit_mask(schema: InputSchema, x: Tensor) -> Tensor:
    """Integer unit index for every element of one row of x, broadcastable to x (captum's feature_mask)."""
    s, row = schema.structure, x.shape[1:]
    if s == "table":
        return torch.arange(row[0]).view(1, -1)
    if s == "image":  # (C, H, W[, D]): one unit per pixel, shared by the channels
        return torch.arange(int(torch.tensor(row[1:]).prod())).view(1, 1, *row[1:])
    if s == "signal":  # (C, L)
        return torch.arange(row[-1]).view(1, 1, -1)
    if x.dim() == 2:  # token sequence (L,)
        return torch.arange(row[0]).view(1, -1)
    return torch.arange(row[0]).view(1, -1, 1)  # vectors (L, d) / set elements (S, d)


def _to_units(attr: Tensor, mask: Tensor, n_units: int) -> Tensor:
    """(n, units): the attribution of every element summed into its unit."""
    flat = attr.reshape(len(attr), -1).double()
    index = mask.expand(1, *attr.shape[1:]).reshape(-1)
    return torch.zeros(len(attr), n_units, dtype=torch.float64).index_add_(1, index, flat)


def _token_layer(model: nn.Module) -> tuple[nn.Module, bool, int]:
    """(layer, attribute to its input?, channel axis to sum) where a token model's floats begin."""
    embed = getattr(model, "embed", None)
    if isinstance(embed, nn.Embedding):
        return embed, False, -1  # (n, L, E)
    features = getattr(model, "features", None)
    if isinstance(features, nn.Module):
        return features, True, 1  # the CNN's one-hot channels (n, V-1, L)
    raise DataError(f"attributions on token sequences need a model with an embedding or a CNN on one-hot bases; "
                    f"{type(model).__name__} has neither.")


def attribute(model: nn.Module, X: Inputs, schema: InputSchema, method: str, *, task: str,
              y: Tensor | None = None, targets: Tensor | None = None, steps: int | None = None,
              batch_size: int = 64, seed: int = 0) -> Attributions:
    """Attributions of `method` for the rows of X (already transformed by the run's preprocessor).

    Args:
        model: the trained network (set to eval mode here: dropout off, batch norm frozen).
        X: (n, ...) input rows, or {"x": ..., "mask": ...} for a padded sequence or set.
        schema: the input's schema (decides the units).
        method: one of METHODS.
        task: "regression", "binary" or "multiclass" (decides the explained output and permutation's loss).
        y: labels or scaled targets of the rows (needed by "permutation").
        targets: (n,) output index per row; default `explained_targets`.
        steps: integration steps of integrated gradients (Gauss-Legendre), default 64, which keep completeness
            < 1%; 128 for molecular graphs, whose ReLU message passing puts many kinks on the path.
        batch_size: rows evaluated together (memory).
        seed: the permutations' random source.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method '{method}'; known: {', '.join(METHODS)}.")
    if schema.structure in GRAPH_STRUCTURES:
        return _attribute_graph(model, X, schema, method, task=task, targets=targets, steps=steps or 128,
                                batch_size=batch_size)
    x, mask = split_input(X)
    model.eval()
    units = unit_names(schema)
    umask = unit_mask(schema, x)
    if targets is None:
        targets = explained_targets(model, x, mask, task)
    f = ExplainedOutput(model).eval()
    if method == "permutation":
        if y is None:
            raise DataError("permutation importance needs the labels of the rows; give labelled data or leave "
                            "'permutation' out of the methods.")
        return Attributions(method, units, _permutation(f, x, mask, y, umask, task, seed))
    if method == "occlusion":
        return Attributions(method, units, _chunked(x, mask, targets, batch_size,
                                                    lambda xb, mb, tb: _per_unit(_occlusion(f, xb, mb, tb, umask),
                                                                                 umask, len(units))))
    tokens = not torch.is_floating_point(x)
    parts = [_gradient(f, model, xb, mb, tb, method, steps or 64, tokens, umask, len(units))
             for xb, mb, tb in _batches(x, mask, targets, batch_size)]
    values = torch.cat([p[0] for p in parts])
    if method != "integrated-gradients":
        return Attributions(method, units, values)
    gap = torch.cat([p[1] for p in parts])
    return Attributions(method, units, values, delta=values.sum(1) - gap, gap=gap)


def _attribute_graph(model: nn.Module, X: Inputs, schema: InputSchema, method: str, *, task: str,
                     targets: Tensor | None, steps: int, batch_size: int) -> Attributions:
    """Per-atom attributions of a molecular graph batch (deepsci.explain.graph_attributions)."""
    if method == "permutation":
        raise DataError("permutation importance is not defined per atom (molecules differ in their atoms); leave "
                        "'permutation' out of the methods for a graph run.")
    graph = check_graph(X.take_rows(slice(None)) if isinstance(X, RowSource) else X)
    model.eval()
    if targets is None:
        targets = graph_targets(model, graph, task)
    per_feature, per_atom, counts, gap = attribute_graph(model, graph, method, targets=targets, steps=steps,
                                                         batch_size=batch_size)
    return Attributions(method, graph_feature_names(schema), per_feature,
                        delta=None if gap is None else per_feature.sum(1) - gap, gap=gap, atom_values=per_atom,
                        atom_counts=counts)


def _batches(x: Tensor, mask: Tensor | None, targets: Tensor, size: int) -> list[tuple[Tensor, Tensor | None, Tensor]]:
    return [(x[i:i + size], None if mask is None else mask[i:i + size], targets[i:i + size])
            for i in range(0, len(x), size)]


def _chunked(x: Tensor, mask: Tensor | None, targets: Tensor, size: int,
             fn: Callable[[Tensor, Tensor | None, Tensor], Tensor]) -> Tensor:
    return torch.cat([fn(xb, mb, tb) for xb, mb, tb in _batches(x, mask, targets, size)])


def _extra(mask: Tensor | None) -> Any:
    return None if mask is None else (mask,)


def _gradient(f: ExplainedOutput, model: nn.Module, x: Tensor, mask: Tensor | None, targets: Tensor, method: str,
              steps: int, tokens: bool, umask: Tensor, n_units: int) -> tuple[Tensor, Tensor]:
    """(values (n, units), f(x) - f(baseline) (n,)) of one gradient method on one batch."""
    from captum.attr import (  # optional ([explain]), heavy
        InputXGradient, IntegratedGradients, LayerGradientXActivation, LayerIntegratedGradients, Saliency)

    baseline = torch.zeros_like(x)
    if not tokens:  # captum would switch gradients on itself, with a warning
        x = x.detach().clone().requires_grad_(True)
    kwargs: dict[str, Any] = {"target": targets, "additional_forward_args": _extra(mask)}
    if tokens:
        layer, to_input, axis = _token_layer(model)
        common = {"attribute_to_layer_input": to_input}
        if method == "integrated-gradients":
            attr = LayerIntegratedGradients(f, layer).attribute(x, baselines=baseline, n_steps=steps,
                                                                method="gausslegendre", **common, **kwargs)
        else:
            engine = LayerGradientXActivation(f, layer, multiply_by_inputs=method == "gradient-x-input")
            attr = engine.attribute(x, **common, **kwargs)
            attr = attr.abs() if method == "saliency" else attr
        values = attr.detach().double().sum(axis)  # (n, L): channels or embedding summed per position
    else:
        if method == "integrated-gradients":
            attr = IntegratedGradients(f).attribute(x, baselines=baseline, n_steps=steps, method="gausslegendre",
                                                    **kwargs)
        elif method == "gradient-x-input":
            attr = InputXGradient(f).attribute(x, **kwargs)
        else:
            attr = Saliency(f).attribute(x, abs=True, **kwargs)
        values = _to_units(attr.detach(), umask, n_units)
    with torch.no_grad():
        rows = torch.arange(len(x))
        gap = (f(x, mask)[rows, targets] - f(baseline, mask)[rows, targets]).double()
    return values, gap


def _occlusion(f: ExplainedOutput, x: Tensor, mask: Tensor | None, targets: Tensor, umask: Tensor) -> Tensor:
    from captum.attr import FeatureAblation  # optional ([explain]), heavy

    return FeatureAblation(f).attribute(x, baselines=0, target=targets, additional_forward_args=_extra(mask),
                                        feature_mask=umask).detach()


def row_loss(output: Tensor, y: Tensor, task: str) -> Tensor:
    """(n,) each row's training loss: cross-entropy, binary cross-entropy on the logit, or squared error."""
    head = task_of(task)
    if head.class_logits:
        return nn.functional.cross_entropy(output, y.long(), reduction="none")
    if head.head == "sigmoid-binary":
        return nn.functional.binary_cross_entropy_with_logits(output[:, 0], y.float().reshape(-1), reduction="none")
    t = y.reshape(len(y), -1)
    return (output[:, :t.shape[1]] - t).pow(2).sum(1)


def _permutation(f: ExplainedOutput, x: Tensor, mask: Tensor | None, y: Tensor, umask: Tensor, task: str,
                 seed: int) -> Tensor:
    """(n, units): each row's loss increase when one unit is shuffled across the rows (one shuffle, seeded)."""
    from captum.attr import FeaturePermutation  # optional ([explain]), heavy

    generator = torch.Generator().manual_seed(seed)

    def shuffle(batch: Tensor, feature_mask: Tensor) -> Tensor:
        order = torch.randperm(len(batch), generator=generator)
        return torch.where(feature_mask, batch[order], batch)

    def losses(xb: Tensor, mb: Tensor | None = None) -> Tensor:
        return row_loss(f(xb, mb), y, task)

    attr = FeaturePermutation(losses, perm_func=shuffle).attribute(
        x, additional_forward_args=_extra(mask), feature_mask=umask).detach()
    # captum reports loss(x) - loss(shuffled): the negative of the increase.
    return -_per_unit(attr, umask, int(umask.max()) + 1)


def _per_unit(attr: Tensor, umask: Tensor, n_units: int) -> Tensor:
    """(n, units) from a perturbation method's output, which repeats a unit's value on each of its elements."""
    sizes = torch.bincount(umask.expand(1, *attr.shape[1:]).reshape(-1), minlength=n_units).double()
    return _to_units(attr, umask, n_units) / sizes
