"""Permutation-invariant networks for sets: Deep Sets and the Set Transformer.

A set of S d-vectors travels padded, as x (batch, S, d) with mask (batch, S) bool (True on real
elements). Both networks give the same output for any order of a set's elements and any values in
its padding (Baldi 2021, Deep Learning in Science, on attention and gating):

- Deep Sets (Zaheer et al. 2017): f(X) = rho( pool_{i in X} phi(x_i) ), phi and rho MLPs and a
  masked sum, mean or max pool. Every permutation-invariant continuous function of a set has this form
  (for sum pooling and wide enough phi, rho). With `pairwise` widths a pair network joins it, as in
  Relation Networks (Santoro et al. 2017, "A simple neural network module for relational reasoning"):
      f(X) = rho( [ pool_i phi(x_i),  pool_{i != j} psi(x_i, x_j) ] )
  over ordered pairs of distinct real elements, O(S^2). A quantity of two elements, such as the
  invariant mass m_ij^2 = 2 pT_i pT_j (cosh d_eta - cos d_phi) of two massless particles, is then one
  psi output instead of a product that a sum of single-element encodings cannot form; and the mass of
  the whole set is a sum over pairs (m^2 = sum_{i<j} m_ij^2 for massless particles).
- Set Transformer (Lee et al. 2019): attention between elements, built of
      MAB(X, Y) = LN(H + rFF(H)),  H = LN(X + Multihead(X, Y, Y))
      SAB(X)    = MAB(X, X)                              (O(S^2))
      ISAB(X)   = MAB(X, MAB(I, X)), I: m learned points  (O(S m))
      PMA_k(Z)  = MAB(S_k, rFF(Z)),  S_k: k learned seeds  (pooling)
  SAB/ISAB are permutation-equivariant and PMA invariant; padded elements are keys masked out of
  every attention (`key_padding_mask`), so they never reach a real element or the pool.

Shapes: forward(x (batch, S, d), mask (batch, S) bool or None) -> (batch, n_outputs).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.arguments import Specified, check_known
from deepsci.models.init import seeded
from deepsci.models.transformer import masked_pool, mlp_head


def _check_set(x: Tensor, mask: Tensor | None, n_inputs: int) -> Tensor:
    """The mask (batch, S) bool (all True when None), after checking shapes and that no set is empty."""
    if x.dim() != 3 or x.shape[-1] != n_inputs:
        raise ModelError(f"a set network expects sets (batch, S, {n_inputs}); received {tuple(x.shape)}.")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.shape != x.shape[:2]:
        raise ModelError(f"the set mask must be (batch, S) = {tuple(x.shape[:2])}; received {tuple(mask.shape)}.")
    mask = mask.bool()
    if not bool(mask.any(1).all()):
        raise ModelError(f"{int((~mask.any(1)).sum())} set(s) have no element (all-False mask rows); drop empty sets.")
    return mask


SET_POOLINGS: tuple[str, ...] = ("sum", "mean", "max")


def pair_inputs(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Every ordered pair of elements as one vector: x (b, S, d) -> pairs (b, S*S, 2d) = [x_i, x_j], and the
    pair mask (b, S*S), True where i != j and both elements are real (so padding never enters a pair)."""
    b, s, d = x.shape
    pairs = torch.cat([x.unsqueeze(2).expand(b, s, s, d), x.unsqueeze(1).expand(b, s, s, d)], -1)
    distinct = ~torch.eye(s, dtype=torch.bool, device=x.device)
    pair_mask = mask.unsqueeze(2) & mask.unsqueeze(1) & distinct  # (b, S, S)
    return pairs.reshape(b, s * s, 2 * d), pair_mask.reshape(b, s * s)


#: pair activations below this are not checked against the free memory (reading it costs more than they do)
PAIR_CHECK_BYTES = 256 * 2 ** 20


def pair_bytes(batch: int, size: int, n_inputs: int, widths: Sequence[int], *, grad: bool) -> int:
    """Bytes (float32) the pair network holds for one batch of `batch` sets padded to `size` elements.

    Every ordered pair is a row: batch x size² rows of [x_i, x_j] (2d values). With gradients, each psi layer
    keeps its linear output and its activation for the backward pass: 4 b S² (2d + 2 Σ widths). Without, two
    layers' outputs live at once: 4 b S² (2d + 2 max widths).
    """
    rows = batch * size * size
    kept = 2 * sum(widths) if grad else 2 * max(widths, default=0)
    return 4 * rows * (2 * n_inputs + kept)


def available_bytes() -> int | None:
    """Memory this process may still take: the least of the system's MemAvailable, its cgroup's limit less
    its usage (v2 memory.max, v1 memory.limit_in_bytes) and its address-space limit less its size (None:
    not known here)."""
    import resource  # POSIX only: imported where it is used

    found: list[int] = []
    meminfo = _read_numbers("/proc/meminfo", "MemAvailable:")
    if meminfo is not None:
        found.append(meminfo * 1024)
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_numbers(limit_path), _read_numbers(usage_path)
        if limit is not None and usage is not None and limit < 2 ** 60:
            found.append(limit - usage)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    size = _read_numbers("/proc/self/status", "VmSize:")
    if soft != resource.RLIM_INFINITY and size is not None:
        found.append(soft - size * 1024)
    return max(0, min(found)) if found else None


def _read_numbers(path: str, key: str = "") -> int | None:
    """The integer of a one-number file, or after `key` in a "key: value kB" file; None if unreadable."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line[len(key):].split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_pair_memory(batch: int, size: int, n_inputs: int, widths: Sequence[int], *, grad: bool) -> None:
    """Refuse, in one line, a batch whose pair activations (`pair_bytes`) exceed the memory available."""
    need = pair_bytes(batch, size, n_inputs, widths, grad=grad)
    if need < PAIR_CHECK_BYTES:
        return
    free = available_bytes()
    if free is None or need <= free:
        return
    fits = max(1, int(batch * free / need))
    raise ModelError(f"the pair network (model.pairwise = {list(widths)}) needs about {need / 2 ** 30:.2f} GiB for a "
                     f"batch of {batch} sets of up to {size} elements ({size * size} pairs each), and about "
                     f"{free / 2 ** 30:.2f} GiB are available; lower train.batch_size to {fits} or fewer, narrow "
                     "model.pairwise, or drop it.")


def _mlp(widths: Sequence[int], act: str, dropout: float) -> nn.Sequential:
    """Linear -> act [-> Dropout] for each consecutive pair of widths."""
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), make_activation(act)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DeepSets(Specified, nn.Module):
    """rho(pool_i phi(x_i)) (Zaheer et al. 2017) with a masked pool; with `pairwise`, also pool_{i != j} psi(x_i, x_j).

    Args:
        n_inputs: features per element d; n_outputs: head width.
        hidden: phi's widths (applied to every element); rho: widths after the pool.
        pooling: "sum" (default; counts matter), "mean" or "max"; the pairs are pooled the same way.
        pairwise: psi's widths, applied to every ordered pair [x_i, x_j] (2d inputs) of distinct real
            elements (Relation Networks, Santoro et al. 2017); its pool is joined to phi's before rho.
            () (default): plain Deep Sets. Costs S^2 psi evaluations per set, and `pair_bytes` of memory a
            batch (60-element sets of 4 features, widths 128 x 3, batch 32: 0.33 GiB in training); a batch that will not
            fit in the memory available is refused (`check_pair_memory`).
        activation, dropout: of phi, psi and rho. seed: seeds the initialisation.
    """

    KIND = "deepsets"

    def __init__(self, n_inputs: int, n_outputs: int, *, hidden: Sequence[int] = (64, 64), rho: Sequence[int] = (64,),
                 pooling: str = "sum", pairwise: Sequence[int] = (), activation: str = "relu", dropout: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__()
        check_known("set pooling", pooling, SET_POOLINGS)
        if not hidden:
            raise ModelError("Deep Sets needs at least one phi layer: give hidden = [64] or wider.")
        widths = [int(n_inputs), *self.hparams["hidden"]]
        pair_widths = [2 * int(n_inputs), *self.hparams["pairwise"]]
        pooled = widths[-1] + (pair_widths[-1] if pairwise else 0)
        with seeded(seed):
            self.phi = _mlp(widths, activation, dropout)
            # psi is made (and registered) only when asked: plain Deep Sets keep their initialisation, and
            # psi sits before the head, which a multi-input model strips as the last Linear layer
            self.psi = _mlp(pair_widths, activation, dropout) if pairwise else None
            self.rho = _mlp([pooled, *self.hparams["rho"]], activation, dropout)
            self.head = nn.Linear(self.features, int(n_outputs))

    @property
    def features(self) -> int:
        """Width of the encoding the head reads (rho's output, or the pool when rho is empty)."""
        s = self.hparams
        pooled = s["hidden"][-1] + (s["pairwise"][-1] if s["pairwise"] else 0)
        return int(([pooled, *s["rho"]])[-1])

    def encode(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        mask = _check_set(x, mask, self.hparams["n_inputs"])
        pooled = masked_pool(self.phi(x), mask, self.hparams["pooling"])  # (b, hidden[-1])
        if self.psi is not None:
            check_pair_memory(x.shape[0], x.shape[1], x.shape[2], self.hparams["pairwise"],
                              grad=torch.is_grad_enabled())
            pairs, pair_mask = pair_inputs(x, mask)
            pair_pool = masked_pool(self.psi(pairs), pair_mask, self.hparams["pooling"])  # (b, pairwise[-1])
            # a one-element set has no pair: its pair pool is 0 (max over nothing would be -inf)
            pair_pool = pair_pool.masked_fill(~pair_mask.any(1, keepdim=True), 0.0)
            pooled = torch.cat([pooled, pair_pool], -1)
        return self.rho(pooled)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encode(x, mask))


class MAB(nn.Module):
    """Multihead attention block: H = LN(X + MHA(X, Y, Y)), out = LN(H + rFF(H)). X (b, n, w), Y (b, m, w)."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: Tensor, y: Tensor, y_mask: Tensor | None = None) -> Tensor:
        a, _ = self.attn(x, y, y, key_padding_mask=None if y_mask is None else ~y_mask, need_weights=False)
        h = self.ln1(x + a)
        return self.ln2(h + self.ff(h))


class ISAB(nn.Module):
    """Induced set attention: H = MAB(I, X) (m learned points attend to the set), out = MAB(X, H)."""

    def __init__(self, width: int, heads: int, inducing: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.points = nn.Parameter(torch.randn(1, inducing, width) * width ** -0.5)
        self.mab1, self.mab2 = MAB(width, heads, dropout), MAB(width, heads, dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.mab1(self.points.expand(x.shape[0], -1, -1), x, mask)  # (b, m, w): padding masked out
        return self.mab2(x, h)


class SetTransformer(Specified, nn.Module):
    """Set Transformer (Lee et al. 2019): input projection, SAB/ISAB blocks, PMA pooling, head.

    Args:
        n_inputs: features per element; n_outputs: head width.
        width, heads: attention width (a multiple of heads) and heads.
        layers: SAB (or ISAB when `inducing` is set) blocks in the encoder.
        inducing: number of ISAB inducing points (None: full self-attention, SAB).
        seeds: PMA seed vectors; their outputs are concatenated (features = seeds * width).
        hidden: head widths after pooling; dropout: in attention and the head. seed: the init.
    """

    KIND = "set-transformer"

    def __init__(self, n_inputs: int, n_outputs: int, *, width: int = 64, heads: int = 4, layers: int = 2,
                 inducing: int | None = None, seeds: int = 1, hidden: Sequence[int] = (), dropout: float = 0.0,
                 activation: str = "relu", seed: int = 0) -> None:
        super().__init__()
        if width % heads:
            raise ModelError(f"width {width} must be a multiple of heads {heads} (each head gets width/heads).")
        with seeded(seed):
            self.embed = nn.Linear(n_inputs, width)
            self.blocks = nn.ModuleList([ISAB(width, heads, inducing, dropout) if inducing else MAB(width, heads, dropout)
                                         for _ in range(layers)])
            self.seed_vectors = nn.Parameter(torch.randn(1, seeds, width) * width ** -0.5)
            self.pool_ff = nn.Sequential(nn.Linear(width, width), nn.ReLU())
            self.pma = MAB(width, heads, dropout)
            self.head = mlp_head(width * seeds, hidden, int(n_outputs), dropout,
                                 "gelu" if activation == "gelu" else "relu")

    def encode(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        mask = _check_set(x, mask, self.hparams["n_inputs"])
        h = self.embed(x).masked_fill(~mask.unsqueeze(-1), 0.0)  # (b, S, w)
        for block in self.blocks:
            h = block(h, mask) if isinstance(block, ISAB) else block(h, h, mask)
        z = self.pool_ff(h)
        pooled = self.pma(self.seed_vectors.expand(x.shape[0], -1, -1), z, mask)  # (b, seeds, w)
        return pooled.flatten(1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encode(x, mask))
