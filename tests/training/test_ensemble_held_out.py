"""K-fold ensemble members (cross-conformal): balanced folds, a loss that counts each member's rows only, and
members that never learn from their own fold. Oracles: the member losses computed one member at a time, and
the same training run with the held-out targets changed."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from deepsci.errors import DataError, ModelError
from deepsci.training.losses import gaussian_nll, gaussian_nll_per_sample
from deepsci.models import MLP
from deepsci.training.ensemble import HeldOutLoss, StackedMLP, cross_folds, held_out_loss
from deepsci.training.losses import mse, mse_per_sample
from deepsci.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

K, D = 4, 5


def test_cross_folds_are_balanced_seeded_and_shuffled():
    folds = cross_folds(103, K, seed=3)
    assert folds.shape == (103,) and folds.dtype == torch.int64
    assert sorted(torch.bincount(folds, minlength=K).tolist()) == [25, 26, 26, 26]
    assert torch.equal(folds, cross_folds(103, K, seed=3)) and not torch.equal(folds, cross_folds(103, K, seed=4))
    assert not torch.equal(folds, torch.arange(103) % K)  # dealt at random, not by row order
    with pytest.raises(DataError, match="2 <= folds <= rows"):
        cross_folds(3, K)


@pytest.mark.parametrize("per_row,member_loss,out", [
    (mse_per_sample, mse, 2),
    (partial(gaussian_nll_per_sample, beta=0.5), partial(gaussian_nll, beta=0.5), 4),
])
def test_held_out_loss_is_each_members_mean_over_its_own_rows(per_row, member_loss, out):
    g = torch.Generator().manual_seed(0)
    output, y = torch.randn(K, 30, out, generator=g), torch.randn(30, 2, generator=g)
    folds = cross_folds(30, K, seed=1)
    loss = HeldOutLoss(per_row, K)
    train, valid = loss.with_folds(y, folds), loss.with_folds(y, folds, validation=True)
    assert train.shape == (30, 3) and torch.equal(loss.validation_targets(train), valid)
    # oracle: member k's loss on the rows outside fold k (training) and on fold k alone (validation)
    torch.testing.assert_close(loss(output, train), sum(member_loss(output[k][folds != k], y[folds != k])
                                                       for k in range(K)))
    torch.testing.assert_close(loss(output, valid), sum(member_loss(output[k][folds == k], y[folds == k])
                                                       for k in range(K)))
    # the per-row Gaussian NLL averages to the batch NLL
    torch.testing.assert_close(per_row(output[0], y).mean(), member_loss(output[0], y))


def test_each_member_is_blind_to_its_own_fold():
    """Changing fold 0's targets changes every member but member 0, which never trained on them."""
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(64, D, generator=g), torch.randn(64, 1, generator=g)
    folds = cross_folds(64, K, seed=0)

    def train(targets):
        model = StackedMLP([MLP(D, 1, (8,), seed=s) for s in range(K)])
        loss = held_out_loss(mse, K)
        Trainer(model, loss=loss, epochs=3, batch_size=16, lr=1e-2, seed=0).fit(X, loss.with_folds(targets, folds))
        return [torch.cat([p.flatten() for p in m.parameters()]) for m in model.unstack()]

    changed = y.clone()
    changed[folds == 0] += 5.0
    before, after = train(y), train(changed)
    assert torch.equal(before[0], after[0])
    assert all(not torch.allclose(before[k], after[k]) for k in range(1, K))


def test_held_out_errors_name_the_fix():
    with pytest.raises(ModelError, match="per-row form"):
        held_out_loss(lambda out, target: (out - target).abs().max(), K)
    loss = held_out_loss(mse, K)
    with pytest.raises(DataError, match="regression targets"):
        loss.with_folds(torch.zeros(10, dtype=torch.long), cross_folds(10, K))
    with pytest.raises(DataError, match="fold code last"):
        loss(torch.zeros(K, 6, 1), torch.zeros(6))
