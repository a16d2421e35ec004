"""Reactions as graph pairs: the reactants' graph and the product's graph of each reaction, batched together.

A reaction "reactants>>product" becomes ONE disjoint graph (deepsci.data.graphs) of the molecule
"reactants.product": the reactant atoms first (in the order of the reactant SMILES), then the product atoms
(in the order of the product SMILES), with no bond between the sides, plus one number per atom,

    atom_side (Na,) float32   -1 for a reactant atom, +1 for a product atom,

so a network (deepsci.models.reaction) encodes both sides with the SAME message passing and pools each side
of each reaction on its own. Everything else is `MolecularGraphs`' layout and `take_rows` its batches
(atom_x, bond_x, edge_index, rev_index, atom_batch, mol_x, pair_dist, n_atoms) with `atom_side` added. Atom
i of a reaction's attributions is atom i of "reactants.product" (deepsci.explain.graph_attributions).

The data kind is `reaction` (deepsci.data.spec.ReactionData): a table with a column of reaction SMILES.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from deepsci.data.batch import Inputs
from deepsci.data.featurisers import Bad, register_input
from deepsci.data.graphs import GraphFeaturiser, MolecularGraphs, _ranges
from deepsci.data.raw import Raw
from deepsci.data.reactions import split_reaction
from deepsci.data.schema import InputSchema
from deepsci.data.sources import READERS, read_table_source
from deepsci.errors import DataError

Tensor = torch.Tensor


class ReactionGraphs(MolecularGraphs):
    """A split's reactions as one flat graph each (reactants then product) with each atom's side (+-1)."""

    def __init__(self, graphs: MolecularGraphs, atom_side: Tensor, reactions: list[str]) -> None:
        super().__init__(graphs.atom_x, graphs.bond_x, graphs.bond_atoms, graphs.pair_dist, graphs.n_atoms,
                         graphs.n_bonds, graphs.mol_x, graphs.smiles)
        self.atom_side = atom_side  # (N,) -1 reactant atom, +1 product atom
        self.reactions = reactions  # each row's reaction SMILES as given (references, not a model input)

    def subset(self, idx: Tensor | slice) -> "ReactionGraphs":
        sel = self._index(idx)
        return ReactionGraphs(super().subset(sel), self.atom_side[_ranges(self.atom_start[sel], self.n_atoms[sel])],
                              [self.reactions[i] for i in sel.tolist()])

    def take_rows(self, idx: Tensor | slice) -> dict[str, Tensor]:
        sel = self._index(idx)
        batch = super().take_rows(sel)
        batch["atom_side"] = self.atom_side[_ranges(self.atom_start[sel], self.n_atoms[sel])]
        return batch

    def to_arrays(self) -> dict[str, Tensor]:
        return {**super().to_arrays(), "atom_side": self.atom_side}


def _as_molecule(reaction: Any) -> tuple[str, int] | None:
    """("reactants.product" SMILES, number of reactant heavy atoms) of a reaction cell; None when either side
    cannot be parsed."""
    from rdkit import Chem, rdBase  # optional heavy dependency: imported when used

    try:
        left, right = split_reaction(reaction)
    except DataError:
        return None
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(side) for side in (left, right)]
    if any(m is None or m.GetNumAtoms() == 0 for m in mols):
        return None
    return f"{left}.{right}", int(mols[0].GetNumAtoms())


@register_input("reaction")
class ReactionFeaturiser(GraphFeaturiser):
    """A column of reaction SMILES -> `ReactionGraphs` (settings: smiles_column = the reaction column,
    atom_features, cache_dir; no joined descriptors). Rows whose reaction does not parse are refused with
    their text."""

    def __init__(self, name: str = "x", **settings: Any) -> None:
        settings["descriptors"] = "none"
        super().__init__(name, **settings)
        self._sides: dict[str, tuple[str, int] | None] = {}

    def _joined(self, raw: Raw) -> list[tuple[str, int] | None]:
        cells = super()._smiles(raw)
        for cell in set(cells) - set(self._sides):
            self._sides[cell] = _as_molecule(cell)
        return [self._sides[c] for c in cells]

    def _smiles(self, raw: Raw) -> list[str]:
        return [j[0] if j is not None else "" for j in self._joined(raw)]

    def check(self, raw: Raw) -> Bad:
        cells = super()._smiles(raw)
        return {r: f"unparsable reaction SMILES '{cells[r]}'" for r, j in enumerate(self._joined(raw)) if j is None}

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        graphs, bad = super().transform(raw)
        assert isinstance(graphs, MolecularGraphs)
        joined = self._joined(raw)
        sides = [torch.where(torch.arange(int(n)) < (j[1] if j is not None and r not in bad else 0), -1.0, 1.0)
                 for r, (n, j) in enumerate(zip(graphs.n_atoms.tolist(), joined))]
        atom_side = torch.cat(sides) if sides else torch.zeros(0)
        return ReactionGraphs(graphs, atom_side, [str(c) for c in super()._smiles(raw)]), bad

    def schema(self) -> InputSchema:
        base = super().schema()
        return InputSchema(self.name, "reaction", base.shape, feature_names=base.feature_names)


def mapped_pairs(reaction: str) -> list[tuple[int, int]]:
    """(reactant atom, product atom) index pairs of the atoms an atom-mapped reaction carries across (equal map
    numbers), indices within "reactants" and "product" as written."""
    from rdkit import Chem, rdBase  # optional heavy dependency: imported when used

    left, right = split_reaction(reaction)
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(side) for side in (left, right)]
    if any(m is None for m in mols):
        raise DataError(f"reaction '{reaction[:80]}' does not parse; its atoms cannot be paired.")
    where = {a.GetAtomMapNum(): a.GetIdx() for a in mols[0].GetAtoms() if a.GetAtomMapNum()}
    return [(where[a.GetAtomMapNum()], a.GetIdx()) for a in mols[1].GetAtoms() if a.GetAtomMapNum() in where]


def product_atom_values(reaction: str, atom_values: np.ndarray) -> np.ndarray:
    """Per product atom, its attribution plus that of the reactant atom it came from (mapped reactions):
    (product atoms,) from the reaction's atom values (reactant atoms, then product atoms).

    Why the sum: an atom the reaction leaves untouched has the same neighbourhood on both sides, so through a
    network that differences the sides its two appearances get opposite attributions, which cancel."""
    left, _ = split_reaction(reaction)
    from rdkit import Chem, rdBase  # optional heavy dependency: imported when used

    with rdBase.BlockLogs():
        n_left = Chem.MolFromSmiles(left).GetNumAtoms()
    out = np.array(atom_values[n_left:], dtype=np.float64)
    for r, p in mapped_pairs(reaction):
        out[p] += atom_values[r]
    return out


READERS.setdefault("reaction", read_table_source)
