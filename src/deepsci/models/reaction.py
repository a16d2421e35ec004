"""A network on reactions as graph pairs: one shared graph encoder for the reactants and the product.

The batch is a disjoint graph of each reaction's reactants and product (deepsci.data.reaction_graphs):
the usual graph keywords plus atom_side (Na,) = -1 on reactant atoms, +1 on product atoms. The network

    h = encoder(all atoms)                          (Na, H): dmpnn, gin or ugrnn (deepsci.models.graph),
                                                    the same weights on both sides
    z_r, z_p = readout of each side of each reaction (B, H) each
    z = z_p - z_r    ("difference")   or   [z_r, z_p]   ("concat")
    out = MLP head(z)                               (B, out)

"difference" with a sum readout is the learned analogue of the difference fingerprint (Schneider et al.
2015): an atom whose neighbourhood within `depth` bonds the reaction leaves unchanged gets the same state on
both sides and cancels, so only the reaction centre and its surroundings reach the head (as in the
condensed-graph and difference-readout reaction encoders, e.g. Heid & Green, J. Chem. Inf. Model. 62,
2101 (2022)). "concat" keeps both sides whole.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified, check_known
from deepsci.models.graph import GraphNet

COMBINES: tuple[str, ...] = ("difference", "concat")


class ReactionNet(Specified, nn.Module):
    """The reaction network of the module docstring.

    Args:
        n_atom, n_bond: widths of the atom and bond features.
        n_outputs: width of the head (classes of a multiclass task).
        network: the shared graph encoder: "dmpnn", "gin" or "ugrnn".
        combine: "difference" (z_p - z_r) or "concat" ([z_r, z_p]).
        width, depth, hidden, readout, activation, dropout, bond_features, members, seed: as GraphNet's.
    """

    KIND = "reaction"

    def __init__(self, n_atom: int, n_bond: int, n_outputs: int, *, network: str = "dmpnn",
                 combine: str = "difference", width: int = 128, depth: int = 3, hidden: Sequence[int] = (128,),
                 readout: str = "sum", activation: str = "relu", dropout: float = 0.0, bond_features: bool = True,
                 members: int = 1, seed: int = 0) -> None:
        super().__init__()
        check_known("reaction combine", combine, COMBINES)
        self.combine, self.members = combine, members
        # the head reads [z_r, z_p] for concat: GraphNet's head takes width + n_mol inputs
        self.graph = GraphNet(network, n_atom, n_bond, width if combine == "concat" else 0, n_outputs, width=width,
                              depth=depth, hidden=hidden, readout=readout, activation=activation, dropout=dropout,
                              bond_features=bond_features, members=members, seed=seed)

    def forward(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, rev_index: Tensor, atom_batch: Tensor,
                mol_x: Tensor, atom_side: Tensor | None = None, pair_dist: Tensor | None = None,
                n_atoms: Tensor | None = None) -> Tensor:
        """B reactions -> (B, out), or (K, B, out) for K > 1 members."""
        if atom_side is None:
            raise ModelError("a reaction network needs atom_side (-1 reactant, +1 product atom); give it reactions "
                             "(data.kind = 'reaction'), not molecules.")
        n_reactions = mol_x.shape[0]
        h = self.graph.encode(atom_x, bond_x, edge_index, rev_index, atom_batch, pair_dist, n_atoms)
        groups = 2 * atom_batch + (atom_side > 0).to(atom_batch.dtype)  # reaction b: 2b reactants, 2b + 1 product
        z = self.graph.pool(h, groups, 2 * n_reactions)  # (2B, H) / (K, 2B, H)
        z = z.unflatten(-2, (n_reactions, 2))  # (B, 2, H) / (K, B, 2, H)
        reactants, product = z[..., 0, :], z[..., 1, :]
        joined = product - reactants if self.combine == "difference" else torch.cat([reactants, product], dim=-1)
        return self.graph.head_output(joined)

    def as_ensemble(self, members: int) -> "ReactionNet":
        """A fresh K-member network of this architecture (member k initialised from seed + k)."""
        return ReactionNet.from_spec({**self.spec(), "members": int(members)})
