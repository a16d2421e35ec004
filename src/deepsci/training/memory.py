"""An allocation failure as one line: what ran out, while doing what, and the setting that lowers it.

torch reports a failed allocation as a RuntimeError ("DefaultCPUAllocator: can't allocate memory: you tried
to allocate N bytes", or torch.OutOfMemoryError on a GPU) and numpy as a MemoryError, each with a traceback
from deep inside the library. `memory_guard` turns either into an `OutOfMemoryError` (a DeepSciError: the
CLI prints one line and exits 2); the run folder is staged, so the earlier run of that name stays whole.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import torch

from deepsci.errors import DeepSciError

__all__ = ["OutOfMemoryError", "allocation_failure", "memory_guard"]

_ALLOCATION = re.compile(r"can't allocate memory|DefaultCPUAllocator|out of memory|not enough memory", re.I)


class OutOfMemoryError(DeepSciError):
    """Memory ran out; the message names the phase and the setting that lowers it."""


def allocation_failure(exc: BaseException) -> bool:
    """Whether `exc` is a failed allocation (numpy's MemoryError, torch's allocator errors)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and bool(_ALLOCATION.search(str(exc)))


@contextlib.contextmanager
def memory_guard(what: str, lower: str, device: str = "host") -> Iterator[None]:
    """Run the block; a failed allocation inside becomes one line: `what` ran out of `device` memory, `lower`.

    Args:
        what: the phase, as a verb phrase ("training", "evaluating the splits").
        lower: the settings that lower its memory, as an instruction ("lower train.batch_size").
        device: whose memory ("host", "cuda:0").
    """
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not allocation_failure(exc):
            raise
        asked = re.search(r"allocate (\d+) bytes", str(exc))
        size = f" (an allocation of {int(asked.group(1)) / 2 ** 20:,.0f} MiB failed)" if asked else ""
        raise OutOfMemoryError(f"out of {device} memory while {what}{size}; {lower}.") from None
