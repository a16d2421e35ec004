"""The names the config may use for activations and initialisations, without importing torch.

`deepsci.config` validates `[model]` against these tuples at the edge; the modules that implement
them (`activations.py`, `init.py`) check at import that they implement exactly these names, so the
TOML, the CLI, the API and the theory share one vocabulary.
"""

from __future__ import annotations

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky-relu", "elu", "gelu", "silu", "softplus",
                                "linear", "maxout")
INITS: tuple[str, ...] = ("default", "xavier", "he", "lecun", "orthogonal", "gaussian")
# what [model] init may say: "critical" is resolved to "gaussian" at the activation's critical point
INIT_CHOICES: tuple[str, ...] = (*INITS, "critical")
