"""The registry of model kinds: for each `[model] kind`, its spec type, the structures it takes, its builder
and the class that rebuilds it from a spec.

A kind's name is the `kind` of its spec type (deepsci.models.specs, where the config reads them too); a
builder registers against that type next to its code (deepsci.models.build), and the error messages and
`model_from_spec` read the names here:

    @register(RNNModel, accepts=("sequence", "signal", "window"), model=SequenceModel, per_step=True)
    def _rnn(spec, schema, n_outputs, *, task, seed, **context) -> nn.Module: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified, check_known
from deepsci.models.specs import ModelSpec

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelKind:
    """One model kind.

    Attributes:
        name: the `kind` in the TOML and in the spec ("mlp", "rnn", ...).
        spec: its validated `[model]` section type (deepsci.models.specs).
        accepts: input structures it takes (deepsci.data.schema.STRUCTURES); "*" for any (multi).
        build: builder(spec, schema_or_inputs, n_outputs, *, task, seed, **context) -> nn.Module.
        model: the class whose `from_spec(spec)` rebuilds a model of this kind (deepsci.models.arguments).
        tokens_only: of the sequences, it takes token sequences only (a language model).
        per_step: it can emit one output per input step (task "tagging").
    """

    name: str
    spec: type[ModelSpec]
    accepts: tuple[str, ...]
    build: Builder
    model: type[Specified]
    tokens_only: bool = False
    per_step: bool = False


MODELS: dict[str, ModelKind] = {}


def register(spec: type[ModelSpec], *, accepts: tuple[str, ...], model: type[Specified], tokens_only: bool = False,
             per_step: bool = False) -> Callable[[Builder], Builder]:
    """Register the decorated builder for the kind of spec type `spec`."""
    name = str(spec.model_fields["kind"].default)

    def decorate(build: Builder) -> Builder:
        if name in MODELS:
            raise RuntimeError(f"model kind '{name}' is registered twice")
        MODELS[name] = ModelKind(name, spec, tuple(accepts), build, model, tokens_only, per_step)
        return build

    return decorate


def model_kind(name: str) -> ModelKind:
    """The registered kind `name`, or ModelError listing the known kinds."""
    return MODELS[check_known("model kind", str(name), tuple(MODELS))]


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The untrained architecture of `spec` (weights come separately, from safetensors)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ModelError(f"a model spec is a dict with a 'kind' (one of {', '.join(MODELS)}); received {spec!r:.200}.")
    return model_kind(str(spec["kind"])).model.from_spec(spec)  # type: ignore[return-value]
