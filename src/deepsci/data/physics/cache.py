"""The on-disk cache of simulated datasets: numeric arrays in one .npz per (simulator, parameters, seed).

Where: ``$DEEPSCI_CACHE/simulations`` if DEEPSCI_CACHE is set, else ``~/.cache/deepsci/simulations``
(beside the molecular feature cache, `deepsci.data.molecules.default_cache_dir`). Files are read with
``allow_pickle=False`` and written to a temporary name then renamed, so a killed run never leaves half
a file and two processes writing the same key both leave a whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Bump when a simulator's physics changes: old files are then never read again.
CACHE_VERSION = 1


def simulation_cache_dir() -> Path:
    """``$DEEPSCI_CACHE/simulations`` or ``~/.cache/deepsci/simulations``."""
    root = os.environ.get("DEEPSCI_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "deepsci") / "simulations"


def cache_path(name: str, params: dict[str, Any]) -> Path:
    """The file of simulator `name` run with `params` (JSON-able; the seed included)."""
    text = json.dumps({"version": CACHE_VERSION, "name": name, **params}, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return simulation_cache_dir() / f"{name}-{key}.npz"


def cached_arrays(name: str, params: dict[str, Any], simulate: Callable[[], dict[str, np.ndarray]],
                  cache: bool = True) -> dict[str, np.ndarray]:
    """The arrays of `simulate()` for these parameters: read from the cache, or simulated and written."""
    path = cache_path(name, params)
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError):
            pass  # a damaged file is simulated again and replaced
    arrays = simulate()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        with open(tmp, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    return arrays
