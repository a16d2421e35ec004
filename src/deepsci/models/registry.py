"""The registry of model kinds: for each `[model] kind`, the structures it takes, its builder and the
class that rebuilds it from a spec.

A kind is registered once, with the decorator `register`, next to its builder (deepsci.models.build);
the TOML, the builder, the error messages and `model_from_spec` read their names here (the config's
discriminated union in deepsci.config.model has one class per registered kind; a test holds the two
to the same names):

    @register("rnn", accepts=("sequence", "signal", "window"), spec_class=SequenceModel)
    def _rnn(config, schema, n_outputs, *, task, seed, **context) -> nn.Module: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from deepsci.errors import ModelError, unknown_name

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelKind:
    """One model kind.

    Attributes:
        name: the `kind` in the TOML and in the spec ("mlp", "rnn", ...).
        accepts: input structures it takes (deepsci.data.schema.STRUCTURES); "*" for any (multi).
        build: builder(config, schema_or_inputs, n_outputs, *, task, seed, **context) -> nn.Module.
        spec_class: the class whose `from_spec(spec)` rebuilds a model of this kind.
        description: one line for error messages and docs.
    """

    name: str
    accepts: tuple[str, ...]
    build: Builder
    spec_class: Any
    description: str = ""


MODELS: dict[str, ModelKind] = {}


def register(name: str, *, accepts: tuple[str, ...], spec_class: Any,
             description: str = "") -> Callable[[Builder], Builder]:
    """Register the decorated builder as the model kind `name`."""

    def decorate(build: Builder) -> Builder:
        if name in MODELS:
            raise RuntimeError(f"model kind '{name}' is registered twice")
        MODELS[name] = ModelKind(name, tuple(accepts), build, spec_class, description)
        return build

    return decorate


def model_kind(name: str) -> ModelKind:
    """The registered kind `name`, or ModelError listing the known kinds."""
    if name not in MODELS:
        raise ModelError(unknown_name("model kind", str(name), tuple(MODELS)))
    return MODELS[name]


def kinds_for(structure: str, *, tokens: bool = False) -> list[str]:
    """The kinds that take one input of this structure."""
    out = [k.name for k in MODELS.values() if structure in k.accepts]
    if not tokens:
        out = [k for k in out if k != "charlm"]
    return out
