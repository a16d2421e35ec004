"""Knowledge distillation: a small student trained on a teacher's softened class probabilities.

Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network": the teacher's logits z
softened at temperature T, p_T = softmax(z / T) (an ensemble: the mean of its members' p_T), carry how
the teacher ranks the wrong classes ("dark knowledge"). The student's loss is

    α T² KL(p_T ‖ softmax(s / T)) + (1 − α) CE(softmax(s), y),

the T² keeping the soft term's gradients at the scale of the hard term's as T changes. The same student
(architecture, seed, training settings) trained on the hard labels alone is the reference; both are
scored on the teacher's test split for accuracy and calibration (NLL, ECE).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from deepsci.data.batch import Inputs, forward
from deepsci.errors import ConfigError
from deepsci.folder import replace_file

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.run import Run


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
    from deepsci.evaluation.uncertainty.metrics import expected_calibration_error

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


def distill(teacher: nn.Module, dataset: "Dataset", build_student: Callable[[], nn.Module],
            train: Callable[[nn.Module, Callable[[Tensor, Tensor], Tensor], Tensor, Tensor], None], *,
            temperature: float = 3.0, alpha: float = 0.9, seed: int = 0) -> DistillationResult:
    """Train two copies of the student (hard labels; teacher's soft targets) and score all three on test.

    Args:
        teacher: a trained classifier of the dataset's inputs ((n, C) or stacked (K, n, C) logits).
        build_student: a fresh, seeded student (called twice: both start from the same weights).
        train: train(model, loss, y_train, y_valid) fits the model in place on the dataset's train split.
    """
    if dataset.task != "multiclass":
        raise ConfigError(f"distillation here is for multiclass classifiers; the data's task is '{dataset.task}'.")
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ConfigError(f"need temperature > 0 and 0 <= alpha <= 1; received T={temperature}, alpha={alpha}.")
    soft_train = soft_targets(teacher_logits(teacher, dataset.train.X), temperature)
    soft_valid = soft_targets(teacher_logits(teacher, dataset.valid.X), temperature)
    hard = build_student()
    train(hard, nn.functional.cross_entropy, dataset.train.y, dataset.valid.y)
    student = build_student()
    train(student, distillation_loss(temperature, alpha),
          torch.cat([soft_train, dataset.train.y[:, None].float()], 1),
          torch.cat([soft_valid, dataset.valid.y[:, None].float()], 1))
    y_test = dataset.test.y.numpy()
    members = int(getattr(teacher, "members", 1))
    return DistillationResult(classifier_scores(_probabilities(teacher, dataset.test.X), y_test),
                              classifier_scores(_probabilities(hard, dataset.test.X), y_test),
                              classifier_scores(_probabilities(student, dataset.test.X), y_test),
                              temperature, alpha, seed, members)


def distill_run(teacher: "Run", config: "Config", *, temperature: float = 3.0, alpha: float = 0.9) -> DistillationResult:
    """Distil a teacher run into the student of `config` ([model] and [train]; its seed seeds the student).

    The student learns on the teacher's own data and split, rebuilt from the teacher's [data] and seed
    (the student config's [data] is not used), so no teacher test row is ever a student training row.
    """
    from deepsci.experiment import build_dataset, build_model
    from deepsci.training import Trainer

    dataset = build_dataset(teacher.config)
    t = config.train

    def build() -> nn.Module:
        return build_model(config, dataset.inputs, dataset.n_outputs, task=dataset.task, seed=config.seed)

    def train(model: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], y: Tensor, y_valid: Tensor) -> None:
        Trainer(model, loss=loss, optimizer=t.optimizer, lr=t.lr, weight_decay=t.weight_decay, momentum=t.momentum,
                batch_size=t.batch_size, epochs=t.epochs, patience=t.patience, seed=config.seed,
                ).fit(dataset.train.X, y, dataset.valid.X, y_valid)

    result = distill(teacher.model, dataset, build, train, temperature=temperature, alpha=alpha, seed=config.seed)
    result.student = {"name": config.name, "model": config.model.model_dump(mode="json"), "teacher": str(teacher.path)}
    return result


def write_distillation(result: DistillationResult, folder: Path) -> Path:
    """distill.json and report.html in `folder` (each written under a temporary name, then renamed)."""
    from deepsci.report import Section, write_report

    folder.mkdir(parents=True, exist_ok=True)
    replace_file(folder / "distill.json", lambda p: p.write_text(json.dumps(asdict(result), indent=2)))
    rows = [[name, f"{s['accuracy']:.4f}", f"{s['nll']:.4f}", f"{s['ece']:.4f}"] for name, s in result.table().items()]
    html = (f"<p>Student trained on the teacher's class probabilities softened at T = {result.temperature:g} "
            f"(loss α T² KL + (1 − α) CE, α = {result.alpha:g}; Hinton et al. 2015), beside the same student "
            "(architecture, seed, settings) trained on the hard labels. Test split of the teacher's run; NLL in "
            "nats, ECE over 15 confidence bins.</p>")
    section = Section(title="Distillation", html=html,
                      table={"columns": ["model", "accuracy", "NLL", "ECE"], "rows": rows})
    replace_file(folder / "report.html", lambda p: write_report(
        p, title=f"Distillation: {result.student.get('name', 'student')}", config_toml=json.dumps(result.student),
        data_summary={}, metrics={}, figures=[], sections=[section]))
    return folder
