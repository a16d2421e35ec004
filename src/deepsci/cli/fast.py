"""Fast mode: `DEEPSCI_FAST=1 deepsci fit ...` caps the work of a command, for tests of the docs.

The caps are applied by the command line as `--set` overrides before the config is validated, so the
library itself never reads the variable and a fast run's config.toml states what it really did.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Sequence

ENV = "DEEPSCI_FAST"
EPOCHS = 2  # training epochs of every fit, theory and rules command
MEMBERS = 2  # ensemble members (the smallest ensemble the config allows)
SAMPLES = 4  # MC-dropout passes


def enabled() -> bool:
    """True when DEEPSCI_FAST is set to anything but '', '0', 'false' or 'no'."""
    return os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no")


def cap_epochs(epochs: int) -> int:
    """`epochs`, or EPOCHS if smaller and fast mode is on (for the theory and rules commands)."""
    return min(epochs, EPOCHS) if enabled() else epochs


def fast_overrides(config: Path, overrides: Sequence[str]) -> list[str]:
    """The `--set` items that cap a fit's epochs, ensemble members and MC-dropout passes.

    Empty when fast mode is off. The config is read as raw TOML (the user's overrides applied) only
    to keep values already below the caps; a config that does not read is left to `load_config`,
    which reports it.
    """
    if not enabled():
        return []
    raw = _raw(config, overrides)
    if raw is None:
        return []
    wanted = [("train", "epochs", 100, EPOCHS)]
    uncertainty = raw.get("uncertainty")
    if isinstance(uncertainty, dict) and uncertainty.get("method") in ("ensemble", "mc-dropout"):
        wanted += [("uncertainty", "members", 8, MEMBERS), ("uncertainty", "samples", 50, SAMPLES)]
    caps = []
    for section, key, default, cap in wanted:
        value = _get(raw, section, key, default)
        if value is not None:  # a value of the wrong type is left for validation to report
            caps.append(f"{section}.{key}={min(value, cap)}")
    return caps


def _raw(config: Path, overrides: Sequence[str]) -> dict[str, Any] | None:
    from deepsci.config import apply_override
    from deepsci.errors import DeepSciError

    try:
        raw = tomllib.loads(Path(config).read_text())
        for item in overrides:
            apply_override(raw, item)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, DeepSciError, RecursionError):
        return None
    return raw


def _get(raw: dict[str, Any], section: str, key: str, default: int) -> int | None:
    """An integer setting, `default` where it is absent, None where it is not an integer."""
    node = raw.get(section, {})
    value = node.get(key, default) if isinstance(node, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
