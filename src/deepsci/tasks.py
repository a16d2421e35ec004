"""The ground floor: one frozen `Task` per learning task, and the registry of them.

Every room above (data, models, training, evaluation, report, run folder) asks the task what to do
instead of comparing its name: `task_of(dataset.task).continuous` rather than
`dataset.task == "regression"`. A new task is one `register(Task(...))` here, plus the functions the
rooms above register against its name (metrics in deepsci.evaluation.metrics, prediction columns in
deepsci.run).

Forecasting windows (data kind "series") are regression of the next `horizon` values, and a character
language model (data kind "text") is multiclass classification of the next symbol at every step: the
task is what the head and the loss see, the data kind what the inputs are.

This module imports no torch when it is imported (torch is loaded by `predict`, the only place that
makes tensors), so the config validates a TOML against the tasks before torch loads: everything may
import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from deepsci.errors import ConfigError, unknown_name

if TYPE_CHECKING:
    import torch

    Tensor = torch.Tensor
Head = Literal["identity", "sigmoid-binary", "sigmoid", "softmax"]


@dataclass(frozen=True)
class Task:
    """What a task means to every room of the house.

    Attributes:
        name: the task's name in the TOML, metrics.json and model.json ("regression", ...).
        continuous: targets are real values (float, standardised on the training rows, reported in data
            units; RMSE, R², a predictive sigma and intervals apply). Else they are class indices or 0/1 labels.
        exclusive: one class per row (binary, multiclass): class labels, stratified splits, confusion matrices
            and conformal prediction sets apply.
        multilabel: several independent 0/1 labels per row, one sigmoid each.
        per_step: one class per step of a sequence or signal (tagging): the network must emit a value per step.
        head: how raw outputs become predictions (`Task.predict`).
        default_loss: the loss a run trains with when `train.loss` is not set (deepsci.training.losses).
        headline: the two metrics a summary leads with.
        reference_metric: the metric the trivial and linear references are compared on.
        target_dtype: name of the torch dtype of the target tensor a Dataset holds ("float32", "int64").
    """

    name: str
    continuous: bool
    exclusive: bool
    multilabel: bool
    per_step: bool
    head: Head
    default_loss: str
    headline: tuple[str, str]
    reference_metric: str
    target_dtype: Literal["float32", "int64"]

    @property
    def per_row(self) -> bool:
        """One target (value or class) per row: the tasks with trivial/linear references and error bars."""
        return self.continuous or self.exclusive

    @property
    def class_logits(self) -> bool:
        """One logit per exclusive class, under one softmax (multiclass): the predicted class is the argmax."""
        return self.exclusive and self.head == "softmax"

    @property
    def sigmoid(self) -> bool:
        """Outputs are independent logits, one sigmoid each (binary's single logit, multilabel's k)."""
        return self.head in ("sigmoid-binary", "sigmoid")

    def n_outputs(self, n_targets: int, n_classes: int) -> int:
        """Width of the network's last layer: targets (continuous), 1 (binary), else the classes or labels."""
        if self.continuous:
            return n_targets
        return 1 if self.head == "sigmoid-binary" else n_classes

    def predict(self, outputs: Tensor) -> Tensor:
        """Raw outputs as predictions.

        Args:
            outputs: regression (n, t) values; binary (n, 1) logits; multiclass (n, k) logits; multilabel
                (n, k) independent logits; tagging (n, T, k) logits per step.

        Returns:
            regression: (n, t) unchanged (still in the scaled target units); binary: (n, 2) probabilities
            [P(class 0), P(class 1)]; multiclass: (n, k) softmax probabilities; multilabel: (n, k)
            per-label sigmoid probabilities; tagging: (n, T, k) softmax probabilities of each step's tags.
        """
        import torch  # heavy: loaded when tensors are made, not when the config imports the tasks

        if self.head == "identity":
            return outputs
        if self.head == "sigmoid":
            return torch.sigmoid(outputs)
        if self.head == "sigmoid-binary":
            p = torch.sigmoid(outputs[:, 0])
            return torch.stack([1.0 - p, p], dim=1)
        return torch.softmax(outputs, dim=-1)


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add `task` to the registry (a name registered twice is a programming error)."""
    if task.name in TASKS:
        raise RuntimeError(f"task '{task.name}' is registered twice")
    TASKS[task.name] = task
    return task


REGRESSION = register(Task("regression", continuous=True, exclusive=False, multilabel=False, per_step=False,
                           head="identity", default_loss="mse", headline=("rmse", "r2"), reference_metric="rmse",
                           target_dtype="float32"))
BINARY = register(Task("binary", continuous=False, exclusive=True, multilabel=False, per_step=False,
                       head="sigmoid-binary", default_loss="binary-cross-entropy", headline=("accuracy", "log_loss"),
                       reference_metric="log_loss", target_dtype="int64"))
MULTICLASS = register(Task("multiclass", continuous=False, exclusive=True, multilabel=False, per_step=False,
                           head="softmax", default_loss="cross-entropy", headline=("accuracy", "log_loss"),
                           reference_metric="log_loss", target_dtype="int64"))
MULTILABEL = register(Task("multilabel", continuous=False, exclusive=False, multilabel=True, per_step=False,
                           head="sigmoid", default_loss="binary-cross-entropy", headline=("accuracy", "log_loss"),
                           reference_metric="log_loss", target_dtype="float32"))
TAGGING = register(Task("tagging", continuous=False, exclusive=False, multilabel=False, per_step=True,
                        head="softmax", default_loss="cross-entropy", headline=("accuracy", "log_loss"),
                        reference_metric="log_loss", target_dtype="int64"))

#: the task names a config may give (besides "auto": inferred from the target column)
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def task_of(name: str | Task) -> Task:
    """The registered task `name` (a Task passes through), or ConfigError listing the known names."""
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ConfigError(unknown_name("task", str(name), TASK_NAMES))
    return TASKS[name]
