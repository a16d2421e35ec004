"""Truncated backpropagation through time (TBPTT) as a way of feeding the one Trainer.

A sequence of length T is cut into C = T / k chunks of k steps. The hidden state is carried from one
chunk to the next (so the model sees the whole history in its forward pass), but the graph is cut at
each chunk boundary, so gradients flow back at most k steps and the memory of a training step is O(k),
not O(T). This is TBPTT(k, k) of Williams & Peng (1990); Sutskever (2013), ch. 2.

There is no loop here: the Trainer trains, with its clipping, early stopping, checkpoints and resume.
Three small pieces make its mini-batches TBPTT's:

- `ChunkedSequences`, a RowSource whose rows are (sequence, chunk) pairs. Each epoch it shuffles the
  sequences into groups of `batch_size` and walks each group's chunks in time order, one Trainer batch
  per chunk (`epoch_order`, `batch_sizes`); the targets are cut the same way (`chunk_rows`).
- `TruncatedBPTT`, a module around a model with `step(x, state) -> (outputs, state)` (`SequenceModel`
  in many-to-many mode, `CharLM`): in training each call continues from the carried state, detached
  (the cut); in evaluation it is the model's own forward over whole sequences from a zero state.
- `ResetState`, a callback that zeroes the carried state at the start of every epoch and whenever a
  new group of sequences begins (every C batches).

`tbptt_training` assembles them; `fit_tbptt` is the one-call convenience over the Trainer.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from deepsci.errors import ConfigError, DataError, TrainingError
from deepsci.models.rnn import State, detach_state
from deepsci.training.callbacks import Callback, TrainingState
from deepsci.training.trainer import Trainer, check_finite

LossFn = Callable[[Tensor, Tensor], Tensor]

__all__ = ["ChunkedSequences", "ResetState", "TruncatedBPTT", "chunk_rows", "fit_tbptt", "tbptt_training",
           "unwrap"]


def check_chunk(length: int, chunk: int) -> int:
    """The number of chunks C = length / chunk; ConfigError unless `chunk` tiles the sequences exactly."""
    if chunk < 1:
        raise ConfigError(f"the TBPTT chunk length must be >= 1; received {chunk}. Set train.tbptt to a positive "
                          "divisor of the sequence length.")
    if length % chunk:
        divisors = [d for d in range(1, length + 1) if length % d == 0]
        near = sorted({max(d for d in divisors if d < chunk), min(d for d in divisors if d > chunk)} if chunk < length
                      else {divisors[-1]})
        raise ConfigError(f"train.tbptt = {chunk} does not divide the sequence length {length}: chunks must tile "
                          f"each sequence. Use a divisor of {length}, e.g. {' or '.join(map(str, near))}.")
    return length // chunk


def chunk_rows(values: Tensor, chunk: int) -> Tensor:
    """Sequences (n, T, ...) as chunk rows (n * C, k, ...): row i * C + j is values[i, j*k:(j+1)*k]."""
    n, length = int(values.shape[0]), int(values.shape[1])
    chunks = check_chunk(length, chunk)
    return values.reshape(n * chunks, chunk, *values.shape[2:])


class ChunkedSequences:
    """n sequences (n, T, ...) as n * C chunk rows of k steps, batched for truncated BPTT (a RowSource).

    An epoch draws a permutation of the sequences, cuts it into groups of `batch_size` (the last group may
    be smaller), and visits the groups one after another, each group's C chunks in time order; every batch
    is one chunk of one group (`batch_sizes`), so the Trainer's batch b holds chunk b mod C.

    Args:
        inputs: (n, T, ...) sequences: int64 symbols (n, T) or float features (n, T, d); not padded.
        chunk: k, steps per chunk (the gradient horizon); must divide T.
        batch_size: sequences trained side by side (one group).
    """

    def __init__(self, inputs: Tensor, chunk: int, batch_size: int) -> None:
        if inputs.dim() < 2:
            raise DataError(f"truncated BPTT needs sequences (n, T, ...); received shape {tuple(inputs.shape)}.")
        if batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1 for truncated BPTT; received {batch_size}.")
        check_finite(inputs, "training inputs")
        self.n, self.length = int(inputs.shape[0]), int(inputs.shape[1])
        self.chunk, self.batch_size = chunk, batch_size
        self.chunks = check_chunk(self.length, chunk)
        self.rows = chunk_rows(inputs, chunk)  # (n * C, k, ...): a view, no copy

    def __len__(self) -> int:
        return self.n * self.chunks

    def take_rows(self, idx: Tensor | slice) -> Tensor:
        """Chunk rows idx: (len(idx), k, ...)."""
        return self.rows.index_select(0, idx) if isinstance(idx, Tensor) else self.rows[idx]

    def epoch_order(self, generator: torch.Generator) -> Tensor:
        """(n * C,) row ids: shuffled groups of sequences, each group's chunks in time order."""
        groups = torch.randperm(self.n, generator=generator).split(self.batch_size)
        steps = torch.arange(self.chunks)
        # group g (m sequences) -> rows [s * C + 0 for s in g], [s * C + 1 for s in g], ...: (C, m) flattened
        return torch.cat([(g[None, :] * self.chunks + steps[:, None]).reshape(-1) for g in groups])

    def batch_sizes(self) -> list[int]:
        """Rows per Trainer batch: each group's size, C times (the smaller last group comes last)."""
        full, rest = divmod(self.n, self.batch_size)
        return [self.batch_size] * (full * self.chunks) + [rest] * (self.chunks if rest else 0)


class TruncatedBPTT(nn.Module):
    """A recurrent model that, in training, continues each call from the state the previous call left.

    Training mode: `forward(x)` with x one chunk (B, k, ...) returns `model.step(x, state)`'s outputs and
    keeps the new state detached from the graph, so the next chunk's backward pass stops at this boundary
    (gradient horizon k, activations O(k)). Evaluation mode: `model(x)` over whole sequences from a zero
    state, exactly as without TBPTT. The carried state is not a parameter or buffer: checkpoints and
    early stopping see the model's weights only.

    Args:
        model: has `step(x, state) -> (outputs, state)` and `forward(x)`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not callable(getattr(model, "step", None)):
            raise ConfigError(f"truncated BPTT needs a recurrent model with step(x, state) (model.kind = 'charlm'); "
                              f"received {type(model).__name__}. Remove train.tbptt.")
        self.model = model
        self.state: State = None

    def reset(self) -> None:
        """Forget the carried state: the next chunk starts from zeros (a new group of sequences)."""
        self.state = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return self.model(x)  # type: ignore[no-any-return]
        if self.state is not None and _rows(self.state) != x.shape[0]:
            raise TrainingError(f"the carried TBPTT state holds {_rows(self.state)} sequences but the chunk has "
                                f"{x.shape[0]}; reset it at each new group of sequences (ResetState callback).")
        out, state = self.model.step(x, self.state)  # type: ignore[operator]
        self.state = detach_state(state)  # the cut: the next chunk's graph starts here
        return out  # type: ignore[no-any-return]


def _rows(state: State) -> int:
    """Sequences in a hidden state (layers, batch, hidden), or an LSTM's (h, c) pair of them."""
    h = state[0] if isinstance(state, tuple) else state
    assert h is not None
    return int(h.shape[1])


class ResetState(Callback):
    """Zeroes a `TruncatedBPTT`'s carried state at each epoch's start and after each group's last chunk.

    Args:
        model: the wrapper whose state is reset.
        chunks: C, batches per group (the source's chunks per sequence).
    """

    def __init__(self, model: TruncatedBPTT, chunks: int) -> None:
        self.model, self.chunks = model, chunks

    def on_epoch_start(self, trainer: TrainingState, epoch: int) -> None:
        self.model.reset()

    def on_batch_end(self, trainer: TrainingState, batch: int, logs: dict[str, Any]) -> None:
        if (batch + 1) % self.chunks == 0:
            self.model.reset()

    def on_exception(self, trainer: TrainingState, exc: BaseException) -> None:
        self.model.reset()


def tbptt_training(model: nn.Module, inputs: Tensor, targets: Tensor, *, chunk: int, batch_size: int
                   ) -> tuple[TruncatedBPTT, ChunkedSequences, Tensor, ResetState]:
    """What the Trainer needs to train `model` by TBPTT(k, k): (model, X, y, callback).

    Pass the model, X and y to the Trainer (with its batch_size; the source's groups decide the batches)
    and the callback among its callbacks; validation data stay whole sequences (evaluated from a zero
    state). `unwrap(trainer.model)` is the trained network.

    Args:
        model: has `step(x, state) -> (outputs, state)`; its outputs per step align with `targets`.
        inputs: (n, T, ...) sequences; targets: (n, T, ...) per-step targets.
        chunk: k, steps per chunk; must divide T.
        batch_size: sequences per group.
    """
    if targets.shape[:2] != inputs.shape[:2]:
        raise DataError(f"truncated BPTT needs one target per step: inputs {tuple(inputs.shape[:2])} and targets "
                        f"{tuple(targets.shape[:2])} must agree in (sequences, steps).")
    check_finite(targets, "training targets")
    wrapped = TruncatedBPTT(model)
    source = ChunkedSequences(inputs, chunk, batch_size)
    return wrapped, source, chunk_rows(targets, chunk), ResetState(wrapped, source.chunks)


def unwrap(model: nn.Module) -> nn.Module:
    """The trained network: the model a `TruncatedBPTT` carries, else `model` itself."""
    return model.model if isinstance(model, TruncatedBPTT) else model


def fit_tbptt(model: nn.Module, inputs: Tensor, targets: Tensor, *, loss: LossFn, chunk: int = 50,
              batch_size: int | None = None, epochs: int = 10, lr: float = 1e-3,
              clip_grad_norm: float | None = 1.0, **trainer_kwargs: Any) -> Trainer:
    """Train `model` on long sequences by truncated BPTT through the Trainer; returns the fitted Trainer.

    Defaults: Adam(lr), chunks of 50 steps, every sequence in one group (batch_size = n), gradient-norm
    clipping at 1.0 (Pascanu et al. 2013). `trainer.history_` has each epoch's mean loss per chunk row;
    other keywords (seed, patience, callbacks, schedule, device, ...) go to the Trainer.

    Args:
        model: has `step(x, state) -> (outputs, state)`.
        inputs: (n, T, ...) sequences (int64 symbols or float features); targets: (n, T, ...) per step.
        loss: loss(outputs_chunk, targets_chunk) -> scalar mean.
    """
    wrapped, source, rows, reset = tbptt_training(model, inputs, targets, chunk=chunk,
                                                  batch_size=batch_size or int(inputs.shape[0]))
    callbacks = [reset, *trainer_kwargs.pop("callbacks", ())]
    trainer = Trainer(wrapped, loss=loss, epochs=epochs, lr=lr, clip_grad_norm=clip_grad_norm,
                      batch_size=source.batch_size, callbacks=callbacks, **trainer_kwargs)
    return trainer.fit(source, rows)
