"""The Trainer: mini-batch training of any torch model over in-memory tensors.

The loop is made of small steps one can override (fit -> run_epoch -> train_step / eval_loss)
and callbacks for everything else. Batches are index slices of tensors already in memory:
DESIGN.md measured DataLoader(TensorDataset) at 20-30% slower for the same work.

Inputs are `deepsci.data.batch.Inputs`: one tensor (a table, signal or image) or a dict of named
tensors (a padded sequence or set with its mask, or several inputs at once). Every tensor shares the
row dimension, so a batch is the same index slice of each (`batch.take`) and the model is called with
`batch.forward` (model(x) or model(**x)).

Devices and processes (deepsci.training.device, deepsci.training.distributed): the model moves to
`device`; the data moves there once where it fits, else batch by batch from pinned host memory; the
epoch's loss is summed on the device and read once per epoch (no host synchronisation per step).
`precision` runs the forward pass under torch.autocast. Started by torchrun, the Trainer wraps the model
in DistributedDataParallel and each process trains on its shard of every global batch.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from deepsci.data.batch import Inputs, RowSource, check_rows, forward, n_rows, take
from deepsci.errors import DataError, TrainingError
from deepsci.training.callbacks import Callback, EarlyStopping, ProgressBar
from deepsci.training.checkpoint import load_training_state
from deepsci.training.device import (autocast, check_precision, grad_scaler, move_batch, move_tensor,
                                     place, resolve_device)
from deepsci.training.distributed import all_reduce_sum, shard, world, wrap
from deepsci.training.fastdense import Step, dense_step
from deepsci.training.inference import predict_batches
from deepsci.training.losses import per_sample_loss, weighted_loss
from deepsci.training.optimisers import make_optimiser, make_schedule

Tensor = torch.Tensor
# An augmentation maps a training batch (x, y) to a new one, drawing from the generator.
Augment = Callable[[Any, Tensor, torch.Generator], tuple[Any, Tensor]]
# Training data up to this size is gathered in each epoch's order once (a second copy of it, briefly) so
# every batch is a view; larger data gathers each batch's rows as it goes.
_GATHER_ONCE_BYTES = 256 * 2 ** 20


class Trainer:
    """Fits `model` by minimising `loss(model(x), y)` over shuffled mini-batches.

    Args:
        model: any nn.Module; outputs go straight into `loss`.
        loss: (output, target) -> scalar tensor (a mean over the batch). Sample weights need its
            per-sample form (`deepsci.training.losses.per_sample_loss`).
        optimizer: "sgd", "adam" or "adamw" (see training.optimisers).
        lr, weight_decay, momentum, nesterov: optimiser settings.
        batch_size: rows per step; the last, smaller batch of an epoch is kept (a RowSource with
            `batch_sizes()` fixes its own: truncated BPTT, deepsci.training.tbptt).
        epochs: maximum number of passes over the training data.
        schedule: None, "step", "cosine" or "plateau", stepped each epoch; schedule_kwargs go to
            `make_schedule`.
        clip_grad_norm: rescale gradients to at most this global L2 norm (None: no clipping).
        patience: early stopping on the validation loss, restoring the best weights (None: off).
        callbacks: extra Callback objects (those with `runs_last`, the Checkpoint, run after all others).
        augment: applied to each training batch only, never at evaluation: (xb, yb, generator) -> (xb, yb).
        seed: drives batch order, dropout masks and augmentation.
        progress: show a progress bar (terminal) or periodic lines (not a terminal).
        teacher_forcing: in training, call model(x, y, generator=...) so a sequence-to-sequence
            model can feed the true previous step to its decoder; evaluation always runs free.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N", "mps" or a torch.device; the model
            moves there (in place) before the optimiser is built.
        precision: "32", "bf16-mixed" or "16-mixed" (autocast; a gradient scaler for float16).
    """

    def __init__(self, model: nn.Module, *, loss: Callable[[Tensor, Tensor], Tensor],
                 optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 momentum: float = 0.9, nesterov: bool = False, batch_size: int = 32,
                 epochs: int = 100, schedule: str | None = None,
                 schedule_kwargs: dict[str, Any] | None = None, clip_grad_norm: float | None = None,
                 patience: int | None = None, callbacks: Sequence[Callback] = (),
                 augment: Augment | None = None, seed: int = 0, progress: bool = False,
                 teacher_forcing: bool = False, device: str | torch.device = "cpu", precision: str = "32") -> None:
        self.world = world()
        self.device = resolve_device(device, local_rank=self.world.local_rank if self.world.distributed else None)
        self.precision = check_precision(precision, self.device)
        model.to(self.device)  # before the optimiser: its state is created beside the parameters
        self.model, self.loss = model, loss
        self.batch_size, self.epochs = batch_size, epochs
        self.clip_grad_norm, self.augment, self.seed = clip_grad_norm, augment, seed
        self.teacher_forcing = teacher_forcing
        self.optimizer = make_optimiser(model.parameters(), optimizer, lr=lr, weight_decay=weight_decay,
                                        momentum=momentum, nesterov=nesterov)
        self.scheduler = make_schedule(self.optimizer, schedule, epochs=epochs, **(schedule_kwargs or {}))
        self.early_stopping = EarlyStopping(patience) if patience else None
        extra: list[Callback] = [self.early_stopping] if self.early_stopping is not None else []
        if progress and self.world.is_main:
            extra.append(ProgressBar())
        # Stable: the Checkpoint (runs_last) writes the epoch after every other callback recorded it.
        self.callbacks: list[Callback] = sorted([*callbacks, *extra], key=lambda cb: cb.runs_last)
        self.stop_training = False
        self.history_: list[dict[str, Any]] = []
        self.generator = torch.Generator().manual_seed(seed)
        self.scaler = grad_scaler(self.device, self.precision)
        # The model the training steps call: DDP's wrapper (its backward averages the ranks' gradients)
        # when several processes train, else the model itself.
        self.train_model = wrap(model, self.device)
        # A dense stack with a plain loss gets an explicit forward/backward and a fused optimiser step
        # (deepsci.training.fastdense); None where it does not apply: its explicit backward knows neither
        # autocast, nor DDP's gradient hooks, nor a decoder fed the targets (teacher forcing).
        plain = self.precision == "32" and not self.world.distributed and not teacher_forcing
        self.fast_step: Step | None = (dense_step(model, loss, self.optimizer, fallback=self.autograd_step,
                                                  clip_grad_norm=clip_grad_norm) if plain else None)
        # The step every batch takes, chosen once per fit (`choose_step`); the fast path until a fit chooses.
        self.step: Step = self.fast_step or self.autograd_step
        self._grad_scale = 1.0  # a DDP shard's loss factor (distributed.shard), set per batch
        self._resident = True  # the fit's data lives on self.device (set by fit: deepsci.training.device.place)

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self, X: Inputs, y: Tensor, X_valid: Inputs | None = None, y_valid: Tensor | None = None, *,
            sample_weight: Tensor | None = None, valid_sample_weight: Tensor | None = None,
            resume_from: str | Path | None = None) -> "Trainer":
        """Train on (X, y), tracking the loss on (X_valid, y_valid) if given. Returns self.

        Args:
            X: (n, ...) tensor or dict of (n, ...) tensors; y: (n, ...) targets.
            sample_weight: (n,) non-negative weights; the loss is their weighted mean (None or all equal:
                the plain mean, bit for bit).
            valid_sample_weight: the same for the validation rows (weighted validation loss).
            resume_from: a folder written by the `Checkpoint` callback; training goes on after its last
                epoch with the same weights, optimiser state, schedule, callback states and random streams.

        Raises:
            DataError: mismatched or empty splits, non-finite values in inputs or targets, bad weights.
            TrainingError: the training loss became NaN or infinite.
        """
        _check_split(X, y, "training")
        weight = _check_weights(sample_weight, n_rows(X), "training")
        valid_weight = None
        if X_valid is not None and y_valid is not None:
            _check_split(X_valid, y_valid, "validation")
            valid_weight = _check_weights(valid_sample_weight, n_rows(X_valid), "validation")
        if weight is not None or valid_weight is not None:
            self._per_sample = per_sample_loss(self.loss)
        (X, y, weight), self._resident = place([X, y, weight], self.device)
        (X_valid, y_valid, valid_weight), _ = place([X_valid, y_valid, valid_weight], self.device)
        self.step = self.choose_step(X, weight)
        torch.manual_seed(self.seed)  # dropout draws from the global generator
        self.generator = torch.Generator().manual_seed(self.seed)
        self.stop_training = False
        try:
            done = 0
            if resume_from is not None:
                done = load_training_state(self, Path(resume_from))
            for cb in self.callbacks:
                cb.on_fit_start(self)
            for epoch in range(done + 1, self.epochs + 1):
                if self.stop_training:
                    break
                for cb in self.callbacks:
                    cb.on_epoch_start(self, epoch)
                logs = self.run_epoch(epoch, X, y, X_valid, y_valid, weight, valid_weight)
                self.history_.append(logs)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
            for cb in self.callbacks:
                cb.on_fit_end(self)
        except BaseException as exc:  # KeyboardInterrupt too: callbacks give back the terminal, files, ...
            for cb in self.callbacks:
                with contextlib.suppress(Exception):
                    cb.on_exception(self, exc)
            raise
        return self

    def run_epoch(self, epoch: int, X: Inputs, y: Tensor, X_valid: Inputs | None, y_valid: Tensor | None,
                  sample_weight: Tensor | None = None, valid_sample_weight: Tensor | None = None
                  ) -> dict[str, Any]:
        """One pass over shuffled mini-batches; returns the epoch's logs.

        The batch losses are summed on the device and read once, at the end of the epoch, so a GPU never
        waits for the host between steps. Each callback's `on_batch_end` gets {"loss": the batch loss as
        a 0-dim tensor on the device}; `float()` of it is a host synchronisation.
        """
        start = time.perf_counter()
        self.model.train()
        n = n_rows(X)
        order = epoch_order(X, self.generator)
        if self._resident:
            order = order.to(self.device)  # index slices on the device, not a copy per step
        # float64 sums like the host's float arithmetic did (MPS has no float64)
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        batches = epoch_batches(X, order, self.batch_size)
        n_batches = len(batches)
        # Each batch's loss, read only if the epoch's sum is not finite. One preallocated buffer: a list of
        # thousands of small tensors fragments the heap (streamed epochs grew by ~1 GB per 3,000 steps).
        losses = torch.empty(n_batches, dtype=dtype, device=self.device)
        slots = losses.unbind(0)  # a view per batch: copying into one is cheaper than indexing the buffer
        weights = [0.0] * n_batches  # rows behind each batch loss (0 for a DDP placeholder row)
        for batch, (xb, yb, wb, rows) in enumerate(self._batches(X, y, order, batches, sample_weight)):
            if self.augment is not None:  # on the device; its draws come from the host generator
                xb, yb = self.augment(xb, yb, self.generator)
            step = self.train_step(xb, yb, wb)
            slots[batch].copy_(step)
            weights[batch] = 0.0 if self._grad_scale == 0 else rows
            for cb in self.callbacks:
                cb.on_batch_end(self, batch, {"loss": step, "rows": rows, "batches": n_batches})
        total = torch.dot(losses, torch.tensor(weights, dtype=dtype, device=self.device))
        train_loss = float(all_reduce_sum(total)) / n  # the epoch's one host synchronisation
        if not math.isfinite(train_loss):
            raise _non_finite(epoch, train_loss, losses)
        logs: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        logs["valid_loss"] = (self.eval_loss(X_valid, y_valid, sample_weight=valid_sample_weight)
                              if X_valid is not None and y_valid is not None else None)
        logs["lr"] = self.optimizer.param_groups[0]["lr"]
        self._step_schedule(logs)
        logs["seconds"] = time.perf_counter() - start
        return logs

    def _batches(self, X: Inputs, y: Tensor, order: Tensor, batches: Sequence[Tensor], sample_weight: Tensor | None
                 ) -> Iterator[tuple[Inputs, Tensor, Tensor | None, int]]:
        """The epoch's batches on the device: (inputs, targets, sample weights or None, rows).

        A resident tensor in one process is gathered in the epoch's order once (below _GATHER_ONCE_BYTES)
        and each batch is a view of it: one copy an epoch instead of two gathers a step, the same rows in the
        same order. Otherwise each batch gathers its rows (this rank's share of them under DDP).
        """
        plain = (self._resident and isinstance(X, Tensor) and sample_weight is None and not self.world.distributed
                 and X.numel() * X.element_size() + y.numel() * y.element_size() <= _GATHER_ONCE_BYTES)
        if plain:
            assert isinstance(X, Tensor)
            self._grad_scale = 1.0
            sizes = [rows.shape[0] for rows in batches]
            xs, ys = X.index_select(0, order).split(sizes), y.index_select(0, order).split(sizes)
            for xb, yb, size in zip(xs, ys, sizes):
                yield xb, yb, None, size
            return
        for rows in batches:
            idx, self._grad_scale = shard(rows, self.world)
            xb, yb = take(X, idx), y.index_select(0, idx)
            if not self._resident:
                xb, yb = move_batch(xb, self.device), move_tensor(yb, self.device)
            wb = None if sample_weight is None else move_tensor(sample_weight[idx], self.device)
            yield xb, yb, wb, len(idx)

    def choose_step(self, X: Inputs, sample_weight: Tensor | None) -> Step:
        """The step of a fit, chosen once at its start: the dense fast path where the Trainer has one
        (`fast_step`) and the fit has neither named inputs nor sample weights, else `autograd_step`."""
        if self.fast_step is not None and sample_weight is None and not isinstance(X, dict):
            return self.fast_step
        return self.autograd_step

    def train_step(self, xb: Inputs, yb: Tensor, wb: Tensor | None = None) -> Tensor:
        """One optimiser step on a batch; returns the batch loss (weighted by `wb` (B,) if given) as a
        detached 0-dim tensor on the model's device (no host synchronisation here). It takes the step
        chosen for the fit (`choose_step`): override this to change what every batch does."""
        return self.step(xb, yb, wb)

    def autograd_step(self, xb: Inputs, yb: Tensor, wb: Tensor | None = None) -> Tensor:
        """The general step: forward, loss and backward through autograd, then the optimiser's step.

        The forward pass runs under the trainer's autocast; with "16-mixed" the loss is scaled before the
        backward pass and the gradients unscaled before clipping and the step (a step whose gradients
        overflowed is skipped and the scale lowered: torch.amp.GradScaler).
        """
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            output = self.forward_train(xb, yb)
            loss = self.loss(output, yb) if wb is None else weighted_loss(self._per_sample, output, yb, wb)
        scaled = loss if self._grad_scale == 1.0 else loss * self._grad_scale
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            scaled.backward()
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm, foreach=True)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach().float()

    def forward_train(self, xb: Inputs, yb: Tensor) -> Tensor:
        """The model's output on a training batch (with the targets, under teacher forcing)."""
        if self.teacher_forcing:
            if isinstance(xb, dict):
                return self.train_model(**xb, y=yb, generator=self.generator)
            return self.train_model(xb, yb, generator=self.generator)
        return forward(self.train_model, xb)

    @torch.no_grad()
    def eval_loss(self, X: Inputs, y: Tensor, batch_size: int = 4096, *,
                  sample_weight: Tensor | None = None) -> float:
        """Mean loss over (X, y) in eval mode (dropout off, batch norm uses running statistics);
        the weighted mean with `sample_weight` (n,).

        The sums stay on the device until the end (one host synchronisation). When several processes
        train, each evaluates its contiguous share of the rows and the sums are added over the ranks, so
        every rank returns the loss of the whole split (and early stopping decides the same everywhere):
        every rank must call it.
        """
        self.model.eval()
        sums = torch.zeros(2, dtype=torch.float32 if self.device.type == "mps" else torch.float64,
                           device=self.device)  # (loss sum, weight sum)
        n, rank, size = n_rows(X), self.world.rank, self.world.size
        start, stop = n * rank // size, n * (rank + 1) // size  # this rank's contiguous share of the rows
        for i in range(start, stop, batch_size):
            rows = slice(i, min(i + batch_size, stop))
            xb, target = move_batch(take(X, rows), self.device), move_tensor(y[rows], self.device)
            with autocast(self.device, self.precision):
                output = forward(self.model, xb)
                if sample_weight is None:
                    sums[0] += self.loss(output, target).to(sums.dtype) * target.shape[0]
                    sums[1] += target.shape[0]
                else:
                    w = move_tensor(sample_weight[rows], self.device)
                    sums[0] += (self._per_sample(output, target) * w).sum().to(sums.dtype)
                    sums[1] += w.sum().to(sums.dtype)
        self.model.train()
        total, norm = all_reduce_sum(sums).tolist()
        return total / norm if norm > 0 else 0.0

    def predict(self, X: Inputs, batch_size: int = 4096) -> Tensor:
        """The model's raw outputs for X in eval mode, in batches, on the CPU: (n, ...), or (K, n, ...) for
        a stacked ensemble (`deepsci.training.inference.predict_batches`)."""
        return predict_batches(self.model, X, batch_size=batch_size)

    def _step_schedule(self, logs: dict[str, Any]) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            metric = logs["valid_loss"] if logs["valid_loss"] is not None else logs["train_loss"]
            self.scheduler.step(metric)
        else:
            self.scheduler.step()


def _non_finite(epoch: int, total: float, losses: Tensor) -> TrainingError:
    """The error for an epoch whose loss sum is not finite, naming the first batch whose loss was not
    (`losses`: (batches,) the epoch's batch losses)."""
    per_batch = losses.float().cpu()
    bad = (~torch.isfinite(per_batch)).nonzero().flatten()
    # Under DDP another rank's shard may be the one that overflowed: then this rank names no batch.
    where = f"at epoch {epoch}, batch {int(bad[0]) + 1}" if len(bad) else f"at epoch {epoch}"
    value = float(per_batch[bad[0]]) if len(bad) else total
    return TrainingError(f"the training loss became {value} {where}. Lower train.lr (e.g. by 10x), set "
                         "train.clip_grad_norm (e.g. 1.0), or check the data for extreme values.")


def epoch_order(X: Inputs, generator: torch.Generator) -> Tensor:
    """The order in which an epoch visits the rows: a random permutation, or the input's own shuffled
    order where it has one (rows streamed from disk are drawn by shuffled blocks, `epoch_order`)."""
    own = None if isinstance(X, Tensor) else getattr(X, "epoch_order", None)
    if own is not None and isinstance(X, RowSource):
        return own(generator)  # type: ignore[no-any-return]
    return torch.randperm(n_rows(X), generator=generator)


def epoch_batches(X: Inputs, order: Tensor, batch_size: int) -> tuple[Tensor, ...]:
    """The epoch's batches: consecutive slices of `order` of `batch_size` rows (the last may be smaller), or
    of the sizes the input fixes itself (`batch_sizes()`: truncated BPTT's batches are one chunk of one
    group of sequences each, deepsci.training.tbptt)."""
    own = None if isinstance(X, Tensor) else getattr(X, "batch_sizes", None)
    if own is not None and isinstance(X, RowSource):
        return order.split(own())
    return order.split(batch_size)


def _check_split(X: Inputs, y: Tensor, name: str) -> None:
    """Row counts agree, the split is not empty, and every float value is finite."""
    try:
        rows = check_rows(X, f"{name} inputs")
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if rows != y.shape[0]:
        raise DataError(f"{name} inputs have {rows} rows but targets have {y.shape[0]}; they must match.")
    if rows == 0:
        raise DataError(f"the {name} split is empty; use more data or a smaller test/valid fraction.")
    if isinstance(X, RowSource):
        return  # it checks its own values as it is built
    parts = X.items() if isinstance(X, dict) else [("", X)]
    for key, tensor in parts:
        check_finite(tensor, f"{name} inputs" + (f" '{key}'" if key else ""))
    check_finite(y, f"{name} targets")


def check_finite(tensor: Tensor, what: str) -> None:
    """DataError naming `what` and the count of NaN / infinite values (float tensors only)."""
    if not tensor.is_floating_point():
        return
    bad = ~torch.isfinite(tensor)
    count = int(bad.sum())
    if count:
        rows = int(bad.reshape(bad.shape[0], -1).any(1).sum()) if bad.dim() else 1
        raise DataError(f"the {what} hold {count} non-finite values (NaN or infinite; values beyond about "
                        f"±3.4e38 overflow float32) in {rows} of {tensor.shape[0] if tensor.dim() else 1} rows. "
                        "Remove or impute those rows, or rescale the column, before training.")


def _check_weights(weight: Tensor | None, n: int, name: str) -> Tensor | None:
    """The (n,) float weights, or None when absent or all equal (the plain mean, bit for bit)."""
    if weight is None:
        return None
    weight = torch.as_tensor(weight, dtype=torch.float32).reshape(-1)
    if weight.shape[0] != n:
        raise DataError(f"{name} sample_weight has {weight.shape[0]} values for {n} rows; give one weight per row.")
    if not bool(torch.isfinite(weight).all()) or bool((weight < 0).any()):
        raise DataError(f"{name} sample_weight must be finite and non-negative; received min "
                        f"{float(weight.min())}, max {float(weight.max())}.")
    if float(weight.sum()) <= 0:
        raise DataError(f"{name} sample_weight sums to 0: at least one row needs a positive weight.")
    if bool((weight == weight[0]).all()):
        return None
    return weight
