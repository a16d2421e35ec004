"""Optimisers and learning-rate schedules by name.

Adam runs fused on CPU when it can: DESIGN.md measured the default Adam step at ~45% of a small MLP's
training step, and `fused=True` makes the whole fit ~25% faster.

The optimisers are torch.optim's Adam, AdamW and SGD (their update rules, defaults and state layout, so a
checkpoint of either loads in the other) less one cost: torch.optim guards `step`, `zero_grad`,
`add_param_group`, `state_dict` and `load_state_dict` so that torch.compile does not trace them, and the first
call of any of them imports torch._dynamo and SymPy, about 2 s of CPU in every process that trains, more than
a small fit itself (a sweep's worker pays it per process, `deepsci fit` before its first epoch). deepsci never
compiles an optimiser step, so its classes call the functions inside those guards: the same code, in the same
grad mode (off) as the guard sets it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.optim import adam as torch_adam

from deepsci.errors import ConfigError, unknown_name

from deepsci.training.names import OPTIMISERS, SCHEDULES  # the one list of names


def make_optimiser(params: Iterable[nn.Parameter], name: str = "adam", *, lr: float = 1e-3,
                   weight_decay: float = 0.0, momentum: float = 0.9,
                   nesterov: bool = False) -> torch.optim.Optimizer:
    """Build the optimiser `name` ("sgd", "adam", "adamw") over `params`.

    SGD's weight decay is the L2 penalty (added to the gradient); AdamW's is decoupled
    (Loshchilov & Hutter 2019); Adam's is L2 through the adaptive step.
    """
    params = list(params)
    if name == "sgd":
        if nesterov and momentum <= 0:
            raise ConfigError("Nesterov momentum needs train.momentum > 0.")
        return SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, foreach=True)
    if name in ("adam", "adamw"):
        cls = Adam if name == "adam" else AdamW
        return cls(params, lr=lr, weight_decay=weight_decay, **_fast_kwargs(params))
    raise ConfigError(unknown_name("optimiser", name, OPTIMISERS))


def _unguarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function inside torch's guards (each keeps it as `__wrapped__`, as functools.wraps does)."""
    return inspect.unwrap(function)


class _Unguarded:
    """torch.optim.Optimizer's guarded methods, unguarded (the module docstring says why)."""

    add_param_group = _unguarded(torch.optim.Optimizer.add_param_group)
    zero_grad = _unguarded(torch.optim.Optimizer.zero_grad)
    state_dict = _unguarded(torch.optim.Optimizer.state_dict)
    load_state_dict = _unguarded(torch.optim.Optimizer.load_state_dict)


_adam_update = _unguarded(torch_adam.adam)


def _adam_step(self: torch.optim.Adam, closure: Callable[[], Any] | None = None) -> Any:
    """torch.optim.Adam.step (AdamW's too: it is Adam with decoupled weight decay), line for line, with the
    update function unguarded."""
    self._accelerator_graph_capture_health_check()
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    with torch.no_grad():
        for group in self.param_groups:
            params: list[torch.Tensor] = []
            grads: list[torch.Tensor] = []
            exp_avgs: list[torch.Tensor] = []
            exp_avg_sqs: list[torch.Tensor] = []
            max_exp_avg_sqs: list[torch.Tensor] = []
            steps: list[torch.Tensor] = []
            has_complex = self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps)
            beta1, beta2 = group["betas"]
            _adam_update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, amsgrad=group["amsgrad"],
                         has_complex=has_complex, beta1=beta1, beta2=beta2, lr=group["lr"],
                         weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                         foreach=group["foreach"], capturable=group["capturable"],
                         differentiable=group["differentiable"], fused=group["fused"],
                         grad_scale=getattr(self, "grad_scale", None), found_inf=getattr(self, "found_inf", None),
                         decoupled_weight_decay=group["decoupled_weight_decay"])
    return loss


_sgd_step = _unguarded(torch.optim.SGD.step)  # its update function (torch.optim.sgd.sgd) has no guard


class Adam(_Unguarded, torch.optim.Adam):
    """torch.optim.Adam without torch.compile's guards (module docstring)."""

    step = _adam_step


class AdamW(_Unguarded, torch.optim.AdamW):
    """torch.optim.AdamW without torch.compile's guards (module docstring)."""

    step = _adam_step


class SGD(_Unguarded, torch.optim.SGD):
    """torch.optim.SGD without torch.compile's guards (module docstring)."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        with torch.no_grad():
            return _sgd_step(self, closure)


def _fast_kwargs(params: list[nn.Parameter]) -> dict[str, Any]:
    """fused=True for float CPU/CUDA tensors (one kernel for all parameters), else foreach."""
    fusable = all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda")
                  for p in params)
    return {"fused": True} if fusable else {"foreach": True}


def make_schedule(optimiser: torch.optim.Optimizer, name: str | None, *, epochs: int,
                  step_size: int = 30, gamma: float = 0.1, plateau_patience: int = 10,
                  min_lr: float = 0.0) -> Any:
    """A learning-rate schedule stepped once per epoch (None or "constant": no schedule).

    "step": multiply by gamma every step_size epochs; "cosine": cosine annealing to min_lr over
    `epochs`; "plateau": multiply by gamma when the validation loss has not improved for
    plateau_patience epochs.
    """
    if name in (None, "constant"):
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimiser, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(epochs, 1), eta_min=min_lr)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=gamma, patience=plateau_patience,
                                                          min_lr=min_lr)
    raise ConfigError(unknown_name("schedule", name, SCHEDULES))
