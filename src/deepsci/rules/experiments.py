"""Experiments comparing learning rules, as functions returning dataclasses and matplotlib figures.

- :func:`compare_rules`: the same MLP on sklearn digits trained with each learning rule (test
  accuracy, update–gradient angles over training).
- :func:`hopfield_capacity`: recall fraction against load P/N (see ``deepsci.models.hopfield``).
- :func:`rbm_digits`: a Bernoulli RBM on binarised digits, CD-k or persistent CD, with held-out
  reconstruction against chance and samples.
Figures use the object API (``matplotlib.figure.Figure``): no pyplot state, no window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from deepsci.errors import ConfigError, unknown_name
from deepsci.models.hopfield import Capacity, capacity_experiment
from deepsci.models.mlp import MLP
from deepsci.models.rbm import BernoulliRBM, reconstruction_error
from deepsci.rules.alignment import make_alignment_callback, plot_alignment
from deepsci.rules.contrastive import RBMHistory, fit_rbm
from deepsci.rules.feedback import RULES, apply_rule
from deepsci.training import Trainer

COMPARED_RULES = ("backprop", "feedback-alignment", "direct-feedback-alignment", "sign-symmetry")


def _split_digits(test_fraction: float, seed: int) -> list[np.ndarray]:
    """sklearn digits (1797 images, 8x8, pixels 0..16, 10 classes), stratified: X_train, X_test, y_train, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return list(train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed))


def digits_split(test_fraction: float = 0.3, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """sklearn digits, stratified train/test split, pixels standardised with the training split's mean
    and std. Returns X_train, y_train, X_test, y_test."""
    Xtr, Xte, ytr, yte = _split_digits(test_fraction, seed)
    mean, std = Xtr.mean(0), Xtr.std(0) + 1e-6  # train statistics only: no test leakage
    f = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return f(Xtr), torch.tensor(ytr), f(Xte), torch.tensor(yte)


@dataclass
class RuleComparison:
    """Outcome of :func:`compare_rules`.

    Attributes:
        accuracy: rule -> test accuracy. train_accuracy: rule -> training accuracy.
        angles: rule -> AlignmentCallback records (step, epoch, layer, angle in degrees).
        final_angles: rule -> mean angle per layer over the last quarter of the records.
        history: rule -> per-epoch training loss. seconds: rule -> fit wall time.
        settings: the MLP and training settings used.
    """

    accuracy: dict[str, float] = field(default_factory=dict)
    train_accuracy: dict[str, float] = field(default_factory=dict)
    angles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    final_angles: dict[str, list[float]] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> dict[str, dict[str, float]]:
        """rule -> {test accuracy, train accuracy, final angle of the first hidden layer}."""
        return {r: {"test accuracy": self.accuracy[r], "train accuracy": self.train_accuracy[r],
                    "angle layer 1 (deg)": self.final_angles[r][0]} for r in self.accuracy}

    def figure(self) -> Figure:
        """Alignment plot, one panel per rule."""
        return plot_alignment(self.angles, title="angle between each rule's update and the true gradient")


def compare_rules(rules: Sequence[str] = COMPARED_RULES, *, hidden: Sequence[int] = (128, 128),
                  activation: str = "tanh", epochs: int = 40, lr: float = 1e-3, batch_size: int = 32,
                  every: int = 20, seed: int = 0) -> RuleComparison:
    """Train the same MLP (same initial weights) on digits with each rule; test accuracy and angles.

    Uses ``deepsci.training.Trainer`` (Adam) with an :class:`AlignmentCallback` that measures the
    per-layer angle on 256 training rows every ``every`` batches.
    """
    for r in rules:
        if r not in RULES:
            raise ConfigError(unknown_name("learning rule", r, list(RULES)))
    Xtr, ytr, Xte, yte = digits_split(seed=seed)
    loss = nn.functional.cross_entropy
    out = RuleComparison(settings=dict(hidden=list(hidden), activation=activation, epochs=epochs, lr=lr,
                                       batch_size=batch_size, optimizer="adam", seed=seed,
                                       n_train=len(Xtr), n_test=len(Xte)))
    for rule in rules:
        model = apply_rule(MLP(64, 10, hidden, activation, seed=seed), rule, seed=seed)
        cb = make_alignment_callback(Xtr[:256], ytr[:256], loss, every=every)
        trainer = Trainer(model, loss=loss, optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs,
                          callbacks=[cb], seed=seed)
        start = time.perf_counter()
        trainer.fit(Xtr, ytr)
        out.seconds[rule] = time.perf_counter() - start
        out.accuracy[rule] = float((trainer.predict(Xte).argmax(1) == yte).float().mean())
        out.train_accuracy[rule] = float((trainer.predict(Xtr).argmax(1) == ytr).float().mean())
        out.history[rule] = [float(h["train_loss"]) for h in trainer.history_]
        out.angles[rule] = cb.records_
        out.final_angles[rule] = [float(np.mean(a[-max(1, len(a) // 4):])) for _, (_, a) in sorted(cb.curves().items())]
    return out


def hopfield_capacity(n: int = 200, *, trials: int = 3, noise: float = 0.05, seed: int = 0) -> Capacity:
    """The capacity curve of an N-unit Hopfield network (see ``capacity_experiment``)."""
    return capacity_experiment(n, trials=trials, noise=noise, seed=seed)


def plot_capacity(cap: Capacity) -> Figure:
    """Recall fraction and mean overlap against P/N, with the 0.138 N theoretical capacity marked."""
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(cap.loads, cap.recall_fraction, "o-", label=f"recalled (overlap ≥ {cap.threshold})")
    ax.plot(cap.loads, cap.mean_overlap, "s--", label="mean overlap")
    ax.axvline(0.138, color="grey", ls=":", label="0.138 (Amit et al. 1985)")
    ax.set_xlabel("stored patterns / units  (P/N)")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Hopfield capacity, N = {cap.n}, cues with {cap.noise:.0%} flipped")
    ax.legend(fontsize=8)
    return fig


@dataclass
class RBMExperiment:
    """Outcome of :func:`rbm_digits`.

    Attributes:
        rbm: the trained machine. history: per-epoch reconstruction / pseudo-likelihood.
        test_reconstruction: MSE per pixel of the mean-field reconstruction of held-out digits.
        chance_mean: MSE of predicting every pixel by its training-set mean (a chance-level model
            that knows the pixel frequencies). chance_coin: MSE of predicting 0.5 everywhere (0.25).
        samples: (n, 64) binary samples after long Gibbs chains. test_images: (n, 64) held-out digits.
    """

    rbm: BernoulliRBM
    history: RBMHistory
    test_reconstruction: float
    chance_mean: float
    chance_coin: float
    samples: Tensor
    test_images: Tensor

    def figure(self, n: int = 10) -> Figure:
        """Three rows: held-out digits, their reconstructions, and samples from the model."""
        recon = self.rbm.reconstruct(self.test_images[:n])
        rows = [("held-out", self.test_images[:n]), ("reconstruction", recon), ("samples", self.samples[:n])]
        fig = Figure(figsize=(n * 0.8, 2.6), layout="constrained")
        axes = fig.subplots(3, n, squeeze=False)
        for r, (name, imgs) in enumerate(rows):
            for c in range(n):
                ax = axes[r][c]
                if c < len(imgs):
                    ax.imshow(imgs[c].reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][0].set_ylabel(name, fontsize=7)
        return fig


def binarised_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """sklearn digits thresholded at half intensity (pixel >= 8 of 16 -> 1): train, test (n, 64)."""
    tr, te, _, _ = _split_digits(test_fraction, seed)
    return torch.tensor((tr >= 8).astype(np.float32)), torch.tensor((te >= 8).astype(np.float32))


def rbm_digits(*, n_hidden: int = 64, k: int = 1, persistent: bool = False, epochs: int = 20, lr: float = 0.05,
               gibbs_steps: int = 1000, n_samples: int = 10, track_pll: bool = True, seed: int = 0) -> RBMExperiment:
    """Train a Bernoulli RBM on binarised digits and measure held-out reconstruction against chance."""
    Vtr, Vte = binarised_digits(seed=seed)
    rbm = BernoulliRBM(64, n_hidden, seed=seed)
    hist = fit_rbm(rbm, Vtr, k=k, persistent=persistent, epochs=epochs, lr=lr, V_valid=Vte,
                   track_pll=track_pll, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    # chains start from held-out digits' noisy copies would bias the picture; start from noise
    start = torch.bernoulli(torch.full((n_samples, 64), 0.5), generator=gen)
    samples = rbm.gibbs(start, gibbs_steps, gen)
    chance_mean = float(((Vtr.mean(0) - Vte) ** 2).mean())
    return RBMExperiment(rbm, hist, reconstruction_error(rbm, Vte), chance_mean, 0.25, samples, Vte)
