"""The theory section of a run (deepsci.theory.signal, deepsci.theory.of_run): predicted against measured
preactivation variance at initialisation, the off-critical flag, and the solubility example's section."""

import json

import pytest
import torch

from deepsci.models.cnn import CNN
from deepsci.models.mlp import MLP
from deepsci.theory.of_run import network_theory
from deepsci.theory.signal import signal_propagation

X_TABLE = torch.randn(256, 96, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("init, activation", [("he", "relu"), ("default", "relu"), ("xavier", "tanh")])
def test_dense_variances_and_gradients_follow_the_recursion(init, activation):
    # One draw of the weights: the per-layer mean fluctuates by about √(2/n_eff) around the infinite-width
    # value (1-6% typically at width 256, at most 9% over seeds 0-9 for these three cases).
    model = MLP(96, 1, hidden=(256, 256), activation=activation, init=init, seed=3)
    signal = signal_propagation(model, X_TABLE)
    hidden = [layer for layer in signal.layers if layer.width >= 64]
    assert len(hidden) == 2
    for layer in hidden:
        assert abs(layer.variance_error) < 0.10, layer
        assert layer.measured_grad == pytest.approx(layer.predicted_grad, rel=0.10), layer


def test_convolution_variances_count_the_zero_padding():
    # 8x8 images, 3x3 kernels with padding 1: the border positions see fewer inputs (16% less variance on
    # average); a recursion that ignored the padding would miss the first layer by that much.
    block = {"type": "conv", "channels": 128, "kernel": 3, "padding": 1, "activation": "tanh"}
    model = CNN(3, 2, blocks=[block] * 3, dims=2, activation="tanh", seed=13)
    x = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    signal = signal_propagation(model, x)
    convs = [layer for layer in signal.layers if layer.kind == "convolution"]
    assert len(convs) == 3 and not any(layer.restarted for layer in convs)
    assert abs(convs[0].variance_error) < 0.02
    for layer in convs[1:]:  # weights shared across positions: one draw fluctuates more than a dense layer's
        assert abs(layer.variance_error) < 0.10, layer


@pytest.mark.parametrize("cw, flagged", [(2.0, True), (1.0, False)])
def test_tanh_at_cw_2_is_flagged_off_critical_and_at_cw_1_is_not(cw, flagged):
    model = MLP(6, 1, hidden=(64,) * 20, activation="tanh", init="gaussian", cw=cw, cb=0.0, seed=1)
    theory = network_theory(model, torch.randn(32, 6, generator=torch.Generator().manual_seed(5)))
    assert theory.flagged is flagged
    assert theory.reading.startswith("Off-critical (chaotic phase" if flagged else "At criticality")
    assert theory.critical.cw == 1.0 and len(theory.signal.layers) == 21


def test_the_report_section_shows_the_flag_and_the_figure():
    from deepsci.report.theory import theory_sections

    model = MLP(6, 1, hidden=(64,) * 20, activation="tanh", init="gaussian", cw=2.0, cb=0.0, seed=1)
    theory = network_theory(model, torch.randn(32, 6, generator=torch.Generator().manual_seed(5)))
    (section,) = theory_sections(theory, evaluation=None)  # no kernel references: the evaluation is not read
    assert section.title == "Theory at initialisation" and "<strong>Off-critical (chaotic phase" in section.html
    assert len(section.figures) == 1 and len(section.table["rows"]) == 21


@pytest.mark.slow
def test_the_solubility_example_reports_theory_and_kernel_references(example_runs):
    metrics, run = example_runs("solubility")
    theory = metrics["theory"]
    wide = [layer for layer in theory["layers"] if layer["width"] >= 64]
    assert [layer["width"] for layer in wide] == [256, 128]
    assert all(abs(layer["variance_error"]) < 0.10 for layer in wide), wide
    # the numbers of docs/theory.md (same config and seed: the same network and split on any CPU)
    assert [layer["variance_error"] for layer in wide] == pytest.approx([-0.012, 0.022], abs=0.001)
    assert theory["references"]["nngp"]["test"]["rmse"] == pytest.approx(0.626, abs=0.001)
    assert theory["references"]["ntk"]["test"]["rmse"] == pytest.approx(0.579, abs=0.001)
    ntk = theory["references"]["ntk"]
    # the infinite-width regressors beside the network: better than predicting the training mean
    assert ntk["test"]["rmse"] < metrics["baselines"]["trivial"]["test"]["rmse"]
    assert ntk["rows"] == metrics["data"]["split"]["train"]
    assert metrics["timings"]["theory_seconds"] > 0  # its cost is recorded (a ratio is a benchmark's, not a test's)
    assert "Infinite-width references" in (run / "report.html").read_text()


def test_recurrent_and_attention_networks_get_a_sentence_instead_of_numbers():
    from torch import nn

    from deepsci.models.rnn import SequenceModel

    gru = network_theory(SequenceModel(3, 1, cell="gru", hidden=8), torch.randn(4, 5, 3))
    attention = network_theory(nn.Sequential(nn.Linear(3, 3), nn.MultiheadAttention(3, 1)), torch.randn(4, 3))
    assert not gru.applies and "recurrent" in gru.why_not and gru.to_json() == {
        "applies": False, "why_not": gru.why_not, "seconds": gru.seconds}
    assert not attention.applies and "attention" in attention.why_not
