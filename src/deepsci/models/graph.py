"""Networks on molecular graphs: D-MPNN, GIN/GINE and the recursive UG-RNN, each with a pooled readout.

Every network takes one batch as a disjoint graph (deepsci.data.graphs.MolecularGraphs.take_rows):

    atom_x (Na, A), bond_x (E, Bf), edge_index (2, E) source/target atoms, rev_index (E,) the reverse edge,
    atom_batch (Na,) molecule of each atom, mol_x (B, D) per-molecule descriptors (D may be 0),
    pair_dist (sum n_i^2,) topological atom distances, n_atoms (B,)

and computes  atom states (K, Na, H) -> readout (K, B, H) -> [join mol_x] -> MLP head -> (K, B, out).
K is the number of ensemble members held in the one module (`members`): every weight carries a leading
member dimension and each layer is one batched matmul (`torch.baddbmm`), so K members cost about as many
kernel launches as one (as deepsci.training.ensemble does for MLPs). Member k is initialised exactly as a
one-member network of seed `seed + k`. With K = 1 there is no member dimension at all: states are
(Na, H), each layer one `addmm`, and the output is (B, out) (about a fifth less CPU per epoch at
chemprop's sizes than carrying a member dimension of size 1, whose advanced indexing has a slow
accumulating backward; docs/molecules.md).

Message passing is `index_select` / `index_add_` on the batch's index tensors (sums over incoming edges, over a molecule's
atoms): on this machine it is as fast as torch_geometric's scatter (which calls the same kernels) and
needs no graph-object conversion per batch; a sum never depends on the order atoms are numbered in, so
outputs are invariant to renumbering a molecule's atoms.

Encoders (the `[model] kind`):
    dmpnn   directed bond messages (Yang et al. 2019, chemprop): h0_vw = act(W_i [x_v, e_vw]);
            h_vw <- act(h0_vw + W_h (sum_{u->v} h_uv - h_wv)) for depth - 1 steps; atom state
            act(W_o [x_v, sum_{u->v} h_uv]).
    gin     GIN (Xu et al. 2019) / GINE with bond features (Hu et al. 2020): h_v <- h_v + MLP((1 + eps) h_v
            + sum_{u->v} act(h_u + W_e e_uv)), depth layers.
    ugrnn   the "inner" recursive approach (Lusci, Pollastri & Baldi 2013, UG-RNN): for every root atom r the
            molecule is oriented into a DAG towards r (edges from atoms farther from r to atoms nearer it, by
            topological distance); a shared recursive cell h_v = act(W_x x_v + W_h sum_parents h_p + W_e sum
            e_pv + b) runs from the farthest atoms to r. Every DAG of every molecule in the batch advances
            one distance level per step (vectorised over DAGs); the molecule's atom states are the roots'.
Readouts: mean, sum, or attention (a softmax over each molecule's atoms of a learned score, Li et al. 2016).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.arguments import Specified, check_known

READOUTS: tuple[str, ...] = ("mean", "sum", "attention")


class MemberLinear(nn.Module):
    """K affine maps at once: x (K, N, in) or (N, in) -> (K, N, out), member k drawn from generators[k].

    With one member (K = 1) states carry no member dimension: x (N, in) -> (N, out), one `addmm`. The
    member dimension costs at K = 1 a permute/reshape per layer and, worse, advanced indexing `h[:, idx]`
    whose backward is an accumulating `index_put_`; 2-D states use `index_select`/`index_add_` both ways.
    Initialised as nn.Linear (uniform in +-1/sqrt(in) for weights and bias), per member.
    """

    def __init__(self, n_in: int, n_out: int, generators: Sequence[torch.Generator], bias: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(max(n_in, 1))
        draw = (lambda shape, g: (torch.rand(shape, generator=g) * 2 - 1) * bound)  # noqa: E731
        self.weight = nn.Parameter(torch.stack([draw((n_in, n_out), g) for g in generators]))  # (K, in, out)
        self.bias = nn.Parameter(torch.stack([draw((1, n_out), g) for g in generators])) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        k, n_in, n_out = self.weight.shape
        if k == 1:  # (N, in) -> (N, out)
            x2 = x if x.dim() == 2 else x[0]
            return x2 @ self.weight[0] if self.bias is None else torch.addmm(self.bias[0], x2, self.weight[0])
        if x.dim() == 2:  # one input for every member: a single GEMM
            y = (x @ self.weight.permute(1, 0, 2).reshape(n_in, k * n_out)).view(-1, k, n_out).transpose(0, 1)
            return y if self.bias is None else y + self.bias
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)  # (K, N, out)

    def add_to(self, base: Tensor, x: Tensor) -> Tensor:
        """base + x W (no bias) in one fused kernel: base and x (N, ...) at K = 1, (K, N, ...) otherwise."""
        if self.weight.shape[0] == 1:
            return torch.addmm(base, x, self.weight[0])
        return torch.baddbmm(base, x, self.weight)


def gather(h: Tensor, index: Tensor) -> Tensor:
    """Rows `index` (M,) of states h (N, H) or (K, N, H): (M, H) or (K, M, H). `index_select`, whose
    backward is a plain `index_add_` (advanced indexing's is an accumulating `index_put_`, slower)."""
    return h.index_select(-2, index)


def scatter_sum(src: Tensor, index: Tensor, size: int) -> Tensor:
    """Sums of src (N, H) or (K, N, H) rows grouped by index (N,) into (size, H) or (K, size, H)."""
    out = src.new_zeros(*src.shape[:-2], size, src.shape[-1])
    return out.index_add_(-2, index, src)


def per_member(x: Tensor, members: int) -> Tensor:
    """A member-independent (N, D) tensor as the states' layout: itself at K = 1, else a (K, N, D) view."""
    return x if members == 1 else x.unsqueeze(0).expand(members, -1, -1)


class GraphNet(Specified, nn.Module):
    """An encoder of `kind` (dmpnn, gin, ugrnn), a readout and an MLP head; see the module docstring.

    Args:
        kind: the encoder.
        n_atom, n_bond, n_mol: widths of atom features, bond features and the per-molecule vector (0: none).
        n_outputs: width of the head.
        width: atom/bond state width H.
        depth: message-passing steps (dmpnn: chemprop's depth, depth - 1 bond updates), GIN layers, or the
            number of stacked recursive cells (ugrnn: 1 is Lusci's network).
        hidden: widths of the head's hidden layers after the readout.
        readout: "mean", "sum" or "attention".
        activation: a deepsci activation name.
        dropout: dropout after each message-passing step and head layer (MC dropout reads it).
        bond_features: gin only: GINE (bond features in the messages) when True, plain GIN when False.
        members: K ensemble members held as one module.
        seed: member k is initialised from seed + k.
    """

    def __init__(self, kind: str, n_atom: int, n_bond: int, n_mol: int, n_outputs: int, *, width: int = 300,
                 depth: int = 3, hidden: Sequence[int] = (300,), readout: str = "mean", activation: str = "relu",
                 dropout: float = 0.0, bond_features: bool = True, members: int = 1, seed: int = 0) -> None:
        super().__init__()
        check_known("graph encoder", kind, tuple(ENCODERS))
        check_known("graph readout", readout, READOUTS)
        if members < 1 or depth < 1:
            raise ModelError(f"a graph network needs members >= 1 and depth >= 1; received {members}, {depth}.")
        self.kind, self.depth, self.members, self.readout = kind, depth, members, readout
        g = [torch.Generator().manual_seed(seed + k) for k in range(members)]
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout)
        ENCODERS[kind][0](self, n_atom, n_bond, width, depth, g)
        if readout == "attention":
            self.att_v = MemberLinear(width, width, g)
            self.att_w = MemberLinear(width, 1, g, bias=False)
        widths = [width + n_mol, *hidden]
        self.head = nn.ModuleList([MemberLinear(a, b, g) for a, b in zip(widths[:-1], widths[1:])])
        self.out = MemberLinear(widths[-1], n_outputs, g)

    # -- encoders' layers (attribute names are the keys of saved weights: keep them) ---------------------
    def _dmpnn_layers(self, n_atom: int, n_bond: int, width: int, depth: int, g: list[torch.Generator]) -> None:
        self.w_i = MemberLinear(n_atom + n_bond, width, g, bias=False)
        self.w_h = MemberLinear(width, width, g, bias=False)
        self.w_o = MemberLinear(n_atom + width, width, g)

    def _gin_layers(self, n_atom: int, n_bond: int, width: int, depth: int, g: list[torch.Generator]) -> None:
        self.embed = MemberLinear(n_atom, width, g)
        bond_features = self.hparams["bond_features"]
        self.edge = nn.ModuleList([MemberLinear(n_bond, width, g) for _ in range(depth)]) if bond_features else None
        self.mlp1 = nn.ModuleList([MemberLinear(width, width, g) for _ in range(depth)])
        self.mlp2 = nn.ModuleList([MemberLinear(width, width, g) for _ in range(depth)])
        self.eps = nn.Parameter(torch.zeros(depth, self.members, 1, 1))

    def _ugrnn_layers(self, n_atom: int, n_bond: int, width: int, depth: int, g: list[torch.Generator]) -> None:
        self.cell_x = nn.ModuleList([MemberLinear(n_atom if i == 0 else width, width, g) for i in range(depth)])
        self.cell_h = nn.ModuleList([MemberLinear(width, width, g, bias=False) for _ in range(depth)])
        self.cell_e = nn.ModuleList([MemberLinear(n_bond, width, g, bias=False) for _ in range(depth)])

    # -- encoders: atom states (K, Na, H) ----------------------------------------------------------
    # each takes the whole batch: atom_x, bond_x, edge_index, rev_index, atom_batch, pair_dist, n_atoms
    def _dmpnn(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, rev_index: Tensor, *rest: Any) -> Tensor:
        src, dst = edge_index[0], edge_index[1]
        n = atom_x.shape[0]
        h0 = self.act(self.w_i(torch.cat([atom_x.index_select(0, src), bond_x], dim=1)))  # (E, H) / (K, E, H)
        h = h0
        for _ in range(self.depth - 1):
            incoming = scatter_sum(h, dst, n)  # (Na, H): sum of messages into each atom
            message = gather(incoming, src) - gather(h, rev_index)  # bond v->w: all into v, minus w->v
            h = self.drop(self.act(self.w_h.add_to(h0, message)))
        incoming = scatter_sum(h, dst, n)
        return self.drop(self.act(self.w_o(torch.cat([per_member(atom_x, self.members), incoming], dim=-1))))

    def _gin(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, *rest: Any) -> Tensor:
        src, dst = edge_index[0], edge_index[1]
        h = self.embed(atom_x)  # (Na, H) / (K, Na, H)
        for i in range(self.depth):
            msg = gather(h, src)
            if self.edge is not None:
                msg = self.act(msg + self.edge[i](bond_x))
            eps = self.eps[i] if self.members > 1 else self.eps[i, 0]  # (K, 1, 1) / (1, 1)
            z = (1 + eps) * h + scatter_sum(msg, dst, h.shape[-2])
            h = h + self.drop(self.act(self.mlp2[i](self.act(self.mlp1[i](z)))))
        return h

    def _ugrnn(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, rev_index: Tensor, atom_batch: Tensor,
               pair_dist: Tensor | None, n_atoms: Tensor | None) -> Tensor:
        if pair_dist is None or n_atoms is None:
            raise ModelError("the UG-RNN needs pair_dist and n_atoms (deepsci.data.graphs batches carry them).")
        dags = dag_levels(edge_index, atom_batch, pair_dist, n_atoms)
        x: Tensor = atom_x
        for i in range(self.depth):
            x = self._ugrnn_pass(i, x, bond_x, dags)
        return x

    def _ugrnn_pass(self, i: int, x: Tensor, bond_x: Tensor, dags: list[dict[str, Tensor]]) -> Tensor:
        """One recursive cell over every DAG, farthest level first; returns the root states (Na, H) or (K, Na, H)."""
        wx = self.cell_x[i](x)  # (Na, H) / (K, Na, H), the input term of every node of that atom
        we = self.cell_e[i](bond_x)  # (E, H) / (K, E, H)
        prev: Tensor | None = None
        for level in dags:  # farthest level first; the last is the roots (one per atom, in atom order)
            pre = gather(wx, level["atom"])
            if prev is not None and level["child"].numel():
                n = pre.shape[-2]
                agg = self.cell_h[i](scatter_sum(gather(prev, level["parent"]), level["child"], n))
                pre = pre + agg + scatter_sum(gather(we, level["edge"]), level["child"], n)
            prev = self.drop(self.act(pre))
        assert prev is not None
        return prev

    # -- readout and head -----------------------------------------------------------------------------
    def _pool(self, h: Tensor, atom_batch: Tensor, n_molecules: int) -> Tensor:
        """(Na, H) -> (B, H), or (K, Na, H) -> (K, B, H)."""
        if self.readout == "attention":
            score = self.att_w(torch.tanh(self.att_v(h))).squeeze(-1)  # (Na,) / (K, Na)
            index = atom_batch.expand_as(score)
            top = score.new_full((*score.shape[:-1], n_molecules), -torch.inf).scatter_reduce(
                -1, index, score, "amax", include_self=True)
            e = torch.exp(score - top.gather(-1, index))
            weight = e / e.new_zeros(top.shape).index_add_(-1, atom_batch, e).gather(-1, index)
            return scatter_sum(h * weight.unsqueeze(-1), atom_batch, n_molecules)
        total = scatter_sum(h, atom_batch, n_molecules)
        if self.readout == "sum":
            return total
        count = torch.bincount(atom_batch, minlength=n_molecules).clamp(min=1).to(h.dtype)
        return total / count.view(-1, 1)

    def encode(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, rev_index: Tensor, atom_batch: Tensor,
               pair_dist: Tensor | None = None, n_atoms: Tensor | None = None) -> Tensor:
        """Atom states of a disjoint graph: (Na, H), or (K, Na, H) for K > 1 members."""
        return ENCODERS[self.kind][1](self, atom_x, bond_x, edge_index, rev_index, atom_batch, pair_dist, n_atoms)

    def pool(self, h: Tensor, groups: Tensor, n_groups: int) -> Tensor:
        """The readout of atom states h (Na, H) / (K, Na, H) over the atoms of each group (Na,) in [0, n_groups):
        (n_groups, H) / (K, n_groups, H)."""
        return self._pool(h, groups, n_groups)

    def head_output(self, z: Tensor) -> Tensor:
        """The MLP head on readouts z (B, in) / (K, B, in): (B, out) / (K, B, out)."""
        for layer in self.head:
            z = self.drop(self.act(layer(z)))
        return self.out(z)

    def forward(self, atom_x: Tensor, bond_x: Tensor, edge_index: Tensor, rev_index: Tensor, atom_batch: Tensor,
                mol_x: Tensor, pair_dist: Tensor | None = None, n_atoms: Tensor | None = None) -> Tensor:
        """One disjoint graph of B molecules -> (B, out), or (K, B, out) for K > 1 members."""
        n_molecules = mol_x.shape[0]
        h = self.encode(atom_x, bond_x, edge_index, rev_index, atom_batch, pair_dist, n_atoms)
        z = self._pool(h, atom_batch, n_molecules)  # (B, H) / (K, B, H)
        if mol_x.shape[1]:
            z = torch.cat([z, per_member(mol_x, self.members)], dim=-1)
        return self.head_output(z)  # (B, out) / (K, B, out)

    def as_ensemble(self, members: int) -> "GraphNet":
        """A fresh K-member network of this architecture (member k initialised from seed + k)."""
        return GraphNet.from_spec({**self.spec(), "members": int(members)})


#: graph encoder (a `kind` of GraphNet) -> (the method making its layers, the method computing atom states)
ENCODERS: dict[str, tuple[Callable[..., None], Callable[..., Tensor]]] = {
    "dmpnn": (GraphNet._dmpnn_layers, GraphNet._dmpnn), "gin": (GraphNet._gin_layers, GraphNet._gin),
    "ugrnn": (GraphNet._ugrnn_layers, GraphNet._ugrnn)}


def dag_levels(edge_index: Tensor, atom_batch: Tensor, pair_dist: Tensor, n_atoms: Tensor) -> list[dict[str, Tensor]]:
    """The DAGs of every root atom of every molecule of a batch, as distance levels, farthest first.

    A DAG node is a pair (root r, atom v) of one molecule, at level dist(r, v); DAG edges run u -> v along
    a bond when dist(r, u) = dist(r, v) + 1 (bonds between atoms equally far from r join no DAG edge).
    Each level lists its nodes' atoms ("atom") and, for the edges into it, the parent's position in the
    level before ("parent"), the child's position in this level ("child") and the bond edge ("edge").
    The last level (0) holds the roots, one per atom in atom order.
    """
    n = n_atoms
    pair_start = (n * n).cumsum(0) - n * n  # (B,)
    atom_start = n.cumsum(0) - n
    # nodes: for molecule m, root r, atom v: flat position pair_start[m] + r n_m + v (pair_dist's layout)
    total = int(pair_dist.shape[0])
    mol_of_node = torch.repeat_interleave(torch.arange(len(n)), n * n, output_size=total)
    local = torch.arange(total) - pair_start[mol_of_node]
    nm = n[mol_of_node]
    node_atom = atom_start[mol_of_node] + local % nm
    level = pair_dist  # -1: the atom lies in another fragment than the root, in no DAG of that root
    # edges: every directed bond u -> v, once per root of its molecule
    src, dst = edge_index[0], edge_index[1]
    mol_of_edge = atom_batch[src]
    n_e = n[mol_of_edge]
    n_rep = int(n_e.sum())
    edge_rep = torch.repeat_interleave(torch.arange(src.shape[0]), n_e, output_size=n_rep)
    root = torch.arange(n_rep) - torch.repeat_interleave(n_e.cumsum(0) - n_e, n_e, output_size=n_rep)
    m = mol_of_edge[edge_rep]
    base = pair_start[m] + root * n[m] - atom_start[m]
    parent_node, child_node = base + src[edge_rep], base + dst[edge_rep]
    keep = (level[parent_node] == level[child_node] + 1) & (level[child_node] >= 0)
    parent_node, child_node, edge_rep = parent_node[keep], child_node[keep], edge_rep[keep]
    # position of each node within its level
    valid = level >= 0
    order = torch.argsort(level, stable=True)  # level -1 (in no DAG) first, then 0, 1, ...
    counts = torch.bincount(level[valid], minlength=1)
    starts = int((~valid).sum()) + counts.cumsum(0) - counts  # where each level begins in `order`
    position = torch.zeros_like(level)
    position[order[total - int(counts.sum()):]] = torch.arange(int(counts.sum())) - \
        torch.repeat_interleave(starts - starts[0], counts)
    levels: list[dict[str, Tensor]] = []
    child_level = level[child_node]
    for d in range(len(counts) - 1, -1, -1):
        nodes = order[int(starts[d]): int(starts[d] + counts[d])]
        into = child_level == d
        levels.append({"atom": node_atom[nodes], "parent": position[parent_node[into]],
                       "child": position[child_node[into]], "edge": edge_rep[into]})
    return levels
