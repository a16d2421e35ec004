"""The theory section of a run: the run's own network at initialisation, held against the theory of deep networks.

    signal        predicted against measured per-layer preactivation variance and gradient norm
                  (`deepsci.theory.signal`), on the first `ROWS` training rows
    criticality   the layers' (C_b, C_W) against the activation's critical point (`deepsci.theory.critical`),
                  χ∥, χ⊥, the depth scale, and one sentence for a scientist; `flagged` when off-critical
    references    for a dense network on a table with a continuous target: the NNGP and NTK kernel regressors
                  (`deepsci.theory.kernel_references`), their metrics beside the network's

The network is rebuilt from the run's [model] and seed (the trained one has moved on); an ensemble's first member
is the one shown. Networks the theory does not describe (attention; inputs that are not one tensor) get a
sentence saying so instead. experiment computes it once (`theory_of_run`) for metrics.json and the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from deepsci.data.batch import take
from deepsci.errors import DeepSciError
from deepsci.evaluation.metrics import task_metrics
from deepsci.models import build_model
from deepsci.models.equivariant import GroupConv
from deepsci.models.lorentz import LorentzNet
from deepsci.models.mlp import SignConstrained
from deepsci.tasks import task_of
from deepsci.theory.activation import Activation, resolve_activation
from deepsci.theory.criticality import CriticalPoint, critical
from deepsci.theory.kernel_references import CLOSED_FORMS, kernel_references
from deepsci.theory.signal import WEIGHT_LAYERS, SignalPropagation, activation_of, signal_propagation

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset

ROWS = 256  # training rows in the forward/backward pass: enough for a per-layer mean within a few per cent
VALUES = 2**16  # at most this many input values of a table in the pass
MAP_VALUES = 2**13  # ... and of images, signals and sequences, whose every position costs a map entry per layer
MIN_ROWS = 8
CW_TOLERANCE = 0.1  # relative distance of C_W from the critical value beyond which the network is flagged
CB_TOLERANCE = 0.05  # absolute distance of C_b from the critical value beyond which it is flagged
GRADIENT_BAND = (0.1, 10.0)  # with batch norm: a measured gradient change outside it is flagged
#: modules whose infinite-width theory deepsci does not carry, and what to say about them
NOT_DESCRIBED: dict[type, str] = {
    nn.MultiheadAttention: "attention mixes positions with weights that depend on the data; its infinite-width "
                           "theory (Hron et al. 2020) is not in deepsci, so no prediction is made for this network",
    nn.RNNBase: "the network is recurrent (RNN, GRU or LSTM): the mean-field theory of recurrent networks (Chen, "
                "Pennington & Schoenholz 2018) is not in deepsci, so no prediction is made for this network",
    SignConstrained: "the weights are sign-constrained (a monotone MLP: W = +-|V|, not zero-mean), which the Gaussian "
                     "theory does not describe, so no prediction is made for this network",
    GroupConv: "the group convolutions share each filter across rotations and reflections, a weight structure the "
               "Gaussian theory in deepsci does not describe, so no prediction is made for this network",
    LorentzNet: "the network's first layers read Minkowski products it computes from the inputs, not the inputs, so "
                "the Gaussian recursion has no input moments to start from; no prediction is made for this network"}


@dataclass(frozen=True)
class RunTheory:
    """The theory section of one run (see the module docstring); `applies` False carries only `why_not`.

    Attributes:
        applies: whether the Gaussian theory describes this network.
        why_not: the sentence shown instead when it does not.
        signal: per-layer predicted against measured, and the susceptibilities.
        activation: the hidden activation's name.
        cb, cw: the hidden layers' mean bias variance and weight variance × fan-in.
        critical: the activation's critical point (None when there is no activation).
        flagged: the network is off-critical (C_W or C_b away from the critical values, or no critical point).
        reading: one or two sentences for a scientist.
        references: {"nngp"|"ntk": {"description", "rows", "ridge", split: metrics}} (tables, continuous targets,
            ReLU: closed-form kernels), or {"note": why not}.
        seconds: wall time of the whole section.
    """

    applies: bool
    why_not: str = ""
    signal: SignalPropagation | None = None
    activation: str = ""
    cb: float = math.nan
    cw: float = math.nan
    critical: CriticalPoint | None = None
    flagged: bool = False
    reading: str = ""
    references: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """metrics.json["theory"]."""
        if not self.applies:
            return {"applies": False, "why_not": self.why_not, "seconds": self.seconds}
        point = self.critical
        return {"applies": True, "reading": self.reading, "flagged": self.flagged, "activation": self.activation,
                "cb": _num(self.cb), "cw": _num(self.cw),
                "critical": None if point is None else {"cb": _num(point.cb), "cw": _num(point.cw),
                                                        "universality": point.universality},
                **(self.signal.to_json() if self.signal is not None else {}),
                "references": self.references, "seconds": self.seconds}


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def theory_of_run(config: "Config", dataset: "Dataset") -> RunTheory:
    """The theory section for the run of `config` on `dataset` (its network rebuilt at initialisation)."""
    start = time.perf_counter()
    model = build_model(config.model, dataset.inputs, dataset.n_outputs, task=dataset.task, seed=config.seed)
    theory = network_theory(model, take(dataset.train.X, slice(0, _rows(dataset.train.X))), seed=config.seed)
    if theory.applies:
        act = next((a for a in map(activation_of, model.modules()) if a is not None), None)
        theory = replace(theory, references=_references(model, dataset, act, theory.cb, theory.cw, seed=config.seed))
    return replace(theory, seconds=time.perf_counter() - start)


def _rows(X: Any) -> int:
    """Training rows for the pass: ROWS, fewer for large inputs (the cost grows with rows x values per row)."""
    if not isinstance(X, Tensor) or not len(X):
        return ROWS
    budget = VALUES if X.dim() == 2 else MAP_VALUES
    return max(MIN_ROWS, min(ROWS, budget // max(X[0].numel(), 1)))


def network_theory(model: nn.Module, X: Any, *, seed: int = 0) -> RunTheory:
    """Signal propagation and criticality of a network at initialisation on a batch X of its inputs (no kernel
    references: they need the whole training split)."""
    start = time.perf_counter()
    why = _not_described(model, X)
    if why:
        return RunTheory(applies=False, why_not=why, seconds=time.perf_counter() - start)
    assert isinstance(X, Tensor)
    try:
        signal = signal_propagation(model, X, seed=seed)
    except (DeepSciError, RuntimeError, TypeError, ValueError) as err:  # a network whose forward needs more
        # than its inputs (a mask, a graph): said in the report and metrics.json, and the run stands
        return RunTheory(applies=False, why_not=f"the forward pass at initialisation could not run on one batch "
                                                f"of training rows ({type(err).__name__}: {err})",
                         seconds=time.perf_counter() - start)
    act = next((a for a in map(activation_of, model.modules()) if a is not None), resolve_activation("linear"))
    cb, cw = _hidden_variances(signal)
    point = _critical_point(act)
    normalised = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    flagged, reading = _reading(signal, act, cb, cw, point) if not normalised else _normalised_reading(signal)
    return RunTheory(applies=True, signal=signal, activation=act.name if act else "", cb=cb, cw=cw, critical=point,
                     flagged=flagged, reading=reading, seconds=time.perf_counter() - start)


def _not_described(model: nn.Module, X: Any) -> str:
    """Why the Gaussian theory says nothing about this network ("" when it does)."""
    for kind, why in NOT_DESCRIBED.items():
        if any(isinstance(m, kind) for m in model.modules()):
            return why
    if not isinstance(X, Tensor) or not X.is_floating_point():
        return ("the inputs are not one tensor of real numbers (several inputs, symbols or graphs), so the Gaussian "
                "recursion has no input moments to start from; no prediction is made for this network")
    if not any(isinstance(m, WEIGHT_LAYERS) for m in model.modules()):
        return "the network has no dense or convolutional layer for the theory to describe"
    return ""


def _hidden_variances(signal: SignalPropagation) -> tuple[float, float]:
    """Mean (C_b, C_W) over the weight layers (the head included: it is one of the layers a signal crosses)."""
    layers = signal.layers
    return float(np.mean([lay.cb for lay in layers])), float(np.mean([lay.cw for lay in layers]))


def _critical_point(act: Activation | None) -> CriticalPoint | None:
    """The activation's critical point, or None when there is no activation (a linear network) or no solver."""
    if act is None:
        return None
    try:
        return critical(act)
    except DeepSciError:
        return None


def _reading(signal: SignalPropagation, act: Activation | None, cb: float, cw: float,
             point: CriticalPoint | None) -> tuple[bool, str]:
    """(flagged, the sentence for a scientist) from where (C_b, C_W) sit against the critical point."""
    depth = len(signal.layers)
    change = signal.gradient_change
    grads = (f"measured gradient norms change by ×{change:.3g} from the output back to the first layer over "
             f"{depth} weight layers") if math.isfinite(change) else "gradients could not be measured"
    if act is None or point is None or point.universality == "none":
        name = act.name if act else "no activation"
        return (act is not None,
                f"{name}: no critical initialisation exists for this activation, so signals drift with depth; "
                f"{grads}.")
    off = abs(cw - point.cw) > CW_TOLERANCE * point.cw or abs(cb - point.cb) > CB_TOLERANCE + CB_TOLERANCE * point.cb
    phase = "ordered phase: differences between inputs fade" if signal.chi_perp < 1 else \
        "chaotic phase: nearby inputs decorrelate"
    where = (f"C_W = {cw:.3g}, C_b = {cb:.3g} against the critical C_W = {point.cw:.3g}, C_b = {point.cb:.3g} "
             f"for {act.name}; χ⊥ = {signal.chi_perp:.3g}, χ∥ = {signal.chi_parallel:.3g} per layer")
    if off:
        return True, (f"Off-critical ({phase}, depth scale {signal.depth_scale:.3g} layers): {where}; {grads}. "
                      "Use model.init = 'critical' to start at criticality.")
    return False, f"At criticality: {where}; {grads}."


def _normalised_reading(signal: SignalPropagation) -> tuple[bool, str]:
    """(flagged, sentence) for a network with batch norm: the measured gradients decide, not (C_b, C_W)."""
    change = signal.gradient_change
    flagged = not (GRADIENT_BAND[0] <= change <= GRADIENT_BAND[1])
    return flagged, (f"{'Gradients vanish or explode' if flagged else 'Gradients keep their size'}: batch norm "
                     "rescales each layer's preactivations, so (C_b, C_W) do not set the signal's size here; "
                     f"measured gradient norms change by ×{change:.3g} from the output back to the first layer over "
                     f"{len(signal.layers)} weight layers (the recursion's χ⊥ = {signal.chi_perp:.3g} ignores the "
                     "rescaling).")


def _references(model: nn.Module, dataset: "Dataset", act: Activation | None, cb: float, cw: float, *,
                seed: int) -> dict[str, Any]:
    """NNGP and NTK regressors' metrics per split, for a dense stack on a table with a continuous target."""
    X_train = dataset.train.X
    dense = [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    if (not task_of(dataset.task).continuous or not isinstance(X_train, Tensor) or X_train.dim() != 2
            or not all(isinstance(m, nn.Linear) for m in dense) or act is None):
        return {}
    if act.name not in CLOSED_FORMS:  # 2-D quadrature per kernel entry and layer: minutes, not seconds
        return {"note": f"the kernel references need a closed-form kernel ({', '.join(CLOSED_FORMS)}); "
                        f"not computed for {act.name}"}
    splits = {name: getattr(dataset, name) for name in ("valid", "test") if len(getattr(dataset, name)) > 0}
    refs = kernel_references(X_train, dataset.train.y, {name: s.X for name, s in splits.items()},
                             depth=len(dense) - 1, activation=act, cb=cb, cw=cw, seed=seed,
                             y_valid=splits["valid"].y if "valid" in splits else None)
    inverse = dataset.preprocessor.inverse_targets
    out: dict[str, dict[str, Any]] = {}
    for ref in refs:
        entry: dict[str, Any] = {"description": ref.description, "rows": ref.rows, "ridge": ref.ridge}
        for name, pred in ref.pred.items():
            y_true = inverse(splits[name].y.double()).double().numpy()
            y_pred = inverse(torch.as_tensor(pred)).double().numpy()
            entry[name] = task_metrics(dataset.task, y_true, y_pred, dataset.class_names, dataset.target_names)
        out[ref.kernel] = entry
    return out
