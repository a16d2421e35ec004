"""Model inputs as the data layer hands them over: one tensor, or several named tensors.

A model with one fixed-shape input (a table (n, d), a signal (n, C, L), an image (n, C, H, W)) gets a
plain tensor. A model with a masked input or with several inputs gets a dict of tensors whose keys are
the keyword arguments of its `forward`:

    {"x": (n, L, d) or (n, L) int64 tokens, "mask": (n, L) bool}      # one padded sequence or set
    {"image": (n, 1, 32, 32), "meta": (n, 4)}                        # two inputs at once

Every tensor in the dict has the same first (row) dimension, so batches are index slices of all of
them at once (`take`), with no per-sample DataLoader.
"""

from __future__ import annotations

from typing import Any, Union

import torch

Inputs = Union[torch.Tensor, dict[str, torch.Tensor]]


def n_rows(x: Inputs) -> int:
    """Number of rows (samples) of an input."""
    if isinstance(x, dict):
        return int(next(iter(x.values())).shape[0]) if x else 0
    return int(x.shape[0])


def take(x: Inputs, idx: torch.Tensor | slice) -> Inputs:
    """Rows `idx` of an input: the same rows of every named tensor."""
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


def concat(parts: list[Inputs]) -> Inputs:
    """Inputs stacked along rows (the inverse of splitting them into batches)."""
    if isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}  # type: ignore[index]
    return torch.cat(parts)  # type: ignore[arg-type]


def to_device(x: Inputs, device: torch.device | str) -> Inputs:
    """The input on `device` (non-blocking where the source is pinned memory)."""
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def forward(model: Any, x: Inputs) -> torch.Tensor:
    """`model(x)` for one tensor, `model(**x)` for named inputs (keys are forward's keyword arguments)."""
    return model(**x) if isinstance(x, dict) else model(x)


def check_rows(x: Inputs, name: str = "inputs") -> int:
    """The common row count of every tensor of `x`; raises ValueError if they differ."""
    if not isinstance(x, dict):
        return int(x.shape[0])
    counts = {k: int(v.shape[0]) for k, v in x.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{name}: named inputs have different row counts {counts}; every input needs one row "
                         "per sample.")
    return next(iter(counts.values()), 0)
