"""Convolutional networks for 1-D signals, 2-D images and 3-D volumes, built from a JSON spec.

A CNN is a list of blocks followed by a head:

    blocks   conv | pool | residual | se | dropout | inception   (each a dict, see `BLOCK_BUILDERS`)
    head     [global pooling or flatten] -> [Linear -> act -> Dropout]* -> Linear (raw outputs)

Shapes: input (batch, C, L) for dims=1, (batch, C, H, W) for dims=2, (batch, C, D, H, W) for
dims=3; output (batch, n_outputs): regression values or class logits.

Output size of a convolution or pooling along one axis (Goodfellow et al. 2016, ch. 9;
cs231n notes), with input width W, kernel F, padding P, stride S and dilation D:

    W_out = floor((W - D (F - 1) - 1 + 2P) / S) + 1        ( = (W - F + 2P)/S + 1 when D = 1 )

References: LeCun et al. (1998) LeNet; He et al. (2016) residual networks; Hu et al. (2018)
squeeze-and-excitation networks; Ioffe & Szegedy (2015) batch normalisation.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from pydantic import ValidationError
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.arguments import Specified, check_known
from deepsci.models.inception import InceptionStage
from deepsci.models.init import seeded
from deepsci.models.masking import pool_steps, prefix_lengths, run_masked, zero_padding
from deepsci.models.specs import (BLOCK_MODELS, ConvBlock, DropoutBlock, InceptionBlock, PoolBlock,
                                  ResidualBlockConfig, SEBlock)

POOLS = ("max", "avg")
GLOBAL_POOLS = ("avg", "max", "none")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_DROP = {1: nn.Dropout, 2: nn.Dropout2d, 3: nn.Dropout3d}
_POOL = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("max", 3): nn.MaxPool3d,
         ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d, ("avg", 3): nn.AvgPool3d}
_GPOOL = {("max", 1): nn.AdaptiveMaxPool1d, ("max", 2): nn.AdaptiveMaxPool2d, ("max", 3): nn.AdaptiveMaxPool3d,
          ("avg", 1): nn.AdaptiveAvgPool1d, ("avg", 2): nn.AdaptiveAvgPool2d, ("avg", 3): nn.AdaptiveAvgPool3d}


def conv_output_size(width: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output width of a convolution or pooling along one axis.

    W_out = floor((W - D(F-1) - 1 + 2P)/S) + 1, which is (W - F + 2P)/S + 1 for D = 1.

    Raises:
        ModelError: if the (dilated) kernel does not fit in the padded input.
    """
    span = dilation * (kernel - 1) + 1
    if width + 2 * padding < span:
        raise ModelError(f"a kernel spanning {span} does not fit an input of width {width} with padding "
                         f"{padding}; use a smaller kernel/dilation, more padding, or less pooling before it.")
    return (width + 2 * padding - span) // stride + 1


def _check_dims(dims: int) -> int:
    if dims not in (1, 2, 3):
        raise ModelError(f"convolution dims must be 1 (signals), 2 (images) or 3 (volumes); received {dims}.")
    return dims


def _act(name: str) -> nn.Module:
    if name == "maxout":
        raise ModelError("activation 'maxout' is not supported inside a CNN (it groups the last axis, "
                         "not channels); use relu, gelu, silu, elu, tanh, ...")
    return make_activation(name)


def conv_layer(dims: int, in_channels: int, out_channels: int, kernel: int = 3, *, stride: int = 1,
               padding: int | str = 0, dilation: int = 1, bias: bool = True) -> nn.Module:
    """nn.Conv1d/2d/3d. `padding="same"` keeps the width when stride is 1 (odd effective kernel)."""
    _check_dims(dims)
    if isinstance(padding, str):
        if padding != "same":
            raise ModelError(f"padding must be an integer or 'same'; received {padding!r}.")
        if stride != 1:
            raise ModelError("padding='same' needs stride 1; give an integer padding for strided convolutions.")
        padding = dilation * (kernel - 1) // 2
    return _CONV[dims](in_channels, out_channels, kernel, stride=stride, padding=padding,
                       dilation=dilation, bias=bias)


def pool_layer(dims: int, kind: str = "max", kernel: int = 2, stride: int | None = None,
               padding: int = 0) -> nn.Module:
    """Max or average pooling (stride defaults to the kernel size)."""
    _check_dims(dims)
    return _POOL[(check_known("pooling", kind, POOLS), dims)](kernel, stride=stride or kernel, padding=padding)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: rescale each channel by a gate computed from all channels' means.

    s = sigmoid(W2 relu(W1 mean_spatial(x))),  y = x * s[..., None]   (Hu et al. 2018).
    Shapes: x (batch, C, *spatial) -> same.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self._gated(x, x.flatten(2).mean(-1))

    def forward_masked(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Signals (batch, C, L) padded after lengths (batch,): the channel means over the real steps only."""
        return self._gated(x, pool_steps(x, lengths)), lengths

    def _gated(self, x: Tensor, z: Tensor) -> Tensor:
        """x rescaled by the gate of its channel summary z (batch, C)."""
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))  # (batch, C)
        return x * s.view(*s.shape, *([1] * (x.dim() - 2)))


_PAD: dict[int, Callable[..., nn.Module]] = {1: nn.ConstantPad1d, 2: nn.ConstantPad2d, 3: nn.ConstantPad3d}


def _same_padding(dims: int, kernel: int) -> list[nn.Module]:
    """Zero padding that keeps the length under a stride-1 convolution of width `kernel`: (k - 1) // 2 before and
    the rest after (as PyTorch's padding="same", without its copy for even widths); [] for width 1."""
    before = (kernel - 1) // 2
    return [_PAD[dims]((before, kernel - 1 - before) * dims, 0.0)] if kernel > 1 else []


class ResidualBlock(nn.Module):
    """Basic ResNet block: y = act(F(x) + shortcut(x)), F = conv-BN-act-conv-BN [-SE].

    The shortcut is the identity when shapes agree, else a 1x1 convolution with the block's stride
    (He et al. 2016, "option B"). With `kernels`, F is one stride-1 convolution per kernel width, each keeping
    the length (PyTorch's "same" padding, asymmetric for an even width), BN and act between them: the block of
    the time-series ResNet, kernels [8, 5, 3] (Wang et al. 2017).
    """

    def __init__(self, dims: int, in_channels: int, channels: int, kernel: int = 3, *, stride: int = 1,
                 batch_norm: bool = True, activation: str = "relu", se: int | None = None,
                 kernels: Sequence[int] | None = None) -> None:
        super().__init__()
        pad = (kernel - 1) // 2
        bn = (lambda c: _BN[dims](c)) if batch_norm else (lambda c: nn.Identity())
        if kernels:
            if stride != 1:
                raise ModelError(f"a residual block with kernels {list(kernels)} keeps the length (stride 1); "
                                 f"received stride {stride}. Pool after the block instead.")
            body: list[nn.Module] = []
            for i, k in enumerate(kernels):
                body += [*_same_padding(dims, int(k)),
                         _CONV[dims](in_channels if i == 0 else channels, channels, int(k), bias=not batch_norm),
                         bn(channels)]
                if i < len(kernels) - 1:
                    body.append(_act(activation))
        else:
            body = [conv_layer(dims, in_channels, channels, kernel, stride=stride, padding=pad, bias=not batch_norm),
                    bn(channels), _act(activation),
                    conv_layer(dims, channels, channels, kernel, padding=pad, bias=not batch_norm), bn(channels)]
        self.body = nn.Sequential(*body, *([SqueezeExcite(channels, se)] if se else []))
        if stride != 1 or in_channels != channels:
            self.shortcut: nn.Module = nn.Sequential(
                conv_layer(dims, in_channels, channels, 1, stride=stride, bias=not batch_norm), bn(channels))
        else:
            self.shortcut = nn.Identity()
        self.act = _act(activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))

    def forward_masked(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Signals (batch, C, L) padded after lengths (batch,): body and shortcut run masked (models/masking)."""
        body, out = run_masked(self.body, x, lengths)
        shortcut, _ = run_masked(self.shortcut, x, lengths)
        return zero_padding(self.act(body + shortcut), out), out


def _conv_block(dims: int, in_channels: int, block: ConvBlock, activation: str) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [conv_layer(dims, in_channels, block.channels, block.kernel, stride=block.stride,
                                          padding=block.padding, dilation=block.dilation,
                                          bias=not block.batch_norm)]
    if block.batch_norm:
        layers.append(_BN[dims](block.channels))
    layers.append(_act(block.activation or activation))
    if block.dropout:
        layers.append(_DROP[dims](block.dropout))
    return nn.Sequential(*layers), block.channels


def _pool_block(dims: int, in_channels: int, block: PoolBlock, activation: str) -> tuple[nn.Module, int]:
    return pool_layer(dims, block.kind, block.kernel, block.stride, block.padding), in_channels


def _residual_block(dims: int, in_channels: int, block: ResidualBlockConfig, activation: str) -> tuple[nn.Module, int]:
    out = block.channels or in_channels
    return ResidualBlock(dims, in_channels, out, block.kernel, stride=block.stride, batch_norm=block.batch_norm,
                         activation=block.activation or activation, se=block.se, kernels=block.kernels), out


def _se_block(dims: int, in_channels: int, block: SEBlock, activation: str) -> tuple[nn.Module, int]:
    return SqueezeExcite(in_channels, block.reduction), in_channels


def _dropout_block(dims: int, in_channels: int, block: DropoutBlock, activation: str) -> tuple[nn.Module, int]:
    return _DROP[dims](block.p), in_channels


def _inception_block(dims: int, in_channels: int, block: InceptionBlock, activation: str) -> tuple[nn.Module, int]:
    if dims != 1:
        raise ModelError(f"an 'inception' block is InceptionTime's, for 1-D signals (batch, C, L); this CNN has "
                         f"dims={dims}. Use conv or residual blocks for images and volumes.")
    stage = InceptionStage(in_channels, block.filters, block.kernels, block.bottleneck, block.depth)
    return stage, stage.out_channels


#: block type -> builder(dims, in_channels, validated block, the network's activation) -> (module, out channels)
BLOCK_BUILDERS: dict[str, Callable[[int, int, Any, str], tuple[nn.Module, int]]] = {
    "conv": _conv_block, "pool": _pool_block, "residual": _residual_block, "se": _se_block, "dropout": _dropout_block,
    "inception": _inception_block}


def build_block(dims: int, in_channels: int, block: dict[str, Any], activation: str) -> tuple[nn.Module, int]:
    """One block from its spec dict, validated as its block type (deepsci.models.specs: ConvBlock, PoolBlock,
    ...; None values stand for the defaults): (module, output channels).

    Raises:
        ModelError: unknown type, an unknown key (with the nearest known one), or a bad or missing value.
    """
    block_type = check_known("CNN block type", str(block.get("type")), tuple(BLOCK_BUILDERS))
    section = BLOCK_MODELS[block_type]
    for key in block:
        check_known(f"key of a '{block_type}' block", str(key), tuple(section.model_fields))
    try:
        spec = section.model_validate({k: v for k, v in block.items() if v is not None})
    except ValidationError as e:
        error = e.errors()[0]
        key = ".".join(map(str, error["loc"]))
        if error["type"] == "missing":
            raise ModelError(f"a '{block_type}' block needs {key}, e.g. {{type = 'conv', channels = 32}}; "
                             f"received {block}.") from None
        raise ModelError(f"a '{block_type}' block has a bad {key} ({error['msg']}); received {block}.") from None
    return BLOCK_BUILDERS[block_type](dims, in_channels, spec, activation)


class CNN(Specified, nn.Module):
    """A convolutional network from a list of block specs plus an MLP head.

    Args:
        in_channels: input channels C.
        n_outputs: width of the last Linear layer (regression targets or classes).
        blocks: block specs, e.g. ``[{"type": "conv", "channels": 32, "kernel": 3, "padding": 1,
            "batch_norm": True}, {"type": "pool", "kind": "max", "kernel": 2}, {"type": "residual",
            "channels": 64, "stride": 2, "se": 4}, {"type": "dropout", "p": 0.25}]``.
        dims: 1 (signals (batch, C, L)), 2 (images (batch, C, H, W)) or 3 (volumes (batch, C, D, H, W)).
        input_size: spatial size (L,), (H, W) or (D, H, W); needed when `global_pool="none"`
            (flatten) to size the head, and checked against the data.
        activation: name from `deepsci.models.activations.ACTIVATIONS` (not maxout).
        global_pool: "avg", "max" or "none" (flatten the last feature map).
        head_hidden: widths of hidden Linear layers in the head.
        head_dropout: dropout before each head Linear layer.
        seed: seeds the weight initialisation (PyTorch's default init for each layer).

        n_symbols: for token sequences (batch, L) int64 (index 0 = padding): the vocabulary size. Tokens
            become channels first: one-hot over the n_symbols - 1 real symbols (in_channels = n_symbols - 1)
            or, with `embedding`, a learned embedding (in_channels = embedding). dims must be 1.
        steps_first: vector sequences (batch, L, d) are read as d channels of length L.

    Shapes: forward(x: (batch, C, *input_size), mask=None) -> (batch, n_outputs). A mask (batch, L), True on
    the real steps of a signal or sequence padded at the end, makes the padding unable to reach the outputs:
    every convolution, pooling and batch norm runs masked and the global pool reads the real steps only
    (deepsci.models.masking; tests/models/test_padding.py holds it for any padding value and length).
    """

    KIND = "cnn"

    def __init__(self, in_channels: int, n_outputs: int, blocks: Sequence[dict[str, Any]] = (), *, dims: int = 2,
                 input_size: Sequence[int] | None = None, activation: str = "relu", global_pool: str = "avg",
                 head_hidden: Sequence[int] = (), head_dropout: float = 0.0, n_symbols: int | None = None,
                 embedding: int | None = None, steps_first: bool = False, seed: int = 0) -> None:
        super().__init__()
        _check_dims(dims)
        if n_symbols is not None:
            if dims != 1:
                raise ModelError(f"token sequences are 1-D: a CNN on tokens needs dims=1; received dims={dims}.")
            if n_symbols < 2:
                raise ModelError(f"a token vocabulary needs padding plus at least one symbol; n_symbols={n_symbols}.")
            want = embedding if embedding else n_symbols - 1
            if in_channels != want:
                raise ModelError(f"a CNN on tokens has in_channels = {want} ({'embedding' if embedding else 'one-hot'}); "
                                 f"received in_channels={in_channels}.")
        check_known("global pooling", global_pool, GLOBAL_POOLS)
        if input_size is not None and len(input_size) != dims:
            raise ModelError(f"input_size must have {dims} entries for dims={dims}; received {list(input_size)}.")
        if global_pool == "none" and input_size is None:
            raise ModelError("global_pool='none' flattens the last feature map, so the CNN needs input_size "
                             "(e.g. [8, 8]) to size its head; give input_size or use global_pool='avg'.")
        with seeded(seed):  # layers draw PyTorch's default init from the global RNG, restored afterwards
            self.embed = nn.Embedding(n_symbols, embedding, padding_idx=0) if n_symbols and embedding else None
            feats: list[nn.Module] = []
            c = int(in_channels)
            for b in blocks:
                m, c = build_block(dims, c, dict(b), activation)
                feats.append(m)
            self.features = nn.Sequential(*feats)
            if input_size is not None:  # a dry run checks the blocks fit the input (and sizes a flatten head)
                try:
                    with torch.no_grad():
                        probe = self.features.eval()(torch.zeros(1, int(in_channels), *input_size))
                except RuntimeError as e:
                    raise ModelError(f"the CNN blocks do not fit an input of size {list(input_size)}: the feature "
                                     f"map shrinks to nothing ({e}). Use fewer pooling/strided blocks, padding, or "
                                     "a larger input.") from None
                self.features.train()
            if global_pool == "none":
                width = int(probe[0].numel())
                pool: nn.Module = nn.Flatten()
            else:
                width, pool = c, nn.Sequential(_GPOOL[(global_pool, dims)](1), nn.Flatten())  # (batch, C)
            head: list[nn.Module] = [pool]
            for h in head_hidden:
                if head_dropout:
                    head.append(nn.Dropout(head_dropout))
                head += [nn.Linear(width, int(h)), _act(activation)]
                width = int(h)
            if head_dropout:
                head.append(nn.Dropout(head_dropout))
            head.append(nn.Linear(width, int(n_outputs)))
            self.head = nn.Sequential(*head)

    def _channels(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Tokens or steps-first sequences as (batch, C, L) (padded tokens read as padding, index 0)."""
        s = self.hparams
        if s["n_symbols"]:
            if x.dtype != torch.int64 or x.dim() != 2:
                raise ModelError(f"this CNN reads token sequences: expected int64 (batch, L); received {x.dtype} "
                                 f"{tuple(x.shape)}.")
            if mask is not None:
                x = x.masked_fill(~mask.bool(), 0)
            if self.embed is not None:
                return self.embed(x).transpose(1, 2)  # (batch, E, L)
            return nn.functional.one_hot(x, s["n_symbols"])[..., 1:].transpose(1, 2).float()  # (batch, V-1, L)
        return x.transpose(1, 2) if s["steps_first"] else x

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self._channels(x, mask)
        channels, dims = self.hparams["in_channels"], self.hparams["dims"]
        if x.dim() != 2 + dims or x.shape[1] != channels:
            raise ModelError(f"CNN expects input (batch, {channels}, <{dims} spatial axes>); received shape "
                             f"{tuple(x.shape)}.")
        if mask is None:
            return self.head(self.features(x))
        return self.head[1:](self._masked_features(x, mask))  # head[0], the global pool, is done masked

    def _masked_features(self, x: Tensor, mask: Tensor) -> Tensor:
        """The globally pooled features (batch, C') of signals x (batch, C, L) padded after the prefix mask
        (batch, L): every block runs masked (deepsci.models.masking), the pool averages (or takes the maximum)
        over the real steps. With global_pool "none" the flattened map keeps its zeroed padding."""
        if self.hparams["dims"] != 1:
            raise ModelError(f"a mask marks the padded steps of 1-D signals; this CNN has dims={self.hparams['dims']}. "
                             "Images and volumes are never padded: pass no mask.")
        lengths = prefix_lengths(mask, x.shape[-1])
        h, lengths = run_masked(self.features, zero_padding(x, lengths), lengths)  # (batch, C', L')
        pool = self.hparams["global_pool"]
        return h.flatten(1) if pool == "none" else pool_steps(h, lengths, pool)

    @classmethod
    def lenet(cls, in_channels: int, n_outputs: int, *, dims: int = 2, channels: Sequence[int] = (32, 64),
              kernel: int = 3, batch_norm: bool = True, pool: str = "max", dropout: float = 0.0,
              head_hidden: Sequence[int] = (128,), input_size: Sequence[int] | None = None,
              global_pool: str = "avg", activation: str = "relu", n_symbols: int | None = None,
              embedding: int | None = None, steps_first: bool = False, seed: int = 0) -> "CNN":
        """LeNet-style stack: per stage two 'same' convolutions (+BN, act) then a 2x pooling."""
        blocks: list[dict[str, Any]] = []
        for c in channels:
            for _ in range(2):
                blocks.append({"type": "conv", "channels": int(c), "kernel": kernel, "padding": "same",
                               "batch_norm": batch_norm})
            blocks.append({"type": "pool", "kind": pool, "kernel": 2})
            if dropout:
                blocks.append({"type": "dropout", "p": dropout})
        return cls(in_channels, n_outputs, blocks, dims=dims, input_size=input_size, activation=activation,
                   global_pool=global_pool, head_hidden=head_hidden, head_dropout=dropout, n_symbols=n_symbols,
                   embedding=embedding, steps_first=steps_first, seed=seed)
