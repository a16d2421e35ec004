"""Symmetry by construction (issue 25): the D4/C4 group-equivariant CNN is invariant to the 8 rotations and
reflections of an image, the Lorentz network to boosts and rotations of an event; ordinary networks are not."""

import math

import pytest
import torch
from pydantic import ValidationError

from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, ModelError
from deepsci.models.build import build_model, model_from_spec
from deepsci.models.cnn import CNN
from deepsci.models.equivariant import GROUPS, EquivariantCNN, GroupConv, inverse_products, transform
from deepsci.models.lorentz import LorentzNet
from deepsci.models.sets import DeepSets
from deepsci.models.specs import model_config

D4 = GROUPS["d4"]


def _trained_a_little(model, x):
    """Two sign-gradient steps (like Adam's first steps, without torch.optim's slow first import), then eval
    mode: weights and batch-norm statistics away from their initial values."""
    for _ in range(2):
        model.zero_grad()
        model(x).pow(2).mean().backward()
        with torch.no_grad():
            for weight in model.parameters():
                weight -= 1e-2 * weight.grad.sign()
    return model.eval()


def _spread_over_d4(model, x):
    """The largest change of the output over the 8 rotations/reflections of the images x."""
    with torch.no_grad():
        y = model(x)
        return max(float((model(transform(x, g)) - y).abs().max()) for g in D4)


def test_the_d4_cnn_is_invariant_to_the_eight_symmetries_of_the_square_and_an_ordinary_cnn_is_not():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 16, 16)
    equivariant = _trained_a_little(EquivariantCNN(2, 3, group="d4", channels=[4, 8], input_size=[16, 16], seed=0), x)
    ordinary = _trained_a_little(CNN.lenet(2, 3, channels=[8, 16], input_size=[16, 16], seed=0), x)
    assert _spread_over_d4(equivariant, x) < 1e-5
    assert _spread_over_d4(ordinary, x) > 1e-3


def test_c4_is_invariant_to_rotations_only():
    torch.manual_seed(1)
    x = torch.randn(4, 1, 8, 8)
    model = EquivariantCNN(1, 2, group="c4", channels=[4], input_size=[8, 8], seed=0).eval()
    with torch.no_grad():
        y = model(x)
        spreads = [float((model(transform(x, g)) - y).abs().max()) for g in D4]
    assert max(spreads[:4]) < 1e-5 and min(spreads[4:]) > 1e-5  # D4 lists the 4 rotations first


def test_a_group_convolution_is_equivariant_layer_by_layer():
    """layer(T_u f)[g] = T_u layer(f)[u^-1 g] for every u of D4: the identity the invariance rests on."""
    torch.manual_seed(2)
    layer = GroupConv("d4", 3, 2, 3, lifting=False)
    f = torch.randn(2, 3, 8, 7, 7)
    inverse_times = inverse_products("d4")  # [u][g] = u^-1 g
    with torch.no_grad():
        out = layer(f)
        for u, element in enumerate(D4):
            moved = transform(f[:, :, inverse_times[u]], element)  # (T_u f)[h] = T_u f[u^-1 h]
            assert torch.allclose(layer(moved), transform(out[:, :, inverse_times[u]], element), atol=1e-5)


def test_images_that_a_rotation_would_misalign_are_refused():
    with pytest.raises(ModelError, match="square images whose side is a multiple of 4"):
        EquivariantCNN(1, 1, channels=[4, 4], input_size=[18, 18])
    with pytest.raises(ValidationError, match="model.kernel must be odd"):  # no symmetric 'same' padding
        model_config(kind="equivariant-cnn", kernel=4)


# -- Lorentz invariance ---------------------------------------------------------------------------------------
def _events(generator, n, s):
    """Random massive four-vectors (E, px, py, pz) [GeV], float64 (n, s, 4)."""
    p3 = torch.randn(n, s, 3, generator=generator, dtype=torch.float64) * 100
    mass = torch.rand(n, s, generator=generator, dtype=torch.float64) * 20
    return torch.cat([(p3.pow(2).sum(-1) + mass ** 2).sqrt().unsqueeze(-1), p3], -1)


def _features(p, tag):
    """(pT, eta, phi, E, tag) in float32, as the collider-particles data gives them."""
    e, px, py, pz = p.unbind(-1)
    pt = torch.hypot(px, py)
    return torch.stack([pt, torch.asinh(pz / pt), torch.atan2(py, px), e, tag], -1).float()


def _boosted_and_rotated(generator, p, beta):
    """A boost of speed beta along a random direction, then a random rotation (float64)."""
    n = torch.randn(3, generator=generator, dtype=torch.float64)
    b = beta * n / n.norm()
    gamma = 1 / math.sqrt(1 - beta ** 2)
    e, v = p[..., 0], p[..., 1:]
    bv = (v * b).sum(-1)
    boosted = torch.cat([(gamma * (e - bv)).unsqueeze(-1),
                         v + ((gamma - 1) * bv / beta ** 2 - gamma * e).unsqueeze(-1) * b], -1)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    return torch.cat([boosted[..., :1], boosted[..., 1:] @ q.T], -1)


def test_the_lorentz_network_is_invariant_to_boosts_and_rotations_and_a_deep_sets_network_is_not():
    generator = torch.Generator().manual_seed(0)
    p = _events(generator, 64, 4)
    tag = (torch.arange(4) < 2).double().expand(64, 4)
    x = _features(p, tag)
    lorentz = _trained_a_little(LorentzNet(5, 1, scalars=[4], seed=0), x)
    ordinary = _trained_a_little(DeepSets(5, 1, seed=0), x)
    spreads = {"lorentz": 0.0, "deepsets": 0.0}
    with torch.no_grad():
        reference = {"lorentz": lorentz(x), "deepsets": ordinary(x)}
        for beta in (0.1, 0.5, 0.9, 0.9):
            moved = _features(_boosted_and_rotated(generator, p, beta), tag)
            for name, model in (("lorentz", lorentz), ("deepsets", ordinary)):
                spreads[name] = max(spreads[name], float((model(moved) - reference[name]).abs().max()))
    assert spreads["lorentz"] < 1e-4
    assert spreads["deepsets"] > 1e-2


def test_the_lorentz_network_ignores_padding_and_order():
    generator = torch.Generator().manual_seed(3)
    x = _features(_events(generator, 5, 3), torch.zeros(5, 3, dtype=torch.float64))
    model = LorentzNet(5, 2, scalars=[4], seed=1).eval()
    padded = torch.cat([x, torch.full((5, 1, 5), 7.0)], 1)
    mask = torch.tensor([[True, True, True, False]] * 5)
    with torch.no_grad():
        y = model(x)
        assert torch.allclose(model(padded, mask), y, atol=1e-6)
        assert torch.allclose(model(x[:, [2, 0, 1]]), y, atol=1e-6)
    with pytest.raises(ModelError, match="scale = 'none'"):  # standardised features are no momenta
        model((x - x.mean((0, 1))) / x.std((0, 1)))


def test_the_lorentz_kind_reads_its_columns_by_name_and_rebuilds_from_its_spec():
    schema = InputSchema("particles", "set", (4, 5), masked=True,
                         feature_names=["pt", "eta", "phi", "energy", "pair_a"])
    model = build_model(model_config(kind="lorentz", scalars=["pair_a"], hidden=[16], rho=[8]),
                        {"particles": schema}, 1, task="binary", seed=0)
    assert model.hparams["momentum"] == [0, 1, 2, 3] and model.hparams["scalars"] == [4]
    x = _features(_events(torch.Generator().manual_seed(4), 3, 4), torch.ones(3, 4, dtype=torch.float64))
    with torch.no_grad():
        assert torch.equal(model_from_spec(model.spec())(x), model(x))
    with pytest.raises(ConfigError, match="model.momentum names \\['E'\\]"):
        build_model(model_config(kind="lorentz", momentum=["pt", "eta", "phi", "E"]), {"particles": schema}, 1,
                    task="binary", seed=0)


def test_the_equivariant_kind_builds_from_a_model_section():
    schema = InputSchema("image", "image", (1, 32, 32))
    model = build_model(model_config(kind="equivariant-cnn", channels=[4, 8, 8], hidden=[16]), {"image": schema}, 1,
                        task="binary", seed=0)
    assert isinstance(model, EquivariantCNN) and model.hparams["input_size"] == [32, 32]
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 1)


def test_the_shipped_equivariant_lens_network_has_about_twice_the_weights_of_the_shipped_cnn():
    """docs/physics.md: examples/lenses_equivariant.toml against examples/lenses.toml on 1 x 32 x 32 cutouts."""
    from pathlib import Path

    from deepsci.config import load_config

    examples = Path(__file__).resolve().parents[2] / "examples"
    schema = {"image": InputSchema("image", "image", (1, 32, 32))}
    sizes = [sum(p.numel() for p in build_model(load_config(examples / name).model, schema, 1, task="binary",
                                                seed=0).parameters())
             for name in ("lenses_equivariant.toml", "lenses.toml")]
    assert sizes == [36437, 19241]  # 1.89 times
