"""CNN builders: the output-size rule against real layers, blocks, spec round trip, errors."""

import itertools

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.models.cnn import CNN, ResidualBlock, SqueezeExcite, conv_layer, conv_output_size, pool_layer


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_output_size_rule_matches_real_layers(dims):
    # Oracle: the shape PyTorch's own layer produces, for many (W, F, P, S, D).
    widths = [7, 8, 13] if dims < 3 else [7, 9]
    for W, F, P, S, D in itertools.product(widths, [1, 2, 3, 5], [0, 1, 2], [1, 2, 3], [1, 2]):
        if W + 2 * P < D * (F - 1) + 1:
            with pytest.raises(ModelError):
                conv_output_size(W, F, S, P, D)
            continue
        layer = conv_layer(dims, 2, 3, F, stride=S, padding=P, dilation=D)
        out = layer(torch.zeros(1, 2, *([W] * dims)))
        assert out.shape[2:] == (conv_output_size(W, F, S, P, D),) * dims
        if D == 1 and (W - F + 2 * P) % S == 0:
            assert out.shape[2] == (W - F + 2 * P) // S + 1  # the textbook rule, exact case


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_size_rule(kind):
    for W, F, S in itertools.product([8, 9, 12], [2, 3], [1, 2, 3]):
        out = pool_layer(2, kind, F, S)(torch.zeros(1, 1, W, W))
        assert out.shape[-1] == conv_output_size(W, F, S)


def test_same_padding_keeps_width():
    for F, D in [(3, 1), (5, 1), (3, 2)]:
        assert conv_layer(1, 1, 1, F, padding="same", dilation=D)(torch.zeros(1, 1, 11)).shape[-1] == 11


def test_squeeze_excite_gates_channels_between_zero_and_one():
    se = SqueezeExcite(8, 2)
    x = torch.rand(4, 8, 5, 5) + 0.1
    ratio = se(x) / x
    assert torch.all(ratio > 0) and torch.all(ratio < 1)
    # the gate is one number per (sample, channel): constant over space
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-6)


def test_residual_block_identity_shortcut_when_body_is_zero():
    blk = ResidualBlock(2, 4, 4, batch_norm=False, activation="relu")
    for p in blk.body.parameters():
        nn.init.zeros_(p)
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(blk(x), torch.relu(x))
    down = ResidualBlock(2, 4, 8, stride=2, se=2)
    assert down(x).shape == (2, 8, 3, 3)


@pytest.mark.parametrize("dims,size", [(1, [32]), (2, [8, 8]), (3, [6, 6, 6])])
def test_cnn_shapes_and_spec_round_trip(dims, size):
    blocks = [{"type": "conv", "channels": 4, "kernel": 3, "padding": 1, "batch_norm": True},
              {"type": "residual", "channels": 8, "stride": 2, "se": 2},
              {"type": "se", "reduction": 2}, {"type": "pool", "kind": "avg", "kernel": 1},
              {"type": "dropout", "p": 0.1}]
    for gp in ["avg", "max", "none"]:
        m = CNN(2, 3, blocks, dims=dims, input_size=size, global_pool=gp, head_hidden=[5], seed=3).eval()
        x = torch.randn(4, 2, *size)
        assert m(x).shape == (4, 3)
        m2 = CNN.from_spec(m.spec()).eval()
        assert m2.spec() == m.spec()
        assert torch.equal(m(x), m2(x))  # same seed -> same weights


def test_lenet_and_errors():
    m = CNN.lenet(1, 10, input_size=[8, 8], global_pool="none")
    assert m(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ModelError, match="expects input"):
        m(torch.zeros(2, 8, 8))
    with pytest.raises(ModelError, match="unknown CNN block type"):
        CNN(1, 2, [{"type": "convv", "channels": 3}])
    with pytest.raises(ModelError, match="input_size"):
        CNN(1, 2, [], global_pool="none")
    with pytest.raises(ModelError, match="do not fit"):
        CNN(1, 2, [{"type": "pool", "kernel": 2}] * 4, input_size=[8, 8], global_pool="none")
