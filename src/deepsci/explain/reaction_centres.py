"""Do a reaction model's atom attributions point at the reaction centre? One number per criterion.

For a reaction with a known centre (deepsci.data.reactions: the product atoms the template maps and whose bonds
change, k of them), the attribution of each product atom is its own plus that of the reactant atom it came from
(`product_atom_values`: through a network that differences the sides, an untouched atom's two appearances
cancel). Atoms are ranked by |value| (ties: lower index first) and the top k kept.

- hit: at least ceil(k / 2) of the top-k atoms lie in the centre (the criterion the docs state);
- top-1: the single most attributed atom lies in the centre;
- precision: the share of the top-k atoms in the centre, averaged over reactions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepsci.data.reaction_graphs import product_atom_values
from deepsci.errors import DataError


@dataclass(frozen=True)
class CentreHits:
    """How often attributions fall in the reaction centre, over `rows` reactions (see the module docstring)."""

    rows: int
    hit_rate: float
    top1_rate: float
    precision: float

    def to_json(self) -> dict[str, float | int]:
        return {"rows": self.rows, "hit_rate": self.hit_rate, "top1_rate": self.top1_rate,
                "precision": self.precision}


def top_atoms(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest |values|, largest first (ties: the lower index first)."""
    return np.argsort(-np.abs(values), kind="stable")[:k]


def centre_hits(reactions: Sequence[str], centres: Sequence[Sequence[int]],
                atom_values: Sequence[np.ndarray]) -> CentreHits:
    """The criteria of the module docstring for reactions (atom-mapped SMILES), their centres (product atom
    indices) and each reaction's atom attributions (reactant atoms, then product atoms). Reactions with an empty
    centre are left out."""
    if not (len(reactions) == len(centres) == len(atom_values)):
        raise DataError(f"centre_hits needs one centre and one attribution vector per reaction; received "
                        f"{len(reactions)} reactions, {len(centres)} centres, {len(atom_values)} attributions.")
    hits: list[bool] = []
    top1: list[bool] = []
    precision: list[float] = []
    for reaction, centre, values in zip(reactions, centres, atom_values):
        if not centre:
            continue
        product = product_atom_values(reaction, np.asarray(values, dtype=np.float64))
        k = len(centre)
        inside = np.isin(top_atoms(product, k), list(centre))
        hits.append(bool(inside.sum() >= math.ceil(k / 2)))
        top1.append(bool(inside[0]))
        precision.append(float(inside.mean()))
    if not hits:
        raise DataError("no reaction with a known centre among those given; centre_hits has nothing to count.")
    return CentreHits(len(hits), float(np.mean(hits)), float(np.mean(top1)), float(np.mean(precision)))
