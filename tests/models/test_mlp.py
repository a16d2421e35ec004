"""The MLP builder: every activation and initialisation, shapes, specs, seeds."""

import math

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.models import ACTIVATIONS, INITS, MLP, Maxout, activation_fn


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bn", [False, True])
def test_every_activation_builds_runs_and_learns_a_gradient(act, bn):
    model = MLP(6, 3, (8, 5), act, dropout=0.1, batch_norm=bn, seed=1)
    x = torch.randn(7, 6)
    out = model(x)
    assert out.shape == (7, 3)
    out.square().sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_activation_functions_match_closed_forms():
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(activation_fn("leaky-relu", slope=0.2)(x), torch.where(x > 0, x, 0.2 * x))
    assert torch.allclose(activation_fn("elu")(x), torch.where(x > 0, x, torch.exp(x) - 1))
    assert torch.allclose(activation_fn("softplus")(x), torch.log1p(torch.exp(x)))
    assert torch.allclose(activation_fn("silu")(x), x * torch.sigmoid(x))
    assert torch.allclose(activation_fn("gelu")(x), x * 0.5 * (1 + torch.erf(x / math.sqrt(2))), atol=1e-6)


def test_maxout_takes_the_max_of_each_group_of_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 3.0, 0.0, -1.0]])
    assert Maxout(3)(x).tolist() == [[5.0, 3.0]]
    model = MLP(4, 1, (6,), "maxout", maxout_pieces=3)
    assert model.layers[0].out_features == 18


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(ModelError, match="Did you mean 'relu'.*Known activations"):
        MLP(3, 1, (4,), "rlu")


@pytest.mark.parametrize("init", [i for i in INITS if i != "gaussian"])
def test_same_seed_same_weights_other_seed_other_weights(init):
    a, b, c = (MLP(10, 2, (16,), "tanh", init=init, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_gaussian_init_has_variance_cw_over_fan_in():
    model = MLP(400, 1, (300,), "tanh", init="gaussian", cw=2.0, cb=0.5, seed=0)
    w, b = model.layers[0].weight, model.layers[0].bias
    assert w.var().item() == pytest.approx(2.0 / 400, rel=0.02)
    assert b.var().item() == pytest.approx(0.5, rel=0.25)
    with pytest.raises(ModelError, match="cw > 0"):
        MLP(4, 1, (3,), init="gaussian")


def test_he_and_xavier_scales():
    he = MLP(500, 1, (400,), "relu", init="he").layers[0].weight
    xa = MLP(500, 1, (400,), "relu", init="xavier").layers[0].weight
    assert he.var().item() == pytest.approx(2 / 500, rel=0.05)
    assert xa.var().item() == pytest.approx(2 / (500 + 400), rel=0.05)
    orth = MLP(50, 1, (50,), "relu", init="orthogonal").layers[0].weight
    assert torch.allclose(orth @ orth.T, torch.eye(50), atol=1e-5)


def test_spec_round_trip_rebuilds_the_same_network():
    model = MLP(5, 4, (7, 3), "elu", dropout=0.2, batch_norm=True, init="lecun", seed=9)
    clone = MLP.from_spec(model.spec())
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    x = torch.randn(3, 5)
    assert torch.equal(model(x), clone(x))
    assert [type(m) for m in clone.layers] == [type(m) for m in model.layers]
    assert isinstance(model.layers[1], nn.BatchNorm1d) and isinstance(model.layers[3], nn.Dropout)
