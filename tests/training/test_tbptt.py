"""Truncated BPTT through the Trainer: chunk rows, the group-by-group epoch walk, the gradient cut, and
equality with a hand-written TBPTT(k, k) loop."""

import copy

import pytest
import torch
import torch.nn.functional as F

from deepsci.errors import ConfigError, TrainingError
from deepsci.models.rnn import SequenceModel, detach_state
from deepsci.training import Trainer
from deepsci.training.tbptt import (ChunkedSequences, TruncatedBPTT, check_chunk, chunk_rows, fit_tbptt,
                                    tbptt_training)


def test_chunk_rows_tile_each_sequence_and_a_non_divisor_is_refused():
    x = torch.arange(2 * 6).reshape(2, 6)
    rows = chunk_rows(x, 2)  # (2 * 3, 2): row i * 3 + j is x[i, 2j:2j+2]
    assert torch.equal(rows[4], x[1, 2:4]) and rows.shape == (6, 2)
    with pytest.raises(ConfigError, match="e.g. 25 or 50"):
        check_chunk(100, 30)
    with pytest.raises(ConfigError):
        check_chunk(10, 0)


def test_epoch_walks_each_group_chunk_by_chunk_in_time_order():
    source = ChunkedSequences(torch.zeros(5, 6, dtype=torch.int64), chunk=2, batch_size=2)  # C = 3 chunks
    order = source.epoch_order(torch.Generator().manual_seed(0))
    sizes = source.batch_sizes()
    assert sizes == [2] * 6 + [1] * 3 and sum(sizes) == len(source) == 15
    assert sorted(order.tolist()) == list(range(15))  # every chunk row exactly once
    for b, rows in enumerate(order.split(sizes)):
        assert set((rows % 3).tolist()) == {b % 3}  # batch b is chunk b mod C ...
        group = b // 3 * 3
        assert set((rows // 3).tolist()) == set((order.split(sizes)[group] // 3).tolist())  # ... of one group


def _reference_tbptt(model, x, y, *, chunk, batch_size, epochs, lr, clip, seed):
    """TBPTT(k, k) by hand: shuffled groups, state carried and detached chunk to chunk, reset per group."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for group in torch.randperm(x.shape[0], generator=gen).split(batch_size):
            state = None
            for start in range(0, x.shape[1], chunk):
                out, state = model.step(x[group, start:start + chunk], detach_state(state))
                loss = F.mse_loss(out, y[group, start:start + chunk])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
    return model


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_trainer_tbptt_equals_a_hand_written_loop(cell):
    torch.manual_seed(0)
    x, y = torch.randn(6, 12, 2), torch.randn(6, 12, 1)
    model = SequenceModel(2, 1, cell=cell, hidden=8, mode="many-to-many", seed=1)
    reference = _reference_tbptt(copy.deepcopy(model), x, y, chunk=4, batch_size=4, epochs=2, lr=1e-2, clip=0.05,
                                 seed=3)
    # 6 sequences in groups of 4: the last group (2 sequences) checks the reset between groups of unequal size;
    # clip = 0.05 is below the gradient norms, so clipping acts on every step.
    trainer = fit_tbptt(model, x, y, loss=F.mse_loss, chunk=4, batch_size=4, epochs=2, lr=1e-2,
                        clip_grad_norm=0.05, seed=3)
    assert len(trainer.history_) == 2
    for (name, a), b in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), name
    assert not torch.allclose(model.head.weight, SequenceModel(2, 1, cell=cell, hidden=8, mode="many-to-many",
                                                               seed=1).head.weight)  # it trained


def test_gradient_of_chunk_j_stops_at_its_boundary_while_the_forward_sees_all_history():
    m = SequenceModel(1, 1, cell="lstm", hidden=4, mode="many-to-many", seed=0)
    x = torch.randn(2, 12, 1, requires_grad=True)
    wrapped, source, _, _ = tbptt_training(m, x, torch.zeros(2, 12, 1), chunk=4, batch_size=2)
    wrapped.train()
    outs = [wrapped(source.take_rows(torch.tensor([j, 3 + j]))) for j in range(3)]  # chunks 0, 1, 2 of both
    outs[2].sum().backward()
    assert torch.all(x.grad[:, :8] == 0)  # chunks j-2 and j-1: cut
    assert torch.all(x.grad[:, 8:].abs().sum(-1) > 0)  # chunk j itself: every step
    x.grad = None
    m(x)[:, 8:].sum().backward()  # whole-sequence BPTT: the same loss reaches chunk j-2
    assert torch.all(x.grad[:, :4].abs().sum(-1) > 0)
    assert torch.allclose(torch.cat(outs, 1), m(x), atol=1e-6)  # the carried state gives the full forward
    wrapped.eval()
    assert torch.equal(wrapped(x), m(x))  # evaluation: whole sequences from a zero state


def test_a_carried_state_of_another_group_size_is_refused():
    wrapped = TruncatedBPTT(SequenceModel(1, 1, cell="gru", hidden=4, mode="many-to-many"))
    wrapped(torch.randn(3, 4, 1))
    with pytest.raises(TrainingError, match="reset"):
        wrapped(torch.randn(2, 4, 1))
    wrapped.reset()
    assert wrapped(torch.randn(2, 4, 1)).shape == (2, 4, 1)


def test_a_model_without_step_is_refused():
    with pytest.raises(ConfigError, match="Remove train.tbptt"):
        TruncatedBPTT(torch.nn.Linear(2, 2))


def test_tbptt_learns_next_value_on_long_sequences_with_early_stopping():
    torch.manual_seed(0)
    t = torch.arange(1001.0)
    x = torch.sin(0.1 * t)[None, :, None].repeat(4, 1, 1) + 0.01 * torch.randn(4, 1001, 1)
    inputs, targets = x[:, :-1], x[:, 1:]  # next-value prediction, 1000 steps = 20 chunks of 50
    m = SequenceModel(1, 1, cell="gru", hidden=16, mode="many-to-many", seed=0)
    wrapped, source, rows, reset = tbptt_training(m, inputs, targets, chunk=50, batch_size=4)
    trainer = Trainer(wrapped, loss=F.mse_loss, lr=1e-2, epochs=3, batch_size=4, clip_grad_norm=1.0,
                      patience=2, callbacks=[reset])
    trainer.fit(source, rows, inputs, targets)  # validation: whole sequences
    hist = [h["train_loss"] for h in trainer.history_]
    assert hist[-1] < 0.1 * hist[0]
    assert trainer.history_[-1]["valid_loss"] < 0.01
