"""Rebuild any deepsci model from the JSON spec stored in a run folder's model.json."""

from __future__ import annotations

from typing import Any

from torch import nn

from deepsci.errors import ModelError, unknown_name
from deepsci.models.cnn import CNN
from deepsci.models.mlp import MLP
from deepsci.models.rnn import recurrent_from_spec

MODEL_KINDS: tuple[str, ...] = ("mlp", "cnn", "rnn", "seq2seq", "charlm")


def spec_of(model: nn.Module) -> dict[str, Any]:
    """The model's JSON spec ({} for a module without one, e.g. a plain torch model)."""
    spec = getattr(model, "spec", None)
    return dict(spec()) if callable(spec) else {}


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The untrained architecture of `spec` (weights come separately, from safetensors)."""
    kind = spec.get("kind")
    if kind == "mlp":
        return MLP.from_spec(spec)
    if kind == "cnn":
        return CNN.from_spec(spec)
    if kind in ("rnn", "seq2seq", "charlm"):
        return recurrent_from_spec(spec)
    raise ModelError(unknown_name("model kind", str(kind), MODEL_KINDS))
