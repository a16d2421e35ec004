"""The names the config may use for losses, optimisers, schedules and learning rules, without torch.

`deepsci.config` validates `[train]` against these tuples at the edge; the modules that implement
them (`losses.py`, `optimisers.py`, `deepsci.rules`) check at import that they implement exactly
these names, so the TOML, the CLI and the API share one vocabulary.
"""

from __future__ import annotations

LOSSES: tuple[str, ...] = ("mse", "mae", "huber", "binary-cross-entropy", "cross-entropy")
OPTIMISERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "plateau")
RULES: tuple[str, ...] = ("backprop", "feedback-alignment", "direct-feedback-alignment", "sign-symmetry",
                          "adaptive-feedback-alignment")
