"""Truncated BPTT: chunking, gradient horizon, and learning a long-memory-free task on long sequences."""

import pytest
import torch
import torch.nn.functional as F

from deepsci.errors import TrainingError
from deepsci.models.rnn import SequenceModel, detach_state
from deepsci.training.tbptt import chunk_bounds, fit_tbptt


def test_chunk_bounds():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(TrainingError):
        chunk_bounds(10, 0)


def test_state_carried_but_gradient_cut():
    m = SequenceModel(1, 1, cell="lstm", hidden=4, mode="many-to-many")
    x = torch.randn(2, 20, 1, requires_grad=True)
    out1, state = m.step(x[:, :10])
    out2, _ = m.step(x[:, 10:], detach_state(state))
    out2.sum().backward()
    assert torch.all(x.grad[:, :10] == 0) and torch.any(x.grad[:, 10:] != 0)  # gradient horizon = chunk
    full = m(x.detach())
    assert torch.allclose(torch.cat([out1, out2], 1), full, atol=1e-6)  # forward sees the whole history


def test_tbptt_learns_on_long_sequence():
    torch.manual_seed(0)
    t = torch.arange(2000.0)
    x = torch.sin(0.1 * t)[None, :, None].repeat(4, 1, 1) + 0.01 * torch.randn(4, 2000, 1)
    inputs, targets = x[:, :-1], x[:, 1:]  # next-value prediction
    m = SequenceModel(1, 1, cell="gru", hidden=16, mode="many-to-many", seed=0)
    hist = fit_tbptt(m, inputs, targets, loss=F.mse_loss, chunk=50, epochs=3, lr=1e-2)
    assert hist[-1] < 0.1 * hist[0]
