"""Learning rules on dense layers: forward unchanged, backward signals checked against hand-computed ones."""

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.models.mlp import MLP
from deepsci.rules import RULES, RuleLinear, apply_rule, rule_layers, rule_of, true_gradient_mode


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(11, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (11,), generator=g)


def _grads(model, X, y):
    loss = nn.functional.cross_entropy(model(X), y)
    return torch.autograd.grad(loss, [m.weight for m in model.modules() if isinstance(m, nn.Linear)])


@pytest.mark.parametrize("rule", list(RULES))
def test_forward_unchanged_and_parameters_shared(rule):
    base = _net()
    X, y = _data()
    expected = base(X)
    weights = [m.weight for m in base.modules() if isinstance(m, nn.Linear)]
    model = apply_rule(base, rule, seed=3)
    assert torch.equal(model(X), expected)
    assert [m.weight for m in rule_layers(model)] == weights  # same Parameter objects
    assert rule_of(model) == rule


@pytest.mark.parametrize("rule", list(RULES))
def test_head_gradient_is_the_true_gradient(rule):
    # the head sees the true output error under every rule: only the signal to earlier layers changes
    X, y = _data()
    true = _grads(_net(), X, y)
    got = _grads(apply_rule(_net(), rule, seed=0), X, y)
    assert torch.allclose(got[-1], true[-1], atol=1e-12)


def test_backprop_rule_matches_autograd_and_gradcheck():
    X, y = _data()
    true = _grads(_net(), X, y)
    model = apply_rule(_net(), "backprop")
    for a, b in zip(_grads(model, X, y), true):
        assert torch.allclose(a, b, atol=1e-12)
    layer = rule_layers(model)[1]
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def _hand_grads(model, X, y, signal):
    """Manual forward/backward of the 3-layer tanh net where `signal(l, delta_next, e)` replaces delta W."""
    lin = rule_layers(model)
    a1 = X @ lin[0].weight.T + lin[0].bias
    h1 = torch.tanh(a1)
    a2 = h1 @ lin[1].weight.T + lin[1].bias
    h2 = torch.tanh(a2)
    out = h2 @ lin[2].weight.T + lin[2].bias
    e = (torch.softmax(out, 1) - nn.functional.one_hot(y, 3)) / len(y)  # dL/d(out) for mean cross-entropy
    d2 = signal(2, e, e) * (1 - h2**2)
    d1 = signal(1, d2, e) * (1 - h1**2)
    return [d1.T @ X, d2.T @ h1, e.T @ h2]


def test_feedback_alignment_uses_fixed_random_matrices():
    X, y = _data()
    model = apply_rule(_net(), "feedback-alignment", seed=5)
    lin = rule_layers(model)
    hand = _hand_grads(model, X, y, lambda l, d, e: d @ lin[l].feedback)
    for a, b in zip(_grads(model, X, y), hand):
        assert torch.allclose(a, b, atol=1e-12)
    # B is fixed, is not W, and comes from the seed
    assert not torch.allclose(lin[1].feedback, lin[1].weight)
    again = rule_layers(apply_rule(_net(), "feedback-alignment", seed=5))
    other = rule_layers(apply_rule(_net(), "feedback-alignment", seed=6))
    assert torch.equal(again[1].feedback, lin[1].feedback)
    assert not torch.equal(other[1].feedback, lin[1].feedback)


def test_sign_symmetry_uses_scaled_sign_of_weights():
    X, y = _data()
    model = apply_rule(_net(), "sign-symmetry")
    lin = rule_layers(model)
    sign = lambda l, d, e: d @ (torch.sign(lin[l].weight) * lin[l].weight.abs().mean())  # noqa: E731
    for a, b in zip(_grads(model, X, y), _hand_grads(model, X, y, sign)):
        assert torch.allclose(a, b, atol=1e-12)


def test_direct_feedback_alignment_sends_output_error_to_every_layer():
    X, y = _data()
    model = apply_rule(_net(), "direct-feedback-alignment", seed=2)
    lin = rule_layers(model)
    assert lin[1].feedback.shape == (3, 7) and lin[2].feedback.shape == (3, 6)
    dfa = lambda l, d, e: e @ lin[l].feedback  # noqa: E731  -- e, not the next layer's delta
    for a, b in zip(_grads(model, X, y), _hand_grads(model, X, y, dfa)):
        assert torch.allclose(a, b, atol=1e-12)


def test_direct_feedback_alignment_keeps_forward_passes_apart():
    # two forward passes before one backward: each layer must use its own pass's output error
    X, y = _data()
    model = apply_rule(_net(), "direct-feedback-alignment", seed=2)
    lin = rule_layers(model)
    w = lin[0].weight
    g_a = torch.autograd.grad(nn.functional.cross_entropy(model(X[:5]), y[:5]), w)[0]
    g_b = torch.autograd.grad(nn.functional.cross_entropy(model(X[5:]), y[5:]), w)[0]
    la = nn.functional.cross_entropy(model(X[:5]), y[:5])
    lb = nn.functional.cross_entropy(model(X[5:]), y[5:])
    both = torch.autograd.grad(la + lb, w)[0]
    assert torch.allclose(both, g_a + g_b, atol=1e-12)


def test_adaptive_feedback_alignment_learns_its_feedback():
    X, y = _data()
    model = apply_rule(_net(), "adaptive-feedback-alignment", seed=0)
    lin = rule_layers(model)
    assert isinstance(lin[1].feedback, nn.Parameter)
    loss = nn.functional.cross_entropy(model(X), y)
    loss.backward()
    assert torch.allclose(lin[1].feedback.grad, lin[1].weight.grad)
    before = lin[1].feedback.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.step()
    assert not torch.equal(lin[1].feedback.detach(), before)


def test_true_gradient_mode_restores_the_rule():
    X, y = _data()
    true = _grads(_net(), X, y)
    model = apply_rule(_net(), "feedback-alignment")
    with true_gradient_mode(model):
        inside = _grads(model, X, y)
    assert torch.allclose(inside[0], true[0], atol=1e-12)
    assert not torch.allclose(_grads(model, X, y)[0], true[0], atol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(ModelError, match="feedback-alignment"):
        apply_rule(_net(), "feedback-alinement")
    model = apply_rule(_net(), "sign-symmetry")
    with pytest.raises(ModelError, match="already"):
        apply_rule(model, "backprop")
    with pytest.raises(ModelError, match="no nn.Linear"):
        apply_rule(nn.Sequential(nn.Tanh()), "backprop")


@pytest.mark.parametrize("rule", list(RULES))
def test_rules_train_the_lead_mlp_with_batch_norm_and_dropout(rule):
    from sklearn.datasets import load_breast_cancer

    from deepsci.training import Trainer

    X, y = load_breast_cancer(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    model = apply_rule(MLP(30, 2, (32, 32), "relu", batch_norm=True, dropout=0.1, seed=0), rule, seed=0)
    assert sum(isinstance(m, RuleLinear) for m in model.modules()) == 3
    trainer = Trainer(model, loss=nn.functional.cross_entropy, lr=1e-2, epochs=3, batch_size=64, seed=0)
    trainer.fit(X, y)
    losses = [h["train_loss"] for h in trainer.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert float((trainer.predict(X).argmax(1) == y).float().mean()) > 0.93
