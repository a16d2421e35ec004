"""deepsci.tasks: the registry every room asks instead of comparing task names."""

from __future__ import annotations

import pytest
import torch

from deepsci.errors import ConfigError
from deepsci.tasks import BINARY, MULTICLASS, MULTILABEL, REGRESSION, TAGGING, TASK_NAMES, Task, register, task_of


def test_the_five_tasks_are_registered_in_order() -> None:
    assert TASK_NAMES == ("regression", "binary", "multiclass", "multilabel", "tagging")
    assert task_of("binary") is BINARY and task_of(BINARY) is BINARY


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'regression'.*binary, multiclass"):
        task_of("regresion")


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(RuntimeError, match="registered twice"):
        register(REGRESSION)


@pytest.mark.parametrize("task, continuous, exclusive, per_row", [
    (REGRESSION, True, False, True), (BINARY, False, True, True), (MULTICLASS, False, True, True),
    (MULTILABEL, False, False, False), (TAGGING, False, False, False)])
def test_what_each_task_means(task: Task, continuous: bool, exclusive: bool, per_row: bool) -> None:
    assert (task.continuous, task.exclusive, task.per_row) == (continuous, exclusive, per_row)
    assert task.per_step == (task is TAGGING) and task.multilabel == (task is MULTILABEL)


@pytest.mark.parametrize("task, outputs", [(REGRESSION, 3), (BINARY, 1), (MULTICLASS, 5), (MULTILABEL, 5),
                                           (TAGGING, 5)])
def test_output_width(task: Task, outputs: int) -> None:
    assert task.n_outputs(n_targets=3, n_classes=5) == outputs


def test_predictions_against_closed_forms() -> None:
    z = torch.tensor([[0.0, 1.0, -2.0]], dtype=torch.float64)
    assert torch.equal(REGRESSION.predict(z), z)
    assert torch.allclose(MULTILABEL.predict(z), 1 / (1 + torch.exp(-z)), atol=1e-15)
    soft = MULTICLASS.predict(z)
    assert torch.allclose(soft, torch.exp(z) / torch.exp(z).sum(), atol=1e-15)
    p = 1 / (1 + torch.exp(-z[:, :1]))
    assert torch.allclose(BINARY.predict(z[:, :1]), torch.cat([1 - p, p], 1), atol=1e-15)
    steps = TAGGING.predict(torch.zeros(2, 4, 3))  # (n, T, k): a softmax over each step's tags
    assert steps.shape == (2, 4, 3) and torch.allclose(steps.sum(-1), torch.ones(2, 4))


def test_default_losses_are_known_losses() -> None:
    from deepsci.training.losses import LOSSES

    assert {task_of(n).default_loss for n in TASK_NAMES} <= set(LOSSES)
