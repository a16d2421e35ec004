"""Model inputs as the data layer hands them over: one tensor, or several named tensors.

A model with one fixed-shape input (a table (n, d), a signal (n, C, L), an image (n, C, H, W)) gets a
plain tensor. A model with a masked input or with several inputs gets a dict of tensors whose keys are
the keyword arguments of its `forward`:

    {"x": (n, L, d) or (n, L) int64 tokens, "mask": (n, L) bool}      # one padded sequence or set
    {"image": (n, 1, 32, 32), "meta": (n, 4)}                        # two inputs at once

Every tensor in the dict has the same first (row) dimension, so batches are index slices of all of
them at once (`take`), with no per-sample DataLoader.

Inputs whose batch is not an index slice of fixed-shape tensors are a `RowSource`: a batch of
molecular graphs (the chosen molecules' atoms and bonds, re-indexed into one disjoint graph) or rows
read from disk. It assembles its own batches with `take_rows` and gives the model a tensor or a dict.
"""

from __future__ import annotations

from typing import Any, Protocol, Union, runtime_checkable

import torch


@runtime_checkable
class RowSource(Protocol):
    """Rows that assemble their own batches: `len` rows; `take_rows(idx)` gives the model's input for
    rows `idx` (an index tensor or a slice) as a tensor or a dict of tensors."""

    def __len__(self) -> int: ...

    def take_rows(self, idx: torch.Tensor | slice) -> "torch.Tensor | dict[str, torch.Tensor]": ...


Inputs = Union[torch.Tensor, dict[str, torch.Tensor], RowSource]


def n_rows(x: Inputs) -> int:
    """Number of rows (samples) of an input."""
    if isinstance(x, torch.Tensor):  # first: a protocol's isinstance costs tens of microseconds
        return int(x.shape[0])
    if isinstance(x, RowSource):
        return len(x)
    if isinstance(x, dict):
        return int(next(iter(x.values())).shape[0]) if x else 0
    return int(x.shape[0])


def take(x: Inputs, idx: torch.Tensor | slice) -> Inputs:
    """Rows `idx` of an input: the same rows of every named tensor (a RowSource assembles them)."""
    if isinstance(x, torch.Tensor):  # first: the common case, and a cheaper check than the protocol's
        # index_select gathers rows at about half the cost of x[idx] (3.7 against 8.6 µs a batch)
        return x.index_select(0, idx) if isinstance(idx, torch.Tensor) else x[idx]
    if isinstance(x, RowSource):
        return x.take_rows(idx)
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


def to_device(x: Inputs, device: torch.device | str) -> Inputs:
    """The input on `device` (non-blocking where the source is pinned memory). A RowSource stays
    where it is: its batches are moved one at a time."""
    if isinstance(x, RowSource):
        return x
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def forward(model: Any, x: Inputs) -> torch.Tensor:
    """`model(x)` for one tensor, `model(**x)` for named inputs (keys are forward's keyword arguments)."""
    return model(**x) if isinstance(x, dict) else model(x)


def check_rows(x: Inputs, name: str = "inputs") -> int:
    """The common row count of every tensor of `x`; raises ValueError if they differ."""
    if isinstance(x, RowSource):
        return len(x)
    if not isinstance(x, dict):
        return int(x.shape[0])
    counts = {k: int(v.shape[0]) for k, v in x.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{name}: named inputs have different row counts {counts}; every input needs one row "
                         "per sample.")
    return next(iter(counts.values()), 0)
