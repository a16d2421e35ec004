"""Attributions of molecular graphs: one value per atom, and per atom-feature column summed over the atoms.

A batch of molecules is one disjoint graph (deepsci.data.graphs): atom_x (Na, A) of all molecules
stacked, with atom_batch (Na,) naming each atom's molecule. The methods attribute to atom_x, the float
atom-feature matrix; bond features and the optional per-molecule descriptor vector stay as they are.

- The **baseline** x' is the same graph with every atom's features set to 0 (bonds, connectivity and
  descriptors kept), so integrated gradients sum, per molecule, to f(x) - f(x') with f(x') the
  prediction for the molecule's skeleton stripped of its atom identities.
- Gradient methods (integrated gradients, gradient × input, saliency) run through captum on a wrapper
  that sees the whole batch as ONE example: captum repeats an example along a new leading axis (the
  integration steps), and a graph of variable size cannot be stacked that way, so the wrapper turns
  S copies of the atom features (S, Na, A) into one disjoint graph of S x B molecules and returns the
  sum over molecules of each one's explained output. Molecules of a disjoint graph do not interact, so
  the gradient of that sum at an atom is the gradient of its own molecule's output: per-molecule
  attributions, and per-molecule completeness.
- Occlusion is f(x) - f(x with one atom's features set to 0), the atom masked alone; the k-th atom of
  every molecule is masked in the same copy (molecules do not interact), so a batch costs max n_atoms
  copies rather than one per atom. The per-feature-column values mask that column in every atom of the
  molecule. (captum's FeatureAblation assumes one output per input row, which atoms are not.)

Reactions (deepsci.data.reaction_graphs) are one disjoint graph of reactants and product each, with atom_side
passed through: atom i of a reaction is atom i of "reactants.product" (the side's atoms are not zeroed apart:
the baseline zeroes every atom's features on both sides).

Values: `Attributions.values` (n, A) per molecule and atom-feature column (summed over its atoms);
`Attributions.atom_values` (Na,) per atom (summed over its features), molecule after molecule, with
`Attributions.atom_counts` (n,) atoms per molecule; atom i of molecule r is RDKit's atom i of its SMILES.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepsci.data.schema import InputSchema
from deepsci.errors import DataError
from deepsci.tasks import task_of

GRAPH_KEYS = ("atom_x", "bond_x", "edge_index", "rev_index", "atom_batch", "mol_x")


def graph_feature_names(schema: InputSchema) -> list[str]:
    """Names of the atom-feature columns, the units of `Attributions.values` for a graph input."""
    return list(schema.feature_names) or [f"atom feature {i}" for i in range(schema.shape[0])]


def check_graph(X: Any) -> dict[str, Tensor]:
    """The batch dict of a graph input (the output of MolecularGraphs.take_rows); anything else is refused."""
    if not isinstance(X, dict) or any(k not in X for k in GRAPH_KEYS):
        raise DataError("attributions of a graph model need a batch of molecules as MolecularGraphs.take_rows "
                        f"returns it (keys {', '.join(GRAPH_KEYS)}); explain the run's own molecules.")
    return X


class ReplicatedGraph(nn.Module):
    """The model on S copies of one disjoint graph that differ only in their atom features.

    forward(atom_x (S, Na, A)) -> (S,): per copy, the sum over molecules of each molecule's explained
    output (column targets[b] of molecule b; a stacked ensemble's members averaged).
    """

    def __init__(self, model: nn.Module, graph: dict[str, Tensor], targets: Tensor) -> None:
        super().__init__()
        self.model, self.graph, self.targets = model, graph, targets

    def outputs(self, atom_x: Tensor) -> Tensor:
        """(S, B) each copy's explained output per molecule."""
        g = self.graph
        s, n_atoms = atom_x.shape[0], g["atom_x"].shape[0]
        n_edges, n_mol = g["edge_index"].shape[1], g["mol_x"].shape[0]
        copy = torch.arange(s)
        kwargs = {
            "atom_x": atom_x.reshape(s * n_atoms, -1),
            "bond_x": g["bond_x"].repeat(s, 1),
            "edge_index": (g["edge_index"].unsqueeze(1) + (copy * n_atoms).view(1, s, 1)).reshape(2, s * n_edges),
            "rev_index": (g["rev_index"].unsqueeze(0) + (copy * n_edges)[:, None]).reshape(-1),
            "atom_batch": (g["atom_batch"].unsqueeze(0) + (copy * n_mol)[:, None]).reshape(-1),
            "mol_x": g["mol_x"].repeat(s, 1),
        }
        if "pair_dist" in g:  # the UG-RNN's topological distances, per molecule
            kwargs["pair_dist"] = g["pair_dist"].repeat(s)
        if "n_atoms" in g:
            kwargs["n_atoms"] = g["n_atoms"].repeat(s)
        if "atom_side" in g:  # a reaction's reactant (-1) and product (+1) atoms (deepsci.data.reaction_graphs)
            kwargs["atom_side"] = g["atom_side"].repeat(s)
        out = self.model(**kwargs)
        if out.dim() == 3:  # a stacked ensemble: (K, S B, outputs)
            out = out.mean(0)
        out = out.reshape(s, n_mol, -1)
        return out.gather(2, self.targets.view(1, -1, 1).expand(s, -1, 1))[..., 0]

    def forward(self, atom_x: Tensor) -> Tensor:
        return self.outputs(atom_x).sum(1)


def graph_targets(model: nn.Module, graph: dict[str, Tensor], task: str) -> Tensor:
    """(B,) the output explained per molecule: the predicted class (multiclass), else output 0."""
    n = graph["mol_x"].shape[0]
    if not task_of(task).class_logits:
        return torch.zeros(n, dtype=torch.int64)
    with torch.no_grad():
        out = model(**graph)
        return (out.mean(0) if out.dim() == 3 else out).argmax(1)


def attribute_graph(model: nn.Module, graph: dict[str, Tensor], method: str, *, targets: Tensor, steps: int,
                    batch_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(per feature (n, A), per atom (Na,), atoms per molecule (n,), f(x) - f(x') (n,) or None).

    Molecules are explained `batch_size` at a time; see the module docstring for the methods.
    """
    n_atoms = torch.bincount(graph["atom_batch"], minlength=graph["mol_x"].shape[0])
    start = n_atoms.cumsum(0) - n_atoms
    parts = []
    for b in range(0, len(n_atoms), batch_size):
        rows = torch.arange(b, min(b + batch_size, len(n_atoms)))
        sub = _sub_batch(graph, rows, start, n_atoms)
        f = ReplicatedGraph(model, sub, targets[rows])
        run = _occlusion if method == "occlusion" else _gradient
        parts.append(run(f, sub, method, steps))
    per_feature = torch.cat([p[0] for p in parts])
    per_atom = torch.cat([p[1] for p in parts])
    gaps = [p[2] for p in parts if p[2] is not None]
    gap = torch.cat(gaps) if gaps else None
    return per_feature, per_atom, n_atoms, gap


def _sub_batch(graph: dict[str, Tensor], rows: Tensor, start: Tensor, n_atoms: Tensor) -> dict[str, Tensor]:
    """Molecules `rows` (consecutive) of a batch graph as their own disjoint graph."""
    first, last = int(rows[0]), int(rows[-1])
    a0, a1 = int(start[first]), int(start[last] + n_atoms[last])
    src = graph["edge_index"][0]
    keep = (src >= a0) & (src < a1)  # edges of these molecules (both ends in the same molecule)
    edge_ids = torch.nonzero(keep)[:, 0]
    e0 = int(edge_ids[0]) if len(edge_ids) else 0
    sub = {"atom_x": graph["atom_x"][a0:a1], "bond_x": graph["bond_x"][keep],
           "edge_index": graph["edge_index"][:, keep] - a0, "rev_index": graph["rev_index"][keep] - e0,
           "atom_batch": graph["atom_batch"][a0:a1] - first, "mol_x": graph["mol_x"][rows]}
    if "n_atoms" in graph:
        sub["n_atoms"] = graph["n_atoms"][rows]
    if "atom_side" in graph:
        sub["atom_side"] = graph["atom_side"][a0:a1]
    if "pair_dist" in graph:
        squares = n_atoms * n_atoms
        p0 = int(squares[:first].sum())
        sub["pair_dist"] = graph["pair_dist"][p0:p0 + int(squares[rows].sum())]
    return sub


def _reduce(attr: Tensor, atom_batch: Tensor, n_mol: int) -> tuple[Tensor, Tensor]:
    """(per feature (n, A), per atom (Na,)) of element attributions attr (Na, A), in float64."""
    attr = attr.double()
    per_feature = attr.new_zeros(n_mol, attr.shape[1]).index_add_(0, atom_batch, attr)
    return per_feature, attr.sum(1)


def _gradient(f: ReplicatedGraph, graph: dict[str, Tensor], method: str,
              steps: int) -> tuple[Tensor, Tensor, Tensor | None]:
    from captum.attr import InputXGradient, IntegratedGradients, Saliency  # optional ([explain]), heavy

    x = graph["atom_x"].detach().clone().unsqueeze(0).requires_grad_(True)  # (1, Na, A): the batch is one example
    n_mol = graph["mol_x"].shape[0]
    if method == "integrated-gradients":
        attr = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=steps,
                                                method="gausslegendre", internal_batch_size=16)
    elif method == "gradient-x-input":
        attr = InputXGradient(f).attribute(x)
    else:
        attr = Saliency(f).attribute(x, abs=True)
    per_feature, per_atom = _reduce(attr.detach()[0], graph["atom_batch"], n_mol)
    gap = None
    if method == "integrated-gradients":
        with torch.no_grad():
            both = f.outputs(torch.stack([graph["atom_x"], torch.zeros_like(graph["atom_x"])]))
        gap = (both[0] - both[1]).double()
    return per_feature, per_atom, gap


def _occlusion(f: ReplicatedGraph, graph: dict[str, Tensor], method: str,
               steps: int) -> tuple[Tensor, Tensor, None]:
    del method, steps
    x, batch = graph["atom_x"], graph["atom_batch"]
    n_mol = graph["mol_x"].shape[0]
    counts = torch.bincount(batch, minlength=n_mol)
    local = torch.arange(len(x)) - (counts.cumsum(0) - counts)[batch]  # each atom's index in its molecule
    with torch.no_grad():
        full = f.outputs(x.unsqueeze(0))[0]  # (B,)
        # copy k: atom k of every molecule zeroed; an atom's value is its molecule's drop in copy local[i]
        atoms = _masked_outputs(f, x, lambda k: (local == k)[:, None], int(counts.max()))  # (max atoms, B)
        per_atom = (full[batch] - atoms[local, batch]).double()
        # copy j: feature column j zeroed in every atom
        columns = _masked_outputs(f, x, lambda j: (torch.arange(x.shape[1]) == j)[None, :], x.shape[1])  # (A, B)
        per_feature = (full[None, :] - columns).T.double()
    return per_feature, per_atom, None


def _masked_outputs(f: ReplicatedGraph, x: Tensor, mask: Callable[[int], Tensor], copies: int,
                    chunk: int = 16) -> Tensor:
    """(copies, B) outputs with x zeroed where mask(k) holds, copy k; `chunk` copies per forward pass."""
    out = []
    for k0 in range(0, copies, chunk):
        stack = torch.stack([torch.where(mask(k), torch.zeros_like(x), x) for k in range(k0, min(k0 + chunk, copies))])
        out.append(f.outputs(stack))
    return torch.cat(out)
