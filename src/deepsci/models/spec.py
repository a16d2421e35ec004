"""Rebuild any deepsci model from the JSON spec stored in a run folder's model.json.

`model.spec()` gives a JSON-able dict whose "kind" names a registered model kind
(deepsci.models.registry); `model_from_spec(spec)` rebuilds the untrained architecture (the weights
come separately, from safetensors). Specs written before a key existed still load: every new key has
a default.
"""

from __future__ import annotations

from typing import Any

from torch import nn

import deepsci.models.build  # noqa: F401  (registers every model kind)
from deepsci.errors import ModelError
from deepsci.models.registry import MODELS, model_kind

MODEL_KINDS: tuple[str, ...] = tuple(MODELS)


def spec_of(model: nn.Module) -> dict[str, Any]:
    """The model's JSON spec ({} for a module without one, e.g. a plain torch model)."""
    spec = getattr(model, "spec", None)
    return dict(spec()) if callable(spec) else {}


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The untrained architecture of `spec` (weights come separately, from safetensors)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ModelError(f"a model spec is a dict with a 'kind' (one of {', '.join(MODELS)}); received {spec!r:.200}.")
    return model_kind(str(spec["kind"])).spec_class.from_spec(spec)  # type: ignore[no-any-return]
