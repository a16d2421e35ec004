"""Learning rules on recurrent layers (deepsci.rules.recurrent): backprop through the step-by-step cell equals
nn.RNN/GRU/LSTM's autograd in float64 (1e-10), packed or not, stacked and bidirectional; feedback alignment and
sign symmetry send the error through their own matrices (an oracle built from straight-through projections)."""

import copy

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.models.rnn import SequenceModel
from deepsci.rules.convolution import apply_network_rule
from deepsci.rules.recurrent import RuleRecurrent, _gru_step

TOL = 1e-10
X = torch.randn(4, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
LENGTHS = torch.tensor([6, 3, 5, 1])


def _run(net, x, packed):
    """(outputs (B, T, H·dirs), h_n) of a recurrent layer, through a packed sequence or not."""
    if packed:
        o, s = net(nn.utils.rnn.pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False))
        o, _ = nn.utils.rnn.pad_packed_sequence(o, batch_first=True)
    else:
        o, s = net(x)
    return o, s[0] if isinstance(s, tuple) else s


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("cell, bidirectional", [(nn.GRU, True), (nn.LSTM, True), (nn.RNN, False)])
def test_backprop_through_the_unrolled_cell_is_autograds(cell, bidirectional, packed):
    torch.manual_seed(1)
    rnn = cell(3, 5, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    ruled = RuleRecurrent(copy.deepcopy(rnn), "backprop", torch.Generator().manual_seed(0))
    assert set(ruled.state_dict()) == set(rnn.state_dict())
    results = []
    for net in (rnn, ruled):
        x = X.clone().requires_grad_(True)
        o, h = _run(net, x, packed)
        ((o**2).sum() + (h**3).sum()).backward()
        results.append([o, h, x.grad, *[p.grad for p in net.parameters()]])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=0, atol=TOL)


def _oracle_gru(rnn, feedback, x):
    """A one-layer GRU whose projections pass x's gradient through `feedback` by the straight-through trick:
    F(x.detach(), W) + F(x, B) - F(x, B).detach() has the forward value of F(x, W) and the gradient of F(x, B)."""
    def project(v, w, b, fb):
        return nn.functional.linear(v.detach(), w, b) + nn.functional.linear(v, fb) - \
            nn.functional.linear(v, fb).detach()

    gi = project(x, rnn.weight_ih_l0, rnn.bias_ih_l0, feedback["ih"])
    h = x.new_zeros(x.shape[0], rnn.hidden_size)
    for t in range(x.shape[1]):
        h = _gru_step(gi[:, t], project(h, rnn.weight_hh_l0, rnn.bias_hh_l0, feedback["hh"]), h)
    return h


@pytest.mark.parametrize("rule", ["feedback-alignment", "sign-symmetry"])
def test_random_and_sign_feedback_through_time_match_a_straight_through_oracle(rule):
    torch.manual_seed(2)
    rnn = nn.GRU(3, 5, batch_first=True).double()
    ruled = RuleRecurrent(copy.deepcopy(rnn), rule, torch.Generator().manual_seed(0))
    if rule == "feedback-alignment":
        feedback = {k: getattr(ruled, f"feedback_weight_{k}_l0") for k in ("ih", "hh")}
        assert not torch.allclose(feedback["hh"], rnn.weight_hh_l0)
    else:
        feedback = {k: torch.sign(w.detach()) * w.detach().abs().mean()
                    for k, w in (("ih", rnn.weight_ih_l0), ("hh", rnn.weight_hh_l0))}
    grads = []
    for net, forward in ((ruled, lambda x: _run(ruled, x, False)[1][0]), (rnn, lambda x: _oracle_gru(rnn, feedback, x))):
        x = X.clone().requires_grad_(True)
        (forward(x) ** 2).sum().backward()
        grads.append([x.grad, *[p.grad for p in net.parameters()]])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=0, atol=TOL)


def test_a_sequence_model_takes_the_rule_and_keeps_its_outputs():
    model = SequenceModel(3, 2, cell="gru", hidden=6, layers=2, bidirectional=True).double().eval()
    ruled = apply_network_rule(copy.deepcopy(model), "feedback-alignment").eval()
    mask = torch.arange(6)[None, :] < LENGTHS[:, None]
    assert isinstance(ruled.rnn, RuleRecurrent)
    assert torch.allclose(ruled(X, mask), model(X, mask), rtol=0, atol=TOL)
    assert {k for k in ruled.state_dict() if not k.endswith("feedback")} == set(model.state_dict())


def test_direct_feedback_alignment_is_refused_for_recurrent_layers():
    with pytest.raises(ModelError, match="not defined for recurrent layers"):
        apply_network_rule(SequenceModel(3, 2, cell="lstm", hidden=4), "direct-feedback-alignment")


def test_the_stored_gru_results_keep_both_rules_within_three_percent_of_backprop():
    import json
    from pathlib import Path

    stored = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rules_networks.json")
                        .read_text())["examples/sunspots_gru.toml"]
    mean = {rule: sum(r["test_rmse"] for r in stored[rule].values()) / len(stored[rule])
            for rule in ("backprop", "feedback-alignment", "sign-symmetry")}
    assert all(len(stored[rule]) == 3 for rule in mean)  # seeds 0-2, the numbers of docs/rules.md
    assert mean == pytest.approx({"backprop": 18.99, "feedback-alignment": 19.15, "sign-symmetry": 19.14}, abs=0.005)
    assert all(m < 1.03 * mean["backprop"] for m in mean.values())
