"""One harness over every model kind x every input structure it takes (models/build.py, registry.py, spec.py).

Each case builds from an InputSchema through `build_model`, runs forward and backward, rebuilds from
its JSON spec with the same outputs, and (for masked inputs) gives the same outputs whatever the
padding holds; set networks give the same outputs for any element order.
"""

from __future__ import annotations

import json

import pytest
import torch

from deepsci.data.batch import forward
from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError
from deepsci.models import build_model, model_from_spec
from deepsci.models.registry import MODELS
from deepsci.models.specs import SPECS, model_config

N, OUT = 5, 3


def _lengths(n: int, full: int, g: torch.Generator) -> torch.Tensor:
    lengths = torch.randint(2, full + 1, (n,), generator=g)
    lengths[0] = full
    return lengths


def make_input(structure: str, *, tokens: bool = False, masked: bool = False, seed: int = 0):
    """(schema, inputs) of N random samples of a structure, with a prefix mask when `masked`."""
    g = torch.Generator().manual_seed(seed)
    if structure == "table":
        return InputSchema("x", "table", (4,)), torch.randn(N, 4, generator=g)
    if structure == "signal":
        return InputSchema("x", "signal", (2, 16)), torch.randn(N, 2, 16, generator=g)
    if structure == "image":
        return InputSchema("x", "image", (1, 8, 8)), torch.randn(N, 1, 8, 8, generator=g)
    if structure == "image3d":
        return InputSchema("x", "image", (1, 6, 6, 6)), torch.randn(N, 1, 6, 6, 6, generator=g)
    if structure == "window":
        return InputSchema("x", "window", (12, 2)), torch.randn(N, 12, 2, generator=g)
    L = 10
    if structure == "sequence" and tokens:
        x = torch.randint(1, 5, (N, L), generator=g)
        schema = InputSchema("x", "sequence", (L,), masked=masked, n_symbols=5)
    elif structure == "sequence":
        x = torch.randn(N, L, 3, generator=g)
        schema = InputSchema("x", "sequence", (L, 3), masked=masked)
    else:
        x = torch.randn(N, L, 3, generator=g)
        schema = InputSchema("x", "set", (L, 3), masked=masked)
    if not masked:
        return schema, x
    mask = torch.arange(L).unsqueeze(0) < _lengths(N, L, g).unsqueeze(1)
    x = x.masked_fill(~mask, 0) if tokens else x * mask.unsqueeze(-1)
    return schema, {"x": x, "mask": mask}


# (kind, model keys, structure, tokens, masked)
CASES = [
    ("mlp", {}, "table", False, False),
    ("mlp", {"init": "critical", "activation": "tanh", "batch_norm": True}, "table", False, False),
    ("cnn", {"channels": [4], "hidden": [8]}, "signal", False, False),
    ("cnn", {"channels": [4], "hidden": [8]}, "image", False, False),
    ("cnn", {"blocks": [{"type": "conv", "channels": 4, "padding": "same"}, {"type": "pool"},
                        {"type": "residual", "channels": 6, "se": 2}], "hidden": []}, "image3d", False, False),
    ("cnn", {"channels": [4], "hidden": [8]}, "sequence", True, False),
    ("cnn", {"channels": [4], "embedding": 6}, "sequence", True, True),
    ("cnn", {"channels": [4]}, "sequence", False, True),
    ("rnn", {"hidden": [6], "layers": 2, "bidirectional": True}, "sequence", True, True),
    ("rnn", {"hidden": [6], "cell": "gru", "readout": "mean"}, "sequence", False, True),
    ("rnn", {"hidden": [6], "cell": "rnn", "readout": "max", "bidirectional": True}, "sequence", False, True),
    ("rnn", {"hidden": [6]}, "signal", False, False),
    ("rnn", {"hidden": [6], "bidirectional": True, "stem_kernel": 3, "stem_channels": 4, "stem_pool": 3},
     "sequence", True, True),
    ("rnn", {"hidden": [6], "cell": "gru"}, "window", False, False),
    ("transformer", {"width": 8, "heads": 2, "feedforward": 16}, "sequence", True, True),
    ("transformer", {"width": 8, "heads": 2, "pooling": "cls", "hidden": [8]}, "sequence", False, True),
    ("transformer", {"width": 8, "heads": 2}, "signal", False, False),
    ("transformer", {"width": 8, "heads": 2, "stem_kernel": 4, "stem_pool": 2}, "sequence", True, True),
    ("transformer", {"width": 8, "heads": 2, "activation": "gelu"}, "window", False, False),
    ("deepsets", {"hidden": [8, 8], "rho": [8]}, "set", False, True),
    ("deepsets", {"hidden": [8], "pooling": "max"}, "set", False, True),
    ("deepsets", {"hidden": [8], "pooling": "mean"}, "set", False, False),
    ("set-transformer", {"width": 8, "heads": 2}, "set", False, True),
    ("set-transformer", {"width": 8, "heads": 2, "inducing": 3, "seeds": 2, "hidden": [8]}, "set", False, True),
    ("seq2seq", {"hidden": [6]}, "window", False, False),
    ("charlm", {"hidden": [6]}, "sequence", True, False),
]


def _outputs(kind: str) -> int:
    return 5 if kind == "charlm" else OUT


def _shape(kind: str, x) -> tuple[int, ...]:
    if kind == "charlm":
        return (N, 10, 5)
    return (N, OUT)


@pytest.mark.parametrize("kind, keys, structure, tokens, masked", CASES,
                         ids=[f"{c[0]}-{c[2]}{'-tokens' if c[3] else ''}{'-masked' if c[4] else ''}-{i}"
                              for i, c in enumerate(CASES)])
def test_every_kind_builds_runs_backprops_and_round_trips(kind, keys, structure, tokens, masked, one_thread):
    schema, x = make_input(structure, tokens=tokens, masked=masked)
    model = build_model(model_config(kind=kind, **keys), {"x": schema}, _outputs(kind), task="regression", seed=3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    out = forward(model, x)
    assert out.shape == _shape(kind, x) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    spec = json.loads(json.dumps(model.spec()))  # JSON, as in model.json
    twin = model_from_spec(spec)
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    with torch.no_grad():
        torch.testing.assert_close(forward(twin, x), forward(model, x), rtol=0, atol=0)
    again = build_model(model_config(kind=kind, **keys), {"x": schema}, _outputs(kind), task="regression", seed=3)
    assert all(torch.equal(v, initial[k]) for k, v in again.state_dict().items())  # the seed fixes every weight


PADDED = [c for c in CASES if c[4] and c[0] in ("rnn", "transformer", "deepsets", "set-transformer")]


@pytest.mark.parametrize("kind, keys, structure, tokens, masked", PADDED)
def test_padding_values_change_nothing(kind, keys, structure, tokens, masked, one_thread):
    schema, x = make_input(structure, tokens=tokens, masked=masked)
    model = build_model(model_config(kind=kind, **keys), {"x": schema}, OUT, task="binary", seed=0).eval()
    pad = ~x["mask"]
    assert pad.any()
    g = torch.Generator().manual_seed(1)
    if tokens:
        junk = x["x"].masked_scatter(pad, torch.randint(1, 5, (int(pad.sum()),), generator=g))
    else:
        junk = x["x"] + 100 * torch.randn(x["x"].shape, generator=g) * pad.unsqueeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(model(junk, x["mask"]), model(**x), rtol=1e-5, atol=1e-5)
        # the padding really is ignored, not the whole input: changing a real step changes the output
        real = x["x"].clone()
        real[:, 0] = (real[:, 0] % 4) + 1 if tokens else real[:, 0] + 1.0
        assert not torch.allclose(model(real, x["mask"]), model(**x), atol=1e-4)


@pytest.mark.parametrize("kind, keys", [(c[0], c[1]) for c in CASES if c[2] == "set"])
def test_set_networks_are_permutation_invariant(kind, keys, one_thread):
    schema, x = make_input("set", masked=True, seed=2)
    model = build_model(model_config(kind=kind, **keys), {"x": schema}, OUT, task="multiclass", seed=0).eval()
    g = torch.Generator().manual_seed(5)
    # a random permutation of all S slots per set: real elements and padding both move
    perm = torch.stack([torch.randperm(x["x"].shape[1], generator=g) for _ in range(N)])
    shuffled = {"x": torch.take_along_dim(x["x"], perm.unsqueeze(-1), 1), "mask": torch.take_along_dim(x["mask"], perm, 1)}
    assert not torch.equal(shuffled["mask"], x["mask"])
    with torch.no_grad():
        torch.testing.assert_close(model(**shuffled), model(**x), rtol=1e-5, atol=1e-5)


def test_multi_input_model_takes_named_inputs_and_round_trips(one_thread):
    image, xi = make_input("image")
    seq, xs = make_input("sequence", tokens=True, masked=True)
    st, xt = make_input("set", masked=True)
    meta, xm = make_input("table")
    inputs = {"image": InputSchema("image", "image", image.shape), "dna": InputSchema("dna", "sequence", seq.shape,
                                                                                      True, 5),
              "points": InputSchema("points", "set", st.shape, True), "meta": InputSchema("meta", "table", meta.shape)}
    batch = {"image": xi, "dna": xs["x"], "dna_mask": xs["mask"], "points": xt["x"], "points_mask": xt["mask"],
             "meta": xm}
    cfg = model_config(kind="multi", hidden=[16], inputs={"image": {"kind": "cnn", "channels": [4], "hidden": [5]},
                                                          "points": {"kind": "set-transformer", "width": 8, "heads": 2}})
    model = build_model(cfg, inputs, OUT, task="binary", seed=0)
    out = forward(model, batch)
    assert out.shape == (N, OUT)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # heads were stripped: no unused parameter
    assert model.head[1].in_features == 5 + 64 + 8 + 64  # cnn head width 5, rnn 64, set transformer 8, mlp 64
    twin = model_from_spec(json.loads(json.dumps(model.spec())))
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    with torch.no_grad():
        torch.testing.assert_close(forward(twin, batch), forward(model, batch), rtol=0, atol=0)
    with pytest.raises(Exception, match="missing"):
        model(image=xi)


@pytest.mark.parametrize("kind, structure, tokens", [
    ("mlp", "image", False), ("cnn", "table", False), ("cnn", "set", False), ("rnn", "image", False),
    ("transformer", "table", False), ("deepsets", "sequence", False), ("set-transformer", "signal", False),
    ("seq2seq", "sequence", False), ("charlm", "sequence", False), ("charlm", "window", False)])
def test_a_structure_the_kind_cannot_take_is_a_config_error(kind, structure, tokens):
    schema, _ = make_input(structure, tokens=tokens)
    with pytest.raises(ConfigError) as err:
        build_model(model_config(kind=kind), {"x": schema}, OUT, task="regression", seed=0)
    msg = str(err.value)
    assert f"'{kind}'" in msg and structure in msg and "\n" not in msg
    takers = [k for k, v in MODELS.items() if structure in v.accepts and k != "charlm"]
    assert all(k in msg for k in takers)


def test_several_inputs_need_multi():
    a, _ = make_input("table")
    with pytest.raises(ConfigError, match="multi"):
        build_model(model_config(kind="mlp"), {"a": a, "b": a}, 1, task="regression", seed=0)


def test_registry_config_and_spec_name_the_same_kinds():
    from deepsci.models import MODEL_KINDS

    assert MODEL_KINDS == tuple(MODELS) and set(MODELS) == set(SPECS)  # the config's union is built from SPECS


def test_old_specs_still_load():
    # specs written before readout / channels_first / tokens existed (as stored in older model.json files)
    old_rnn = {"kind": "rnn", "n_inputs": 1, "n_outputs": 1, "cell": "gru", "hidden": 32, "layers": 1,
               "bidirectional": False, "mode": "many-to-one", "dropout": 0.0, "n_symbols": None, "embedding": 32,
               "nonlinearity": "tanh", "clip_grad_norm": 1.0, "seed": 0}
    assert model_from_spec(old_rnn)(torch.randn(2, 5, 1)).shape == (2, 1)
    old_cnn = {"kind": "cnn", "in_channels": 1, "n_outputs": 10, "blocks": [{"type": "conv", "channels": 4}],
               "dims": 2, "input_size": [8, 8], "activation": "relu", "global_pool": "avg", "head_hidden": [],
               "head_dropout": 0.0, "seed": 0}
    assert model_from_spec(old_cnn)(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    old_mlp = {"kind": "mlp", "n_inputs": 3, "n_outputs": 1, "hidden": [4], "activation": "relu", "dropout": 0.0,
               "batch_norm": False, "maxout_pieces": 2, "leaky_slope": 0.01, "init": "default", "cw": None,
               "cb": None, "seed": 0}
    assert model_from_spec(old_mlp)(torch.randn(2, 3)).shape == (2, 1)
