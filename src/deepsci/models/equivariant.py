"""A rotation- and reflection-equivariant CNN for images: group convolutions over C4 or D4 (Cohen & Welling 2016).

The sky has no "up": a lens is a lens in any orientation. An ordinary CNN learns that from augmented data, if at
all; this one has it by construction. Its feature maps carry a group axis, one slice per element g of

    C4 = {rotations by 0, 90, 180, 270 degrees}                        (|G| = 4)
    D4 = C4 and the same four after a mirror flip (the square's symmetries)  (|G| = 8)

and every layer commutes with the group's action T_u (rotate/flip the image, permute the group axis):

    lifting   out[c, g]  = sum_c'     x[c']    * T_g W[c, c']                   x (B, C, H, W) -> (B, C', G, H, W)
    group     out[c, g]  = sum_c',h   f[c', h] * T_g W[c, c', g^-1 h]           (B, C, G, H, W) -> (B, C', G, H, W)
    so        layer(T_u f)[g] = T_u layer(f)[u^-1 g]                            (equivariance)

(`*` is PyTorch's cross-correlation with symmetric 'same' padding, an odd kernel). Batch norm (one mean and
scale per channel c, shared over g and space), pointwise activations and 2x2 pooling of a map of even size
commute with T_u too; the last features are averaged (or maxed) over the group axis and space, which makes them
invariant, and the MLP head sees only invariants: f(T_u x) = f(x) for all 4 or 8 u, up to float rounding.
Exactly so for square images whose side is divisible by 2^stages (each 2x2 pooling then maps blocks to blocks);
the constructor refuses other sizes.

Shapes: forward(x (batch, C, H, W)) -> (batch, n_outputs). Cost: a stage of c channels holds c |G| maps, so
channels [4, 8, 16] on D4 take about as much compute as an ordinary CNN of [32, 64, 128] and have about as many
weights as one of [11, 23, 45].

Reference: T. Cohen & M. Welling (2016), Group equivariant convolutional networks, ICML (p4 and p4m).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepsci.errors import ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.arguments import Specified, check_known
from deepsci.models.init import seeded

#: group name -> its elements as (quarter turns r, mirrored m): T_(r, m) x = rot90(flip(x) if m else x, r)
GROUPS: dict[str, tuple[tuple[int, bool], ...]] = {
    "c4": tuple((r, False) for r in range(4)),
    "d4": tuple((r, m) for m in (False, True) for r in range(4)),
}
GROUP_POOLS = ("avg", "max")


def transform(x: Tensor, element: tuple[int, bool]) -> Tensor:
    """T_g x: mirror the last axis (when g is a reflection), then rotate the last two axes by r quarter turns."""
    turns, mirrored = element
    return torch.rot90(x.flip(-1) if mirrored else x, turns, dims=(-2, -1))


def _index(elements: Sequence[tuple[int, bool]], probe: Tensor, image: Tensor) -> int:
    """The element g with T_g probe == image (probe has distinct entries, so g is unique)."""
    for i, g in enumerate(elements):
        if torch.equal(transform(probe, g), image):
            return i
    raise ModelError("the group is not closed under composition (a bug in GROUPS)")


def inverse_products(group: str) -> list[list[int]]:
    """table[g][h] = the index of g^-1 h, read off the action on a 3x3 pattern with nine distinct values."""
    elements = GROUPS[group]
    probe = torch.arange(9.0, device="cpu").view(3, 3)  # on the host even while a model is built on "meta"
    inverse = [_index(elements, transform(probe, g), probe) for g in elements]  # T_g T_inv(g) = identity
    return [[_index(elements, probe, transform(transform(probe, h), elements[inverse[g]]))
             for h in elements] for g in range(len(elements))]


class GroupConv(nn.Module):
    """A lifting (`lifting=True`: input (B, C, H, W)) or group convolution (input (B, C, G, H, W)) to
    (B, C_out, G, H, W), 'same' padding. One weight per (c_out, c_in[, h]); the G filters are its transforms."""

    def __init__(self, group: str, in_channels: int, out_channels: int, kernel: int, *, lifting: bool,
                 bias: bool = True) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ModelError(f"an equivariant convolution needs an odd kernel (symmetric padding); received {kernel}.")
        self.elements = GROUPS[group]
        self.lifting = lifting
        g = len(self.elements)
        shape = (out_channels, in_channels, kernel, kernel) if lifting else (out_channels, in_channels, g, kernel,
                                                                              kernel)
        self.weight = nn.Parameter(torch.empty(shape))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default, fan_in = C_in (G) k^2
        fan_in = self.weight[0].numel()
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-fan_in ** -0.5, fan_in ** -0.5)) if bias else None
        # perm[g][h] = index of g^-1 h: filter g reads input slice h with the weight slice of g^-1 h
        self.perm = inverse_products(group)
        self.padding = kernel // 2

    def filters(self) -> Tensor:
        """All transformed filters as one Conv2d weight (C_out G, C_in [G], k, k), output ordered (c_out, g)."""
        if self.lifting:
            stacked = torch.stack([transform(self.weight, g) for g in self.elements], 1)  # (C_out, G, C_in, k, k)
            return stacked.flatten(0, 1)
        per_g = [transform(self.weight[:, :, self.perm[i]], g) for i, g in enumerate(self.elements)]
        stacked = torch.stack(per_g, 1)  # (C_out, G, C_in, G, k, k)
        return stacked.flatten(0, 1).flatten(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        b, g = x.shape[0], len(self.elements)
        out = F.conv2d(x if self.lifting else x.flatten(1, 2), self.filters(), padding=self.padding)
        out = out.view(b, -1, g, *out.shape[-2:])
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1, 1)


class GroupPool(nn.Module):
    """2x2 max or average pooling of each map of (B, C, G, H, W) (space only)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2) if kind == "max" else nn.AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        b, c, g = x.shape[:3]
        out = self.pool(x.flatten(1, 2))
        return out.view(b, c, g, *out.shape[-2:])


class EquivariantCNN(Specified, nn.Module):
    """LeNet stages of group convolutions, an invariant pool, an MLP head (module docstring).

    Args:
        in_channels: image channels C; n_outputs: head width (logits or regression values).
        group: "d4" (rotations by 90 degrees and reflections, 8 elements) or "c4" (rotations, 4).
        channels: channels per stage; each stage is two group convolutions of `kernel` (odd; the network's
            first is the lifting convolution), [batch norm,] activation, then a 2x2 `pool`.
        input_size: (H, W) of the images: checked square and divisible by 2^stages (exact invariance).
        global_pool: "avg" or "max" over the group axis and space (the invariant features).
        hidden: head widths; dropout: before each head Linear layer; activation: pointwise; seed: the init.
    """

    KIND = "equivariant-cnn"

    def __init__(self, in_channels: int, n_outputs: int, *, group: str = "d4", channels: Sequence[int] = (8, 16),
                 kernel: int = 3, batch_norm: bool = True, pool: str = "max", input_size: Sequence[int] | None = None,
                 global_pool: str = "avg", hidden: Sequence[int] = (64,), dropout: float = 0.0,
                 activation: str = "relu", seed: int = 0) -> None:
        super().__init__()
        check_known("symmetry group", group, tuple(GROUPS))
        check_known("pooling", pool, GROUP_POOLS)
        check_known("global pooling", global_pool, GROUP_POOLS)
        if not channels:
            raise ModelError("an equivariant CNN needs at least one stage: give channels = [8] or more.")
        if input_size is not None:
            _check_size(tuple(int(s) for s in input_size), len(channels))
        with seeded(seed):
            layers: list[nn.Module] = []
            c = int(in_channels)
            for stage, width in enumerate(channels):
                for i in range(2):
                    layers.append(GroupConv(group, c, int(width), kernel, lifting=stage == 0 and i == 0,
                                            bias=not batch_norm))
                    if batch_norm:
                        layers.append(nn.BatchNorm3d(int(width)))  # per channel over (batch, G, H, W)
                    layers.append(make_activation(activation))
                    c = int(width)
                layers.append(GroupPool(pool))
            self.features = nn.Sequential(*layers)
            head: list[nn.Module] = []
            for h in hidden:
                head += [nn.Dropout(dropout), nn.Linear(c, int(h)), make_activation(activation)]
                c = int(h)
            self.head = nn.Sequential(*head, nn.Dropout(dropout), nn.Linear(c, int(n_outputs)))

    def encode(self, x: Tensor) -> Tensor:
        """The invariant features (batch, channels[-1]): the last maps pooled over group and space."""
        s = self.hparams
        if x.dim() != 4 or x.shape[1] != s["in_channels"]:
            raise ModelError(f"an equivariant CNN expects images (batch, {s['in_channels']}, H, W); received "
                             f"{tuple(x.shape)}.")
        maps = self.features(x).flatten(2)  # (batch, C, G H W)
        return maps.mean(-1) if s["global_pool"] == "avg" else maps.amax(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encode(x))


def _check_size(size: tuple[int, ...], stages: int) -> None:
    """ModelError unless (H, W) is square with a side divisible by 2^stages (else rotations break the pooling)."""
    if len(size) != 2 or size[0] != size[1] or size[0] % (2 ** stages):
        raise ModelError(f"an equivariant CNN with {stages} pooling stage(s) needs square images whose side is a "
                         f"multiple of {2 ** stages} (else a rotation does not map pooling blocks to blocks); "
                         f"received {list(size)}. Crop or pad the images, or use fewer stages.")
