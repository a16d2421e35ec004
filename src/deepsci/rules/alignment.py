"""How far a learning rule's weight update points from the true gradient, per layer.

For each dense layer the angle between the rule's update direction ``-dW_rule`` and the true
gradient step ``-dW_backprop`` (both on the same batch, from the same weights) is

    angle = arccos( <dW_rule, dW_bp> / (|dW_rule| |dW_bp|) )   in degrees.

Below 90° the rule still descends the loss; feedback alignment works because this angle falls
during training as the forward weights come to align with the fixed feedback (Lillicrap et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from deepsci.rules.feedback import rule_layers, true_gradient_mode
from deepsci.training.callbacks import Callback

LossFn = Callable[[Tensor, Tensor], Tensor]


def angle_degrees(a: Tensor, b: Tensor) -> float:
    """Angle between two tensors seen as flat vectors, in degrees (90 if either is zero)."""
    a, b = a.detach().reshape(-1).double(), b.detach().reshape(-1).double()
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 90.0
    cos = max(-1.0, min(1.0, float(a @ b) / (na * nb)))
    return math.degrees(math.acos(cos))


def weight_gradients(model: nn.Module, X: Tensor, y: Tensor, loss: LossFn) -> list[Tensor]:
    """The model's rule-driven dL/dW for each RuleLinear layer on one batch (no .grad is touched)."""
    weights = [m.weight for m in rule_layers(model)]
    value = loss(model(X), y)
    return [g.detach() for g in torch.autograd.grad(value, weights)]


def gradient_angles(model: nn.Module, X: Tensor, y: Tensor, loss: LossFn) -> list[float]:
    """Per-layer angle (degrees) between the rule's weight update and the true gradient.

    Both are computed on (X, y) with the model in eval mode (dropout off, batch norm on running
    statistics) so the two backward passes see the same forward pass; the mode is restored after.

    Args:
        model: a model given a rule by ``apply_rule``.
        X: (batch, n_inputs) inputs; y: targets as ``loss`` expects them.
        loss: ``loss(output, target) -> scalar``.

    Returns:
        One angle per dense layer, input to output (the head's is 0 for every per-layer rule).
    """
    was_training = model.training
    model.eval()
    try:
        rule_grads = weight_gradients(model, X, y, loss)
        with true_gradient_mode(model):
            true_grads = weight_gradients(model, X, y, loss)
    finally:
        model.train(was_training)
    return [angle_degrees(a, b) for a, b in zip(rule_grads, true_grads)]


class AlignmentCallback(Callback):
    """A Trainer callback that records the update–gradient angle of every dense layer every ``every`` batches.

    Args:
        X, y: a fixed probe batch on which the angles are measured (keeps the curve comparable
            across steps; a few hundred training rows suffice).
        loss: the training loss; if None, the trainer's ``loss`` attribute is used.
        every: measure every this many batches (and once before training).

    Attributes:
        records_: list of dicts ``{"step", "epoch", "layer", "angle"}`` (angle in degrees).
    """

    def __init__(self, X: Tensor, y: Tensor, loss: LossFn | None = None, every: int = 20) -> None:
        self.X = X
        self.y = y
        self.loss = loss
        self.every = every
        self.records_: list[dict[str, Any]] = []
        self._step = 0
        self._epoch = 0

    def _measure(self, trainer: Any) -> None:
        loss = self.loss if self.loss is not None else getattr(trainer, "loss")
        for i, a in enumerate(gradient_angles(trainer.model, self.X, self.y, loss)):
            self.records_.append({"step": self._step, "epoch": self._epoch, "layer": i, "angle": a})

    def on_fit_start(self, trainer: Any) -> None:
        self._step = 0
        self.records_ = []
        self._measure(trainer)

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        self._epoch = int(epoch)

    def on_batch_end(self, trainer: Any, batch: Any, logs: Any) -> None:
        self._step += 1
        if self._step % self.every == 0:
            self._measure(trainer)

    def curves(self) -> dict[int, tuple[list[int], list[float]]]:
        """layer -> (steps, angles)."""
        return _curves(self.records_)


def _curves(records: Sequence[Mapping[str, Any]]) -> dict[int, tuple[list[int], list[float]]]:
    """layer -> (steps, angles) of AlignmentCallback records."""
    out: dict[int, tuple[list[int], list[float]]] = {}
    for r in records:
        steps, angles = out.setdefault(int(r["layer"]), ([], []))
        steps.append(int(r["step"]))
        angles.append(float(r["angle"]))
    return out


def make_alignment_callback(X: Tensor, y: Tensor, loss: LossFn | None = None, every: int = 20) -> AlignmentCallback:
    """An AlignmentCallback (kept as the documented way to build one)."""
    return AlignmentCallback(X, y, loss, every)


def plot_alignment(records: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str = "") -> Figure:
    """Alignment plot: angle (degrees) against training step, one panel per rule, a line per layer.

    Args:
        records: rule name -> ``AlignmentCallback.records_``.
    """
    names = [n for n in records if records[n]]
    fig = Figure(figsize=(4.0 * max(1, len(names)), 3.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for layer, (s, a) in sorted(_curves(records[name]).items()):
            ax.plot(s, a, label=f"layer {layer + 1}")
        ax.axhline(90.0, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, 100)
        ax.set_xlabel("training step")
        ax.set_title(name)
    axes[0].set_ylabel("angle to true gradient (°)")
    if names:
        axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig

