"""Learning rules on convolutional networks (deepsci.rules.convolution): each rule's backward signal against an
independent autograd oracle in float64 (tolerance 1e-10), what a ruled CNN saves, and the stored digits_cnn results."""

import copy
import json

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.models.cnn import CNN
from deepsci.rules.convolution import RuleConv, apply_network_rule

TOL = 1e-10
CONVS = [(nn.Conv1d, (5, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
         (nn.Conv2d, (4, 2, 9, 7), dict(kernel_size=3, padding=2, dilation=2)),
         (nn.Conv3d, (2, 2, 5, 5, 5), dict(kernel_size=2, stride=1))]


def _wrapped(conv_type, shape, kwargs, rule):
    """(plain conv, its RuleConv twin with shared weights, input x) in float64, seeded."""
    torch.manual_seed(0)
    conv = conv_type(shape[1], 4, **kwargs).double()
    twin = nn.Sequential(copy.deepcopy(conv), nn.Flatten(), nn.LazyLinear(3).double())
    twin(torch.zeros(shape, dtype=torch.float64))  # materialise the lazy head
    ruled = apply_network_rule(copy.deepcopy(twin), rule)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    return twin, ruled, x


@pytest.mark.parametrize("conv_type, shape, kwargs", CONVS)
def test_backprop_rule_gives_autograds_gradients(conv_type, shape, kwargs):
    plain, ruled, x = _wrapped(conv_type, shape, kwargs, "backprop")
    assert isinstance(ruled[0], RuleConv)
    grads = []
    for net in (plain, ruled):
        xi = x.detach().clone().requires_grad_(True)
        net(xi).pow(2).sum().backward()
        grads.append([xi.grad, *[p.grad for p in net.parameters()]])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=0, atol=TOL)


def _input_grad(layer_fn, x, grad_out):
    (g,) = torch.autograd.grad(layer_fn(x), x, grad_out)
    return g


@pytest.mark.parametrize("rule", ["feedback-alignment", "sign-symmetry", "adaptive-feedback-alignment"])
@pytest.mark.parametrize("conv_type, shape, kwargs", CONVS)
def test_random_and_sign_feedback_match_a_convolution_with_that_kernel(conv_type, shape, kwargs, rule):
    plain, ruled, x = _wrapped(conv_type, shape, kwargs, rule)
    layer, conv = ruled[0], plain[0]
    y = layer(x)
    grad_out = torch.randn_like(y)
    (gx, gw) = torch.autograd.grad(y, (x, layer.weight), grad_out)
    w = conv.weight.detach()
    kernel = torch.sign(w) * w.abs().mean() if rule == "sign-symmetry" else layer.feedback.detach()
    oracle = _input_grad(lambda t: conv._conv_forward(t, kernel, None), x, grad_out)
    assert torch.allclose(gx, oracle, rtol=0, atol=TOL)
    # the local update is backprop's whatever the rule
    (gw_true,) = torch.autograd.grad(conv(x), conv.weight, grad_out)
    assert torch.allclose(gw, gw_true, rtol=0, atol=TOL)


def test_direct_feedback_alignment_sends_the_output_error_through_a_random_matrix():
    plain, ruled, x = _wrapped(nn.Conv2d, (4, 2, 9, 7), dict(kernel_size=3, padding=1), "direct-feedback-alignment")
    out = ruled(x)
    target = torch.randn_like(out)
    loss = ((out - target) ** 2).sum()
    (gx,) = torch.autograd.grad(loss, x)
    error = 2 * (out - target).detach()  # dL/d(output)
    oracle = (error @ ruled[0].feedback).reshape(x.shape)
    assert ruled[0].feedback.shape == (3, x[0].numel())
    assert torch.allclose(gx, oracle, rtol=0, atol=TOL)


def test_a_cnn_keeps_its_outputs_and_weight_names_under_every_rule():
    model = CNN(1, 3, blocks=[{"type": "conv", "channels": 4, "kernel": 3, "padding": 1, "batch_norm": True},
                              {"type": "pool", "kind": "max", "kernel": 2}], dims=2)
    x = torch.randn(5, 1, 8, 8)
    model.eval()
    for rule in ("feedback-alignment", "sign-symmetry", "direct-feedback-alignment"):
        ruled = apply_network_rule(copy.deepcopy(model), rule).eval()
        assert torch.equal(ruled(x), model(x))
        assert {k for k in ruled.state_dict() if not k.endswith("feedback")} == set(model.state_dict())


def test_attention_is_refused_in_one_line():
    model = nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 2))
    with pytest.raises(ModelError, match="attention"):
        apply_network_rule(model, "feedback-alignment")


def test_a_ruled_cnn_saves_the_forward_weights_only():
    from deepsci.run import _plain_state  # what model.safetensors receives

    model = CNN(1, 3, blocks=[{"type": "conv", "channels": 4, "kernel": 3}], dims=2, head_hidden=[5])
    ruled = apply_network_rule(copy.deepcopy(model), "feedback-alignment")
    assert set(_plain_state(ruled)) == set(model.state_dict())  # a run folder loads without the rule's matrices


def test_the_stored_cnn_results_keep_every_rule_within_three_points_of_backprop():
    from pathlib import Path

    stored = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rules_networks.json")
                        .read_text())["examples/digits_cnn.toml"]
    mean = {rule: sum(r["test_accuracy"] for r in stored[rule].values()) / len(stored[rule])
            for rule in ("backprop", "feedback-alignment", "sign-symmetry", "direct-feedback-alignment")}
    assert all(len(stored[rule]) == 3 for rule in mean)  # seeds 0-2, the numbers of docs/rules.md
    assert mean["backprop"] == pytest.approx(0.9944, abs=1e-4) and mean["feedback-alignment"] == pytest.approx(
        0.9880, abs=1e-4)
    assert all(mean["backprop"] - m < 0.03 for m in mean.values())
