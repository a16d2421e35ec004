"""A Lorentz-invariant set network for collider events: it sees the particles only through Minkowski products.

Each particle i of an event is read as (pT, eta, phi, E) [GeV, -, rad, GeV] and turned into its four-vector

    p_i = (E, px, py, pz) = (E, pT cos phi, pT sin phi, pT sinh eta)

whose products under the metric (+, -, -, -),

    M_ij = p_i . p_j = E_i E_j - px_i px_j - py_i py_j - pz_i pz_j      [GeV^2]
    (M_ii = m_i^2, the particle's mass squared; M_ij + M_ji + M_ii + M_jj = m_ij^2, the pair's invariant mass)

do not change under any boost or rotation of the whole event. The network is a set network over them:

    pair    psi(u(M_ij), u(M_ii), u(M_jj), s_i, s_j)      for every ordered pair i != j of real particles
    single  phi(u(M_ii), u(sum_j M_ij), s_i)                 (sum_j M_ij = p_i . P, P the event's total momentum)
    event   rho([pool_ij psi, pool_i phi, u(P . P)])  ->  head

with u(m) = sign(m) log(1 + |m| / scale^2), a compression of the GeV^2 range to order one, and s_i the
particle's invariant scalar features (a tag, a charge; `scalars`). Every input of psi, phi and rho is an
invariant, so the output is too (to float rounding: the products are formed in float64, from float32 inputs),
and the pools make it invariant to the particles' order. Following the pairwise-invariant networks of
LorentzNet (Gong et al. 2022) and PELICAN (Bogatskiy et al. 2022), in their simplest (Deep Sets) form.

Shapes: forward(x (batch, S, d), mask (batch, S) bool or None) -> (batch, n_outputs); `momentum` gives the
columns of pT, eta, phi and E among the d features. The features must reach the model unscaled ([data]
scale = "none"): a standardised pT is no momentum.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified, check_known
from deepsci.models.init import seeded
from deepsci.models.sets import _check_set, _mlp  # the set networks' shape check and Linear-act stacks
from deepsci.models.transformer import masked_pool

LORENTZ_POOLINGS = ("sum", "mean")


def four_vectors(x: Tensor, momentum: Sequence[int]) -> Tensor:
    """(E, px, py, pz) in float64 (batch, S, 4) from the (pT, eta, phi, E) columns `momentum` of x (batch, S, d)."""
    pt, eta, phi, energy = (x[..., int(i)].double() for i in momentum)
    return torch.stack([energy, pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], -1)


def minkowski(p: Tensor) -> Tensor:
    """All products M_ij = p_i . p_j under the metric (+, -, -, -): (batch, S, 4) -> (batch, S, S)."""
    metric = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=p.dtype, device=p.device)
    return torch.einsum("bim,bjm->bij", p * metric, p)


class LorentzNet(Specified, nn.Module):
    """The invariant set network of the module docstring.

    Args:
        n_inputs: features per particle d; n_outputs: head width.
        momentum: column indices of pT [GeV], eta, phi [rad], E [GeV] among the d features.
        scalars: column indices of invariant per-particle features (tags, charges), () for none.
        hidden: widths of psi (on pairs) and of phi (on particles); rho: widths after the pools.
        pooling: "sum" (default) or "mean" over pairs and particles; scale: the compression's scale [GeV].
        activation, dropout: of psi, phi and rho. seed: seeds the initialisation.
    """

    KIND = "lorentz"

    def __init__(self, n_inputs: int, n_outputs: int, *, momentum: Sequence[int] = (0, 1, 2, 3),
                 scalars: Sequence[int] = (), hidden: Sequence[int] = (64, 64), rho: Sequence[int] = (64,),
                 pooling: str = "sum", scale: float = 100.0, activation: str = "relu", dropout: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__()
        check_known("Lorentz pooling", pooling, LORENTZ_POOLINGS)
        columns = [*momentum, *scalars]
        if len(momentum) != 4 or any(not 0 <= int(i) < n_inputs for i in columns):
            raise ModelError(f"momentum takes the 4 columns of pT, eta, phi and E, and scalars columns of the "
                             f"{n_inputs} features; received momentum={list(momentum)}, scalars={list(scalars)}.")
        if not hidden or scale <= 0:
            raise ModelError(f"a Lorentz network needs hidden widths and a positive scale; received hidden="
                             f"{list(hidden)}, scale={scale}.")
        k = len(scalars)
        with seeded(seed):
            self.psi = _mlp([3 + 2 * k, *hidden], activation, dropout)
            self.phi = _mlp([2 + k, *hidden], activation, dropout)
            self.rho = _mlp([2 * int(hidden[-1]) + 1, *rho], activation, dropout)
            self.head = nn.Linear(([2 * int(hidden[-1]) + 1, *rho])[-1], int(n_outputs))

    def _compress(self, m: Tensor, dtype: torch.dtype) -> Tensor:
        """u(m) = sign(m) log(1 + |m| / scale^2), in float64, then cast to the network's dtype."""
        return (torch.sign(m) * torch.log1p(m.abs() / self.hparams["scale"] ** 2)).to(dtype)

    def encode(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        s = self.hparams
        mask = _check_set(x, mask, s["n_inputs"])
        b, n = mask.shape
        p = four_vectors(x, s["momentum"]) * mask.unsqueeze(-1)  # padded particles: zero four-vectors
        if bool((p[..., 0] < 0).any()):
            raise ModelError("a Lorentz network got negative particle energies: its features look standardised. "
                             "Set [data] scale = 'none' so that pT and E reach it in GeV.")
        m = minkowski(p)  # (b, S, S) float64
        diag = torch.diagonal(m, dim1=1, dim2=2)  # (b, S): masses squared
        dtype = x.dtype
        masses = self._compress(diag, dtype)  # (b, S)
        scal = x[..., list(s["scalars"])]  # (b, S, k)
        pair_in = torch.cat([self._compress(m, dtype).unsqueeze(-1), masses.unsqueeze(2).expand(b, n, n).unsqueeze(-1),
                             masses.unsqueeze(1).expand(b, n, n).unsqueeze(-1),
                             scal.unsqueeze(2).expand(b, n, n, -1), scal.unsqueeze(1).expand(b, n, n, -1)], -1)
        pair_mask = mask.unsqueeze(2) & mask.unsqueeze(1) & ~torch.eye(n, dtype=torch.bool, device=x.device)
        pairs = masked_pool(self.psi(pair_in).flatten(1, 2), pair_mask.flatten(1), s["pooling"])
        pairs = pairs.masked_fill(~pair_mask.flatten(1).any(1, keepdim=True), 0.0)  # one particle: no pair
        single_in = torch.cat([masses.unsqueeze(-1), self._compress(m.sum(2), dtype).unsqueeze(-1), scal], -1)
        singles = masked_pool(self.phi(single_in), mask, s["pooling"])
        total = self._compress(m.sum((1, 2)), dtype).unsqueeze(-1)  # P . P: the event's invariant mass squared
        return self.rho(torch.cat([pairs, singles, total], -1))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encode(x, mask))
