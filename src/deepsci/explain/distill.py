"""Knowledge distillation: a small student trained on a teacher's softened class probabilities.

Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network": the teacher's logits z
softened at temperature T, p_T = softmax(z / T) (an ensemble: the mean of its members' p_T), carry how
the teacher ranks the wrong classes ("dark knowledge"). The student's loss is

    α T² KL(p_T ‖ softmax(s / T)) + (1 − α) CE(softmax(s), y),

the T² keeping the soft term's gradients at the scale of the hard term's as T changes. The same student
(architecture, seed, training settings) trained on the hard labels alone is the reference; both are
scored on the teacher's test split for accuracy and calibration (NLL, ECE). The students train through
the experiment's one pipeline (deepsci.experiment.distill_run hands `distill` its training function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from deepsci.data.batch import Inputs, forward
from deepsci.data.dataset import Dataset
from deepsci.errors import ConfigError
from deepsci.evaluation.uncertainty.metrics import expected_calibration_error
from deepsci.tasks import task_of

Loss = Callable[[Tensor, Tensor], Tensor]


def soft_targets(logits: Tensor, temperature: float) -> Tensor:
    """(n, classes) softmax(z / T); logits (K, n, classes) of a stacked ensemble are averaged over K."""
    p = torch.softmax(logits / temperature, dim=-1)
    return p.mean(0) if p.dim() == 3 else p


def distillation_loss(temperature: float, alpha: float) -> Callable[[Tensor, Tensor], Tensor]:
    """loss(student logits (n, C), target (n, C + 1)) where target = [p_T, hard label]: Hinton's objective."""

    def loss(output: Tensor, target: Tensor) -> Tensor:
        p_teacher, labels = target[:, :-1], target[:, -1].long()
        log_student = torch.log_softmax(output / temperature, dim=1)
        soft = nn.functional.kl_div(log_student, p_teacher, reduction="batchmean")
        hard = nn.functional.cross_entropy(output, labels)
        return alpha * temperature ** 2 * soft + (1 - alpha) * hard

    return loss


def classifier_scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy, NLL (mean −log p of the true class, nats) and ECE (15 bins) of class probabilities."""
    p_true = np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)
    return {"accuracy": float((proba.argmax(1) == y).mean()), "nll": float(-np.log(p_true).mean()),
            "ece": expected_calibration_error(y, proba)}


@dataclass
class DistillationResult:
    """Test scores of the teacher, the hard-label student and the distilled student (same split)."""

    teacher: dict[str, float]
    hard: dict[str, float]
    distilled: dict[str, float]
    temperature: float
    alpha: float
    seed: int
    members: int
    student: dict[str, Any] = field(default_factory=dict)

    def table(self) -> dict[str, dict[str, float]]:
        return {f"teacher ({self.members} member{'s' if self.members > 1 else ''})": self.teacher,
                "student, hard labels": self.hard, f"student, distilled (T = {self.temperature:g})": self.distilled}


def _probabilities(model: nn.Module, X: Inputs) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return soft_targets(forward(model, X), 1.0).double().numpy()


def teacher_logits(model: nn.Module, X: Inputs) -> Tensor:
    """The teacher's logits on X in eval mode: (n, C), or (K, n, C) for a stacked ensemble."""
    model.eval()
    with torch.no_grad():
        return forward(model, X)


def distill(teacher: nn.Module, dataset: Dataset, train: Callable[[Loss, Tensor, Tensor], nn.Module], *,
            temperature: float = 3.0, alpha: float = 0.9, seed: int = 0) -> DistillationResult:
    """Train two copies of the student (hard labels; teacher's soft targets) and score all three on test.

    Args:
        teacher: a trained classifier of the dataset's inputs ((n, C) or stacked (K, n, C) logits).
        train: train(loss, y_train, y_valid) -> a fresh, seeded student trained on the dataset's train split
            with those targets (called twice: both students start from the same weights). The soft targets
            are (n, C + 1): the teacher's p_T, then the hard label.
    """
    task = task_of(dataset.task)
    if not (task.exclusive and task.head == "softmax"):
        raise ConfigError(f"distillation here is for multiclass classifiers; the data's task is '{dataset.task}'.")
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ConfigError(f"need temperature > 0 and 0 <= alpha <= 1; received T={temperature}, alpha={alpha}.")
    soft_train = soft_targets(teacher_logits(teacher, dataset.train.X), temperature)
    soft_valid = soft_targets(teacher_logits(teacher, dataset.valid.X), temperature)
    hard = train(nn.functional.cross_entropy, dataset.train.y, dataset.valid.y)
    student = train(distillation_loss(temperature, alpha),
                    torch.cat([soft_train, dataset.train.y[:, None].float()], 1),
                    torch.cat([soft_valid, dataset.valid.y[:, None].float()], 1))
    y_test = dataset.test.y.numpy()
    members = int(getattr(teacher, "members", 1))
    return DistillationResult(classifier_scores(_probabilities(teacher, dataset.test.X), y_test),
                              classifier_scores(_probabilities(hard, dataset.test.X), y_test),
                              classifier_scores(_probabilities(student, dataset.test.X), y_test),
                              temperature, alpha, seed, members)
