"""The search space of a sweep: the keys a config marks as ranges, checked, sampled and put back.

A range is written in place of a value (deepsci.config.is_range recognises it):

    lr = {low = 1e-4, high = 1e-2, log = true}       # a float, log-uniform
    batch_size = {low = 16, high = 128, step = 16}   # an int on a grid (ints: both bounds ints)
    hidden = {choices = [[64], [128, 128]]}          # one of these values, any TOML value

Each range becomes one Optuna distribution named by its dotted key ("train.lr", "model.hidden").
Optuna's categorical values are plain scalars only, so choices that are lists or tables are offered
to Optuna by their JSON text ("[128, 128]") and mapped back to the value.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deepsci.config import config_from_dict, range_paths
from deepsci.errors import ConfigError

if TYPE_CHECKING:
    import optuna

Key = tuple[str | int, ...]
_SCALARS = (str, int, float, bool, type(None))
EXAMPLE = "write e.g. {low = 1e-4, high = 1e-2, log = true}, {low = 16, high = 128, step = 16} or {choices = [...]}"


@dataclass(frozen=True)
class Range:
    """One searched key: numeric bounds (`low`..`high`, both included) or a list of `choices`.

    Attributes:
        key: the key path in the raw config, e.g. ("train", "lr").
        low, high: the bounds (ints for an int range), None for choices.
        log: sample log-uniformly (bounds > 0).
        step: grid spacing from `low` (None: continuous floats, 1 for ints).
        choices: the values to choose from, None for a numeric range.
    """

    key: Key
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def name(self) -> str:
        """The parameter's name in the study and the summary: the dotted key path."""
        return ".".join(str(part) for part in self.key)

    @property
    def is_int(self) -> bool:
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    def edges(self) -> list[Any]:
        """The values that bound what can be sampled: low and high, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def labels(self) -> list[Any] | None:
        """Optuna's categorical values for the choices: the choices themselves where all are scalars,
        else their JSON text; None for a numeric range."""
        if self.choices is None:
            return None
        if all(isinstance(c, _SCALARS) for c in self.choices):
            return list(self.choices)
        return [json.dumps(c, default=str) for c in self.choices]

    def value_of(self, suggested: Any) -> Any:
        """The config value of a value Optuna suggested (a label maps back to its choice)."""
        labels = self.labels()
        if labels is None or labels == list(self.choices or ()):
            return suggested
        return copy.deepcopy(self.choices[labels.index(suggested)])  # type: ignore[index]

    def suggest(self, trial: "optuna.trial.BaseTrial") -> Any:
        """Draw this key's value for `trial`."""
        labels = self.labels()
        if labels is not None:
            return self.value_of(trial.suggest_categorical(self.name, labels))
        if self.is_int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),  # type: ignore[arg-type]
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),  # type: ignore[arg-type]
                                   step=None if self.step is None else float(self.step), log=self.log)


def parse_space(raw: dict[str, Any], source: str = "config") -> list[Range]:
    """The ranges of a raw config, each checked for its own form (bounds, log, step, choices).

    Raises:
        ConfigError: a malformed range (one line naming the key and the fix), or no range at all.
    """
    ranges = [_parse_range(key, _get(raw, key), source) for key in range_paths(raw)]
    if not ranges:
        raise ConfigError(f"{source} marks no key as a range, so there is nothing to search. Write a range in "
                          f"place of a value, e.g. lr = {{low = 1e-4, high = 1e-2, log = true}} under [train], "
                          "or train it once with `deepsci fit`.")
    return ranges


def check_space(raw: dict[str, Any], ranges: list[Range], source: str = "config") -> None:
    """Validate the config at every edge of every range before any trial runs.

    The config is validated with every range at its low bound (or first choice), then with each other
    bound or choice of each range in turn: a key that does not exist, or a value the key does not take
    (a learning rate of 0, an unknown activation), fails here, not in trial 7.

    Raises:
        ConfigError: naming the range, the value and what validation said.
    """
    anchors = {r.key: r.edges()[0] for r in ranges}
    # the anchors failing is not one value's fault: a key that does not exist, a section that is wrong
    _validate(raw, anchors, source, "with each range at its low bound or first choice,")
    for r in ranges:
        for value in r.edges()[1:]:
            _validate(raw, {**anchors, r.key: value}, source, f"range {r.name} cannot take {value!r}:")


def _validate(raw: dict[str, Any], values: dict[Key, Any], source: str, context: str) -> None:
    """Validate `raw` with `values` in place of its ranges; a ConfigError says `context` before its reason."""
    try:
        config_from_dict(substitute(raw, values), source=source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {context} {str(exc).removeprefix(f'{source}: ')}") from None


def sample(trial: "optuna.trial.BaseTrial", ranges: list[Range]) -> dict[Key, Any]:
    """One value per range, drawn for `trial` (key path -> config value)."""
    return {r.key: r.suggest(trial) for r in ranges}


def substitute(raw: dict[str, Any], values: dict[Key, Any]) -> dict[str, Any]:
    """A deep copy of `raw` with each key path set to its value (the ranges replaced by plain values)."""
    out = copy.deepcopy(raw)
    for key, value in values.items():
        node: Any = out
        for part in key[:-1]:
            node = node[part]
        node[key[-1]] = copy.deepcopy(value)
    return out


def values_from_params(ranges: list[Range], params: dict[str, Any]) -> dict[Key, Any]:
    """The config values of a finished trial's Optuna params (choices labels mapped back)."""
    return {r.key: r.value_of(params[r.name]) for r in ranges if r.name in params}


# -- one range ------------------------------------------------------------------------------------------
def _get(raw: Any, key: Key) -> Any:
    for part in key:
        raw = raw[part]
    return raw


def _parse_range(key: Key, spec: dict[str, Any], source: str) -> Range:
    name = ".".join(str(p) for p in key)

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{source}: range {name} = {spec!r}: {problem}; {EXAMPLE}.")

    if key == ("name",):
        raise bad("the run name is not a hyperparameter (trial k is named <study>-tk); give one name")
    if "choices" in spec:
        return _parse_choices(key, spec, bad)
    if "low" not in spec or "high" not in spec:
        raise bad("a numeric range needs both low and high")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if not all(_is_number(v) for v in (low, high)):
        raise bad("low and high must be numbers")
    if not isinstance(log, bool):
        raise bad("log must be true or false")
    if not low < high:
        raise bad("low must be below high (for one value, write the value itself)")
    if log and low <= 0:
        raise bad("a log range needs low > 0")
    if step is not None:
        if not _is_number(step) or step <= 0:
            raise bad("step must be a positive number")
        if log:
            raise bad("log and step cannot be combined (Optuna samples a grid linearly)")
    if isinstance(low, int) and isinstance(high, int):
        if step is not None and not isinstance(step, int):
            raise bad("an int range (int low and high) needs an int step")
        if step is not None and (high - low) % step:
            raise bad(f"high - low = {high - low} is not a multiple of step {step}")
        return Range(key, low=low, high=high, log=log, step=step or 1)
    return Range(key, low=float(low), high=float(high), log=log, step=None if step is None else float(step))


def _parse_choices(key: Key, spec: dict[str, Any], bad: Any) -> Range:
    choices = spec["choices"]
    if set(spec) != {"choices"}:
        raise bad("choices cannot be combined with low, high, log or step")
    if not isinstance(choices, list) or not choices:
        raise bad("choices must be a non-empty list")
    texts = [json.dumps(c, sort_keys=True, default=str) for c in choices]
    if len(set(texts)) < len(texts):
        raise bad("choices must differ from one another")
    return Range(key, choices=tuple(choices))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
