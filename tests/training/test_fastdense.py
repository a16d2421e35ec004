"""The dense fast path (explicit backward, fused optimiser step) against autograd, its oracle."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from deepsci.models import MLP
from deepsci.training import Trainer, losses
from deepsci.training.ensemble import build_ensemble, ensemble_loss
from deepsci.training.fastdense import ACTIVATION_GRADIENTS, dense_gradients, dense_step

ACTIVATIONS = [*ACTIVATION_GRADIENTS, "linear"]
LOSSES = {"mse": (losses.mse, 2), "cross-entropy": (losses.cross_entropy, 3),
          "binary-cross-entropy": (losses.binary_cross_entropy, 1)}


def _targets(kind: str, n: int, generator: torch.Generator) -> torch.Tensor:
    if kind == "mse":
        return torch.randn(n, 2, generator=generator, dtype=torch.float64)
    if kind == "cross-entropy":
        return torch.randint(0, 3, (n,), generator=generator)
    return torch.randint(0, 2, (n,), generator=generator).double()


def _autograd(model: nn.Module, loss, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    value = loss(model(x), y)
    return value.detach(), list(torch.autograd.grad(value, list(model.parameters())))


def _assert_close(fast, reference, tol: float = 1e-10) -> None:
    (value, grads), (ref_value, ref_grads) = fast, reference
    assert abs(float(value) - float(ref_value)) < tol
    for g, r in zip(grads, ref_grads, strict=True):
        assert g.shape == r.shape
        assert (g - r).abs().max().item() < tol


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gradients_match_autograd_for_every_activation(act, kind):
    """float64, 1e-10: every covered activation and loss, one network and a 3-member stacked ensemble
    (one batch for all members, and a batch per member)."""
    gen = torch.Generator().manual_seed(0)
    loss, outputs = LOSSES[kind]
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64) * 2  # wide enough to reach every branch
    y = _targets(kind, 9, gen)
    net = MLP(5, outputs, (7, 6), act, seed=1).double()
    _assert_close(dense_gradients(net, loss, x, y), _autograd(net, loss, x, y))
    ens = build_ensemble(lambda s: MLP(5, outputs, (7, 6), act, seed=s), 3).double()
    member_loss = ensemble_loss(loss, target_dims=y.dim())
    _assert_close(dense_gradients(ens, member_loss, x, y), _autograd(ens, member_loss, x, y))
    xk = torch.randn(3, 9, 5, generator=gen, dtype=torch.float64)
    yk = torch.stack([_targets(kind, 9, gen) for _ in range(3)])
    _assert_close(dense_gradients(ens, member_loss, xk, yk), _autograd(ens, member_loss, xk, yk))


def test_a_hand_written_sequential_is_covered():
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.LeakyReLU(0.2),
                        nn.Linear(8, 2)).double()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    _assert_close(dense_gradients(net, losses.mse, x, y), _autograd(net, losses.mse, x, y))


@pytest.mark.parametrize("model", [
    MLP(4, 1, (8,), dropout=0.1), MLP(4, 1, (8,), batch_norm=True), MLP(4, 1, (8,), "maxout"),
    nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 1)),
    nn.Sequential(nn.Linear(4, 8), nn.Hardtanh(), nn.Linear(8, 1)),
], ids=["dropout", "batch-norm", "maxout", "inplace", "unknown-activation"])
def test_models_it_does_not_cover_train_through_autograd(model):
    assert Trainer(model, loss=losses.mse).fast_step is None


def test_other_losses_frozen_layers_and_hooks_fall_back_to_autograd():
    assert Trainer(MLP(4, 1, (8,)), loss=losses.huber).fast_step is None
    frozen = MLP(4, 1, (8,))
    frozen.layers[0].weight.requires_grad_(False)
    assert Trainer(frozen, loss=losses.mse).fast_step is None
    hooked = MLP(4, 1, (8,))
    hooked.layers[1].register_forward_hook(lambda *args: None)
    assert Trainer(hooked, loss=losses.mse).fast_step is None
    assert Trainer(MLP(4, 1, (8,)), loss=losses.mse).fast_step is not None


SETTINGS = [
    dict(optimizer="adam", weight_decay=1e-2, schedule="step", schedule_kwargs=dict(step_size=1, gamma=0.5)),
    dict(optimizer="adamw", weight_decay=1e-2, clip_grad_norm=0.05),
    dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-3, lr=1e-2, schedule="cosine"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["adam-l2-step", "adamw-clipped", "sgd-nesterov-cosine"])
@pytest.mark.parametrize("ensemble", [False, True], ids=["mlp", "ensemble"])
def test_training_through_it_follows_the_torch_optimiser_exactly(settings, ensemble):
    """float64: three epochs of fast steps give autograd's weights, optimiser state and losses to 1e-10,
    with schedules, weight decay (L2 and decoupled), momentum and gradient clipping."""
    gen = torch.Generator().manual_seed(3)
    X, y = torch.randn(40, 6, generator=gen, dtype=torch.float64), torch.randn(40, 1, generator=gen, dtype=torch.float64)

    def fit(fast: bool) -> Trainer:
        make = lambda s: MLP(6, 1, (8, 8), "tanh", seed=s)  # noqa: E731
        model = (build_ensemble(make, 3) if ensemble else make(0)).double()
        loss = ensemble_loss(losses.mse, target_dims=2) if ensemble else losses.mse
        trainer = Trainer(model, loss=loss, batch_size=16, epochs=3, seed=0, **settings)
        assert trainer.fast_step is not None
        if not fast:
            trainer.fast_step = None
        return trainer.fit(X, y)

    fast, slow = fit(True), fit(False)
    for a, b in zip(fast.model.parameters(), slow.model.parameters(), strict=True):
        assert (a - b).abs().max().item() < 1e-10
    for sa, sb in zip(fast.optimizer.state.values(), slow.optimizer.state.values(), strict=True):
        for key in sb:
            assert torch.allclose(torch.as_tensor(sa[key]), torch.as_tensor(sb[key]), rtol=0, atol=1e-10), key
    assert [h["train_loss"] for h in fast.history_] == pytest.approx([h["train_loss"] for h in slow.history_], abs=1e-10)
    assert fast.history_[-1]["lr"] == slow.history_[-1]["lr"]


def test_targets_it_does_not_cover_take_the_autograd_step():
    """Class probabilities as cross-entropy targets are a valid batch the fast path leaves to autograd."""
    trainer = Trainer(MLP(4, 3, (8,)), loss=losses.cross_entropy, epochs=1)
    x, probs = torch.randn(5, 4), torch.softmax(torch.randn(5, 3), 1)
    before = trainer.model.layers[0].weight.detach().clone()
    value = trainer.train_step(x, probs)
    assert value.dim() == 0 and not value.requires_grad
    assert not torch.equal(before, trainer.model.layers[0].weight)


@pytest.mark.slow
def test_training_through_it_reaches_autograds_accuracy_on_digits():
    X, y = load_digits(return_X_y=True)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    X = torch.as_tensor(X / 16.0, dtype=torch.float32)[order]
    y = torch.as_tensor(y)[order]
    Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]

    def accuracy(fast: bool) -> float:
        trainer = Trainer(MLP(64, 10, (64,), seed=0), loss=losses.cross_entropy, epochs=8, lr=3e-3,
                          seed=0)
        assert trainer.fast_step is not None
        if not fast:
            trainer.fast_step = None
        trainer.fit(Xtr, ytr)
        return float((trainer.predict(Xte).argmax(1) == yte).float().mean())

    fast, slow = accuracy(True), accuracy(False)
    assert slow > 0.95
    assert abs(fast - slow) <= 0.01  # float32: the same run up to rounding


def test_a_fit_on_it_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    """The fused Adam step counters are views of one tensor on the fast path: the checkpoint stores them as
    tensors of their own, and a resumed fit re-adopts the loaded state and ends on the straight fit's weights."""
    from deepsci.training.checkpoint import Checkpoint

    gen = torch.Generator().manual_seed(5)
    X, y = torch.randn(70, 6, generator=gen), torch.randn(70, 1, generator=gen)

    def trainer(epochs: int, callbacks=()) -> Trainer:
        made = Trainer(MLP(6, 1, (16, 8), seed=2), loss=losses.mse, batch_size=16, epochs=epochs, seed=2,
                       callbacks=list(callbacks))
        assert made.fast_step is not None
        return made

    straight = trainer(6).fit(X, y)
    trainer(3, [Checkpoint(tmp_path)]).fit(X, y)
    resumed = trainer(6).fit(X, y, resume_from=tmp_path)
    assert [h["train_loss"] for h in resumed.history_] == [h["train_loss"] for h in straight.history_]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    steps = [state["step"] for state in resumed.optimizer.state.values()]
    assert all(float(s) == 6 * 5 for s in steps)  # 5 batches an epoch, every counter advanced together


def test_the_step_is_chosen_once_per_fit_and_the_fast_step_falls_back_to_the_trainers_own():
    """A plain tensor fit takes the fast step; sample weights or named inputs take autograd for the whole
    fit; a batch the fast step does not cover goes to the Trainer's `autograd_step` (no second copy)."""
    X, y = torch.randn(20, 4), torch.randn(20, 1)
    trainer = Trainer(MLP(4, 1, (8,)), loss=losses.mse, epochs=1, batch_size=8)
    assert trainer.fast_step is not None and trainer.fast_step.fallback == trainer.autograd_step
    assert trainer.fit(X, y).step is trainer.fast_step
    assert trainer.fit(X, y, sample_weight=torch.rand(20) + 0.5).step == trainer.autograd_step
    assert trainer.choose_step({"x": X}, None) == trainer.autograd_step
    assert Trainer(MLP(4, 1, (8,)), loss=losses.mse, teacher_forcing=True).fast_step is None
