"""Adversarial examples (FGSM, PGD), accuracy against ε, and adversarial training.

An L∞ attack moves every input element by at most ε to raise the loss:

- FGSM (Goodfellow, Shlens & Szegedy 2015): x' = x + ε · sign(∇ₓ loss), one gradient.
- PGD (Madry et al. 2018): from a uniform random start in the ε-ball, `steps` signed-gradient steps of
  size 2.5 ε / steps, each projected back onto the ball: the stronger attack.

ε is in the model's input units, as fed to it: standardised features (ε = 0.1 is a tenth of a training
standard deviation) for tables and signals; for images scaled with data.scale = "unit" (the default)
the pixel scale divided by the training maximum, so for scikit-learn's digits (pixels 0–16, divided
by 16) ε is directly on the pixel scale [0, 1]. Inputs are not clipped to a valid range.

Adversarial training (train.adversarial = ε) trains on each batch together with its adversarial
copy: the loss is ½ loss(x) + ½ loss(x'), Goodfellow et al.'s objective with α = ½.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from deepsci.data.batch import Inputs
from deepsci.errors import ConfigError, DataError
from deepsci.explain.attributions import ExplainedOutput
from deepsci.tasks import task_of

ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
Loss = Callable[[Tensor, Tensor], Tensor]


def _input_gradient(model: nn.Module, loss: Loss, x: Tensor, y: Tensor) -> Tensor:
    """∇ₓ loss(model(x), y) without touching the parameters' .grad (also inside a no_grad block)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(model(x), y), x)
    return grad


def fgsm(model: nn.Module, loss: Loss, x: Tensor, y: Tensor, epsilon: float) -> Tensor:
    """x + ε · sign(∇ₓ loss): the fast gradient sign attack. Shapes: x (n, ...) -> (n, ...)."""
    if epsilon == 0:
        return x.detach()
    return (x + epsilon * _input_gradient(model, loss, x, y).sign()).detach()


def pgd(model: nn.Module, loss: Loss, x: Tensor, y: Tensor, epsilon: float, *, steps: int = 10,
        step_size: float | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient ascent on the loss within the L∞ ball of radius ε around x.

    Starts at a uniform random point of the ball (drawn from `generator`); step size defaults to
    2.5 ε / steps, so the walk can cross the ball (Madry et al. 2018).
    """
    if epsilon == 0:
        return x.detach()
    size = 2.5 * epsilon / steps if step_size is None else step_size
    start = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    x_adv = x.detach() + epsilon * (2 * start - 1)
    for _ in range(steps):
        x_adv = x_adv + size * _input_gradient(model, loss, x_adv, y).sign()
        x_adv = torch.max(torch.min(x_adv, x + epsilon), x - epsilon).detach()
    return x_adv


def attack(model: nn.Module, loss: Loss, x: Tensor, y: Tensor, epsilon: float, *, method: str = "pgd",
           steps: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Adversarial inputs by `method` ("fgsm" or "pgd"); the model is put in eval mode for the attack
    (dropout off, batch norm's running statistics untouched) and returned to its former mode."""
    if method not in ATTACKS:
        raise ConfigError(f"unknown attack '{method}'; known: {', '.join(ATTACKS)}.")
    was_training = model.training
    model.eval()
    try:
        if method == "fgsm":
            return fgsm(model, loss, x, y, epsilon)
        return pgd(model, loss, x, y, epsilon, steps=steps, generator=generator)
    finally:
        model.train(was_training)


def check_attackable(X: Inputs, task: str) -> Tensor:
    """The input as one float tensor, or one line saying why it cannot be attacked."""
    if task_of(task).continuous:
        raise DataError("adversarial accuracy is defined for classifiers; this run is a regression.")
    if not isinstance(X, Tensor) or not torch.is_floating_point(X):
        raise DataError("adversarial attacks take one float input (a table, signal or image); this data is "
                        "tokens, several inputs or graphs.")
    return X


def adversarial_augment(model: nn.Module, loss: Callable[..., Any], *, epsilon: float, method: str,
                        steps: int) -> Callable[..., Any]:
    """A batch augmentation (xb, yb, generator) -> (xb', yb') for adversarial training.

    xb' stacks the clean batch and its adversarial copy (attacked with `method` at ε under the training
    `loss`), yb' repeats the labels: the Trainer's mean loss is then ½ clean + ½ adversarial.
    """
    if method not in ATTACKS:
        raise ConfigError(f"train.adversarial_method must be one of {', '.join(ATTACKS)}; received '{method}'.")
    if epsilon <= 0:
        raise ConfigError(f"train.adversarial is the attack's ε and must be positive; received {epsilon}.")

    def augment(xb: Any, yb: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if not isinstance(xb, Tensor) or not torch.is_floating_point(xb):
            raise ConfigError("train.adversarial needs one float input (a table, signal or image); set it to 0 "
                              "for tokens, several inputs or graphs.")
        x_adv = attack(model, loss, xb, yb, epsilon, method=method, steps=steps, generator=generator)
        return torch.cat([xb, x_adv]), torch.cat([yb, yb])

    return augment


@dataclass
class RobustnessCurve:
    """Accuracy against ε for each attack (lists aligned with `epsilons`)."""

    epsilons: list[float]
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 10
    rows: int = 0

    def table(self) -> dict[str, Any]:
        """The curve as a report table: one row per ε, one column per attack."""
        methods = list(self.accuracy)
        return {"columns": ["ε (input units)", *[f"{m.upper()} accuracy" for m in methods]],
                "rows": [[f"{e:g}", *[f"{self.accuracy[m][i]:.3f}" for m in methods]]
                         for i, e in enumerate(self.epsilons)]}


def classifier_loss(task: str) -> Loss:
    """The loss an attack raises: cross-entropy on logits (multiclass) or on the one logit (binary)."""
    if task_of(task).head == "sigmoid-binary":
        return lambda out, y: nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.float().reshape(-1))
    return lambda out, y: nn.functional.cross_entropy(out, y.long())


def accuracy(output: Tensor, y: Tensor, task: str) -> float:
    """Fraction of rows classified right (binary: logit > 0 is class 1)."""
    pred = (output[:, 0] > 0).long() if task_of(task).head == "sigmoid-binary" else output.argmax(1)
    return float((pred == y.reshape(-1).long()).double().mean())


def robustness_curve(model: nn.Module, X: Inputs, y: Tensor, task: str, *, epsilons: Sequence[float] = (0, 0.05, 0.1, 0.2),
                     methods: Sequence[str] = ATTACKS, steps: int = 10, batch_size: int = 256,
                     seed: int = 0) -> RobustnessCurve:
    """Accuracy of a classifier on (X, y) under each attack at each ε (in the model's input units)."""
    x = check_attackable(X, task)
    f = ExplainedOutput(model).eval()
    loss = classifier_loss(task)
    curve = RobustnessCurve([float(e) for e in epsilons], steps=steps, rows=len(x))
    for method in methods:
        generator = torch.Generator().manual_seed(seed)
        scores = []
        for eps in curve.epsilons:
            correct = 0.0
            for i in range(0, len(x), batch_size):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                x_adv = attack(f, loss, xb, yb, eps, method=method, steps=steps, generator=generator)
                with torch.no_grad():
                    correct += accuracy(f(x_adv), yb, task) * len(xb)
            scores.append(correct / len(x))
        curve.accuracy[method] = scores
    return curve
