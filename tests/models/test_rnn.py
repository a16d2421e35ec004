"""Recurrent models: shapes, spec round trips, bidirectional/seq2seq semantics, sampling, clipping."""

import math

import pytest
import torch
import torch.nn.functional as F

from deepsci.errors import ModelError
from deepsci.models import model_from_spec
from deepsci.models.rnn import CELLS, CharLM, Seq2Seq, SequenceModel


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_model_shapes_and_round_trip(cell, bidirectional):
    x = torch.randn(3, 7, 4)
    for mode, shape in [("many-to-one", (3, 5)), ("many-to-many", (3, 7, 5))]:
        m = SequenceModel(4, 5, cell=cell, hidden=6, layers=2, bidirectional=bidirectional, mode=mode, seed=1).eval()
        assert m(x).shape == shape
        m2 = model_from_spec(m.spec()).eval()
        assert torch.equal(m(x), m2(x))
        assert m.spec()["clip_grad_norm"] == 1.0  # clipping on by default


def test_many_to_one_is_causal_but_bidirectional_sees_the_future():
    x = torch.randn(2, 9, 3)
    x2 = x.clone()
    x2[:, 5:] += 1.0  # change the future of step 4
    uni = SequenceModel(3, 2, mode="many-to-many", cell="gru", seed=0).eval()
    bi = SequenceModel(3, 2, mode="many-to-many", cell="gru", bidirectional=True, seed=0).eval()
    assert torch.allclose(uni(x)[:, :5], uni(x2)[:, :5])
    assert not torch.allclose(bi(x)[:, :5], bi(x2)[:, :5])


def test_symbol_input_embedding_and_bad_input():
    m = SequenceModel(0, 3, n_symbols=4, embedding=5)
    assert m(torch.randint(4, (2, 6))).shape == (2, 3)
    with pytest.raises(ModelError, match="int64"):
        m(torch.randn(2, 6, 4))
    with pytest.raises(ModelError, match="unknown recurrent cell"):
        SequenceModel(2, 1, cell="lstmm")


def test_seq2seq_teacher_forcing_only_in_training():
    m = Seq2Seq(2, 4, hidden=8, teacher_forcing=1.0, seed=0)
    x, y = torch.randn(5, 10, 2), torch.randn(5, 4)
    m.eval()
    free = m(x)
    assert torch.equal(free, m(x, y))  # eval: y is ignored, free running
    m.train()
    forced = m(x, y)
    assert forced.shape == (5, 4)
    assert torch.allclose(forced[:, 0], free[:, 0])  # step 1 sees no target yet
    assert not torch.allclose(forced[:, 1:], free[:, 1:])  # later steps are fed the truth
    assert Seq2Seq.from_spec(m.spec()).spec() == m.spec()


def test_seq2seq_relative_mode_is_shift_equivariant():
    # Oracle: forecasting relative to the last value means shifting the input shifts the forecast.
    m = Seq2Seq(1, 3, hidden=8, relative=True).eval()
    x = torch.randn(4, 12, 1)
    assert torch.allclose(m(x + 5.0), m(x) + 5.0, atol=1e-5)


@pytest.mark.slow
def test_charlm_sampling_reproducible_and_temperature():
    m = CharLM(6, hidden=16, layers=1, seed=0)
    with torch.no_grad():
        m.head.bias.copy_(torch.tensor([3.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
        m.head.weight.zero_()
    a = m.sample(100, 1.0, torch.Generator().manual_seed(1))
    b = m.sample(100, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (100,)
    # With zero weights the next-symbol law is softmax(bias / T): compare the frequency of symbol 0.
    for T, n in ((0.5, 300), (2.0, 1200)):  # p0 = 0.973 and 0.442: standard errors 0.009 and 0.014
        s = m.sample(n, T, torch.Generator().manual_seed(5))
        p0 = float(torch.softmax(torch.tensor([3.0, 1, 0, 0, 0, 0]) / T, 0)[0])
        assert abs(float((s == 0).float().mean()) - p0) < 0.057  # 4 standard errors
    with pytest.raises(ModelError, match="temperature"):
        m.sample(5, 0.0)


def _train_deep_rnn(clip, steps=40):
    """Losses and pre-clipping gradient norms of SGD on a deep vanilla RNN with recurrent gain 1.5."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 40, 3, generator=g)
    y = X[:, :, 0].sum(1, keepdim=True) / 6
    m = SequenceModel(3, 1, cell="rnn", hidden=32, layers=3, seed=0)
    torch.manual_seed(0)
    for name, p in m.rnn.named_parameters():
        if name.startswith("weight_hh"):
            torch.nn.init.orthogonal_(p, gain=1.5)  # recurrent gain > 1: the exploding-gradient regime
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    losses, norms = [], []
    for _ in range(steps):
        loss = F.mse_loss(m(X), y)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), clip if clip is not None else math.inf)))
        opt.step()
    return losses, norms


@pytest.mark.slow
def test_gradient_clipping_tames_exploding_gradients_in_deep_vanilla_rnn():
    # What separates the two runs is scale, not whether float32 happens to overflow (on one machine the
    # unclipped loss reached 6e17, finite): without clipping the loss grows by orders of magnitude (or
    # overflows); with the spec's default clip of 1.0 every step moves the weights by at most lr * 1.0,
    # so the loss stays within a small factor of where it started and ends lower.
    unclipped, _ = _train_deep_rnn(None)
    clipped, clipped_norms = _train_deep_rnn(SequenceModel(3, 1, cell="rnn").spec()["clip_grad_norm"])
    blew_up = (not math.isfinite(unclipped[-1])) or max(unclipped) > 1e3 * unclipped[0]
    assert blew_up, f"unclipped losses stayed within 1e3x of the start: max {max(unclipped):.3g} vs {unclipped[0]:.3g}"
    assert all(math.isfinite(v) for v in clipped) and len(clipped) == 40
    assert max(clipped) < 10 * clipped[0]  # bounded: no step sends the loss up by orders of magnitude
    assert clipped[-1] < clipped[0]  # and still learns
    assert max(clipped_norms) > 1.0  # the clip was active: the raw gradients did exceed it


@pytest.mark.slow
def test_charlm_learns_below_unigram_entropy():
    from deepsci.data.sequences import Vocabulary, next_symbol_windows, unigram_entropy

    text = "the quick brown fox jumps over the lazy dog. " * 10
    v = Vocabulary.from_text(text)
    idx = v.encode(text)
    X, y = next_symbol_windows(idx, 30, 15)
    m = CharLM(len(v), embedding=16, hidden=48, layers=1, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(80):
        loss = F.cross_entropy(m(X).reshape(-1, len(v)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    assert float(loss) < 0.5 * unigram_entropy(idx, len(v))  # context is used: well below the unigram bound
    s = v.decode(m.sample(60, 0.5, torch.Generator().manual_seed(0), prompt=v.encode("the quick ")))
    assert "the" in s or "fox" in s or "dog" in s
