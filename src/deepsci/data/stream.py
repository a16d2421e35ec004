"""Tables larger than memory, streamed from Parquet or .npy files in blocks."""

from __future__ import annotations

from typing import Any

from deepsci.data.dataset import Dataset
from deepsci.errors import ConfigError


def build_streamed(spec: dict[str, Any], seed: int = 0) -> Dataset:
    """The Dataset of a `[data]` table with `stream = true`, its rows left on disk."""
    del spec, seed
    raise ConfigError("data.stream is not available yet; set data.stream = false.")
