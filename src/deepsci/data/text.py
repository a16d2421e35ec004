"""Text as next-symbol windows (kept for callers); built by `build_dataset` with `kind = "text"`."""

from __future__ import annotations

from pathlib import Path

from deepsci.data.dataset import Dataset


def text_dataset(path: str | Path, *, seq_length: int = 100, test_fraction: float = 0.1,
                 valid_fraction: float = 0.1) -> Dataset:
    """Windows of `seq_length` symbols of a text file with next-symbol targets, cut in order."""
    from deepsci.data.ordered import build_text

    return build_text({"kind": "text", "source": str(path), "seq_length": seq_length,
                       "test_fraction": test_fraction, "valid_fraction": valid_fraction})
