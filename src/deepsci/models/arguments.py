"""A model's spec is its constructor's arguments: recorded once, when the model is built.

    class MLP(Specified, nn.Module):
        KIND = "mlp"
        def __init__(self, n_inputs: int, n_outputs: int, hidden: Sequence[int] = (64, 64), ...): ...

    MLP(3, 1).spec()            # {"kind": "mlp", "n_inputs": 3, "n_outputs": 1, "hidden": [64, 64], ...}
    MLP.from_spec(spec)         # MLP(**arguments): the same untrained architecture

`Specified` wraps the subclass's `__init__`: before the body runs it binds the call to the signature,
fills in every default and keeps the result as JSON-able values (tuples become lists, NumPy scalars
Python numbers) in `self.hparams`, which the body and `forward` may read. `spec()` is
`{"kind": KIND, **hparams}` and `from_spec(spec)` calls the constructor with the spec's other keys, so a
model.json written before an argument existed still loads (the argument takes its default). A class
whose constructor takes `kind` itself (deepsci.models.graph.GraphNet serves three kinds) gets it from
the spec instead of from `KIND`. Lightning's `save_hyperparameters` (chemprop v2), nanoGPT's one config.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar, Sequence, TypeVar

from deepsci.errors import ModelError, unknown_name

M = TypeVar("M", bound="Specified")


def check_known(kind: str, value: str, known: Sequence[str]) -> str:
    """`value` if it is one of `known`, else ModelError naming the nearest known name and all of them."""
    if value not in known:
        raise ModelError(unknown_name(kind, value, tuple(known)))
    return value


def plain(value: Any, name: str) -> Any:
    """`value` as JSON data (lists, dicts with str keys, str, numbers, bool, None); ModelError otherwise."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, name) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # a NumPy or torch scalar
        return value.item()
    raise ModelError(f"argument '{name}' = {value!r:.80} cannot be stored in a model's spec (model.json); give "
                     "numbers, strings, lists or dicts of them.")


def spec_of(model: Any) -> dict[str, Any]:
    """The model's JSON spec ({} for a module without one, e.g. a plain torch model)."""
    spec = getattr(model, "spec", None)
    return dict(spec()) if callable(spec) else {}


class Specified:
    """Mixin: the constructor's arguments are the model's spec (`spec()`, `from_spec`, `hparams`).

    Attributes:
        KIND: the registered model kind written as the spec's "kind" (None when `kind` is an argument).
        hparams: {argument: value} of the call that built this model, defaults filled in, JSON-able.
    """

    KIND: ClassVar[str | None] = None
    hparams: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", _recording(init))

    def spec(self) -> dict[str, Any]:
        """A JSON-able description that rebuilds this architecture with `from_spec` (weights not included)."""
        return {"kind": self.KIND, **plain(self.hparams, "hparams")}

    @classmethod
    def from_spec(cls: type[M], spec: dict[str, Any]) -> M:
        """The untrained model of `spec` (a dict from `spec()` or a run folder's model.json)."""
        arguments = dict(spec)
        parameters = inspect.signature(cls.__init__).parameters
        kind = arguments.get("kind", cls.KIND) if "kind" in parameters else arguments.pop("kind", cls.KIND)
        if cls.KIND is not None and kind != cls.KIND:
            raise ModelError(f"not a {cls.__name__} spec: kind={kind!r}; expected '{cls.KIND}'.")
        known = [p for p in parameters if p != "self"]
        unknown = [k for k in arguments if k not in parameters]
        missing = [p for p in known if parameters[p].default is inspect.Parameter.empty and p not in arguments]
        if unknown or missing:
            problem = f"unknown key(s) {', '.join(unknown)}" if unknown else f"missing key(s) {', '.join(missing)}"
            raise ModelError(f"bad {cls.__name__} spec: {problem}; its keys are {', '.join(known)}.")
        return cls(**arguments)


def _recording(init: Any) -> Any:
    """`init` that first stores its bound arguments (defaults applied) as `self.hparams`.

    A subclass's constructor that calls its parent's records first and is then overwritten by the parent's
    call: the parent's body reads its own arguments, and the spec rebuilds the registered class (a subclass
    is a convenience constructor of the same architecture).
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        hparams = {name: plain(value, name) for name, value in list(bound.arguments.items())[1:]}
        object.__setattr__(self, "hparams", hparams)  # before nn.Module.__init__: a plain attribute
        init(self, *args, **kwargs)

    return recording_init
