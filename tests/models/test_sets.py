"""Set networks (models/sets.py): the pair network of Deep Sets against a loop over pairs by hand, and
permutation invariance, padding and JSON round trips of every set-network variant."""

from __future__ import annotations

import json

import pytest
import torch

from deepsci.data.schema import InputSchema
from deepsci.errors import ModelError
from deepsci.models import build_model, model_from_spec
from deepsci.models.sets import DeepSets, pair_inputs
from deepsci.models.specs import model_config

N, S, D = 6, 5, 3
VARIANTS = [
    ("deepsets", {"hidden": [8], "rho": [8], "pairwise": [8, 8]}),
    ("deepsets", {"hidden": [8], "rho": [], "pairwise": [8], "pooling": "max"}),
    ("deepsets", {"hidden": [8], "pairwise": [8], "pooling": "mean"}),
    ("set-transformer", {"width": 8, "heads": 2, "layers": 2, "hidden": [8]}),
]


def _sets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, S, D) and a mask (N, S) with sets of 1 to S real elements, padding filled with junk."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([S, 1, 2, 3, 4, S])
    mask = torch.arange(S).unsqueeze(0) < sizes.unsqueeze(1)
    x = torch.randn(N, S, D, generator=g)
    return x + 50 * (~mask).unsqueeze(-1), mask


def test_pair_inputs_are_the_ordered_pairs_of_distinct_real_elements():
    x, mask = _sets()
    pairs, pair_mask = pair_inputs(x, mask)
    assert pairs.shape == (N, S * S, 2 * D) and pair_mask.shape == (N, S * S)
    for b in range(N):
        real = [i for i in range(S) if mask[b, i]]
        expected = {(i, j) for i in real for j in real if i != j}
        kept = {(k // S, k % S) for k in range(S * S) if pair_mask[b, k]}
        assert kept == expected
        for i, j in expected:
            torch.testing.assert_close(pairs[b, i * S + j], torch.cat([x[b, i], x[b, j]]))


def test_pairwise_deep_sets_sum_their_pair_network_over_pairs_as_a_loop_does(one_thread):
    x, mask = _sets(1)
    model = DeepSets(D, 2, hidden=[7], rho=[5], pairwise=[6, 4], seed=3).eval()
    with torch.no_grad():
        rows = []
        for b in range(N):
            real = x[b, mask[b]]  # (n_b, D)
            single = model.phi(real).sum(0)
            pairs = [model.psi(torch.cat([real[i], real[j]])) for i in range(len(real)) for j in range(len(real))
                     if i != j]
            pair = torch.stack(pairs).sum(0) if pairs else torch.zeros(4)
            rows.append(model.head(model.rho(torch.cat([single, pair]))))
        torch.testing.assert_close(model(x, mask), torch.stack(rows), rtol=1e-5, atol=1e-5)
    assert model.features == 5


def test_plain_deep_sets_are_unchanged_by_the_pairwise_option():
    """No pair network unless asked: a plain Deep Sets keeps its parameters and initial weights."""
    plain = DeepSets(D, 2, hidden=[8], rho=[8], seed=0)
    assert plain.psi is None and plain.spec()["pairwise"] == []
    old_spec = {k: v for k, v in plain.spec().items() if k != "pairwise"}  # a spec written before the option
    twin = DeepSets.from_spec(old_spec)
    for a, b in zip(plain.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind, keys", VARIANTS)
def test_set_networks_are_permutation_invariant_ignore_padding_and_round_trip(kind, keys, one_thread):
    x, mask = _sets(2)
    schema = {"x": InputSchema("x", "set", (S, D), masked=True)}
    model = build_model(model_config(kind=kind, **keys), schema, 3, task="multiclass", seed=0).eval()
    g = torch.Generator().manual_seed(5)
    perm = torch.stack([torch.randperm(S, generator=g) for _ in range(N)])
    xp, mp = torch.take_along_dim(x, perm.unsqueeze(-1), 1), torch.take_along_dim(mask, perm, 1)
    assert not torch.equal(mp, mask)
    with torch.no_grad():
        out = model(x, mask)
        torch.testing.assert_close(model(xp, mp), out, rtol=1e-5, atol=1e-5)
        junk = x + 100 * (~mask).unsqueeze(-1)
        torch.testing.assert_close(model(junk, mask), out, rtol=1e-5, atol=1e-5)
        moved = x.clone()
        moved[:, 0] += 1.0  # a real element changes: the output does
        assert not torch.allclose(model(moved, mask), out, atol=1e-4)
        twin = model_from_spec(json.loads(json.dumps(model.spec())))
        twin.load_state_dict(model.state_dict())
        torch.testing.assert_close(twin.eval()(x, mask), out, rtol=0, atol=0)


def test_a_pairwise_deep_sets_encoder_in_a_multi_input_model_loses_only_its_head(one_thread):
    x, mask = _sets(3)
    inputs = {"p": InputSchema("p", "set", (S, D), True), "t": InputSchema("t", "table", (4,))}
    cfg = model_config(kind="multi", hidden=[8], inputs={"p": {"kind": "deepsets", "hidden": [6], "rho": [],
                                                               "pairwise": [5]}})
    model = build_model(cfg, inputs, 1, task="binary", seed=0)
    out = model(p=x, p_mask=mask, t=torch.randn(N, 4))
    assert out.shape == (N, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # psi is used, and the head alone was stripped
    assert model.head[1].in_features == 6 + 5 + 64  # phi 6 and psi 5 pooled side by side, the table MLP 64


def test_bad_pairwise_widths_fail_with_the_key_named():
    with pytest.raises(ValueError, match="pairwise"):  # pydantic names the key
        model_config(kind="deepsets", pairwise=[0])
    with pytest.raises(ModelError, match="pooling"):
        DeepSets(D, 1, pooling="median")
