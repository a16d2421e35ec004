"""The experiment's configuration: one pydantic model per TOML section, validated once, at the edge.

Unknown keys are rejected with the nearest valid key suggested; `load_config` reads a TOML file and
applies `--set key.path=value` overrides. Each section lives in its own module.

A config may mark keys as ranges to search (`lr = {low = 1e-4, high = 1e-2, log = true}`,
`hidden = {choices = [[64], [128, 128]]}`): `load_raw` reads such a file for `deepsci sweep`
(deepsci.sweep), while `load_config`, which builds the one config a fit trains, refuses it and names
the ranged keys.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Sequence

import tomli_w
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator

from deepsci.config.report import ReportConfig
from deepsci.config.physics import PhysicsConfig, is_physics, physics_config_from_dict
from deepsci.config.train import DEFAULT_SCHEDULES, AugmentConfig, TrainConfig
from deepsci.config.uncertainty import RunFacts, UncertaintyConfig, auto_section
from deepsci.data.spec import DATA_MODELS, DataConfig
from deepsci.data.spec import locate as locate_data
from deepsci.errors import ConfigError
from deepsci.models.specs import DEFAULT_MODELS, MLPModel, ModelConfig
from deepsci.models.specs import locate as locate_model
from deepsci.section import Section, check_name
from deepsci.tasks import TASKS

__all__ = ["AugmentConfig", "Config", "DataConfig", "ModelConfig", "PhysicsConfig", "RANGE_KEYS", "ReportConfig",
           "Section", "TrainConfig", "UncertaintyConfig", "apply_override", "check_name", "config_from_dict",
           "is_range", "load_config", "load_fit_config", "load_raw", "range_paths"]


class Config(Section):
    """A whole experiment: `name` names the run folder; `seed` drives every random source."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig = Field(default_factory=MLPModel)  # without a [model] section: DEFAULT_MODELS of the data
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    augment: AugmentConfig = Field(default_factory=lambda: AugmentConfig())
    report: ReportConfig = Field(default_factory=lambda: ReportConfig())
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)  # type: ignore[arg-type]
    _valid_planned: bool = PrivateAttr(default=False)  # valid_fraction 0 set by the plan, not by the user

    @model_validator(mode="before")
    @classmethod
    def _model_follows_data(cls, raw: Any) -> Any:
        """No [model] section: the network made for the data's kind (DEFAULT_MODELS), as the loss follows the task."""
        if not isinstance(raw, dict) or "model" in raw:
            return raw
        data = raw.get("data")
        kind = data.get("kind", "table") if isinstance(data, dict) else getattr(data, "kind", "table")
        return {**raw, "model": dict(DEFAULT_MODELS.get(str(kind), DEFAULT_MODELS["table"]))}

    @model_validator(mode="before")
    @classmethod
    def _schedule_follows_data(cls, raw: Any) -> Any:
        """No train.schedule: the schedule made for the data's kind (DEFAULT_SCHEDULES: signals anneal by a cosine)."""
        if not isinstance(raw, dict):
            return raw
        data, train = raw.get("data"), raw.get("train", {})
        kind = data.get("kind", "table") if isinstance(data, dict) else getattr(data, "kind", "table")
        schedule = DEFAULT_SCHEDULES.get(str(kind))
        if schedule is None:
            return raw
        if isinstance(train, dict) and "schedule" not in train:
            return {**raw, "train": {**train, "schedule": schedule}}
        if isinstance(train, TrainConfig) and "schedule" not in train.model_fields_set:
            return {**raw, "train": train.model_copy(update={"schedule": schedule})}
        return raw

    @model_validator(mode="after")
    def _augment_fits_data(self) -> "Config":
        """Image-only augmentations (rotation, crops, erasing) are refused where the data has no image."""
        for keys, fits, what in ((AugmentConfig.IMAGE_ONLY, type(self.data).images, "images"),
                                 (AugmentConfig.SIGNAL_ONLY, type(self.data).has_steps, "signals")):
            used = [key for key in keys if getattr(self.augment, key)]
            if used and not fits:
                raise ValueError(f"augment.{used[0]} needs {what}; data.kind = '{self.data.kind}' has none. Remove "
                                 f"{', '.join('augment.' + k for k in used)} (noise and mixup apply to every kind)")
        return self

    @model_validator(mode="after")
    def _lorentz_reads_momenta(self) -> "Config":
        """A Lorentz network forms four-vectors from pT and E in GeV: its set input must not be standardised."""
        encoders = getattr(self.model, "inputs", {}) if self.model.kind == "multi" else {"": self.model}
        for name, encoder in encoders.items():
            section = getattr(self.data, "inputs", {}).get(name) if name else self.data
            scale = getattr(section, "scale", "none")
            if encoder.kind == "lorentz" and scale != "none":
                key = f"data.inputs.{name}.scale" if name else "data.scale"
                raise ValueError(f"a 'lorentz' network reads the momenta in GeV, unscaled; {key} is '{scale}'. "
                                 f"Set {key} = 'none'")
        return self

    @model_validator(mode="after")
    def _patience_gets_validation(self) -> "Config":
        """train.patience stops on the validation loss: valid_fraction = "auto" then keeps validation rows."""
        if self.train.patience is not None and getattr(self.data, "valid_fraction", None) == "auto":
            self.data = self.data.model_copy(update={"valid_fraction": PATIENCE_VALID_FRACTION})
        return self

    @model_validator(mode="after")
    def _uncertainty_fits_model(self) -> "Config":
        u = self.uncertainty
        if u.method == "mc-dropout" and self.model.dropout <= 0 and not getattr(self.model, "body_dropout", 0):
            raise ValueError("uncertainty.method = 'mc-dropout' needs dropout in the network; set model.dropout "
                             "(e.g. 0.1), or use uncertainty.method = 'ensemble'")
        if u.method == "ensemble" and self.train.rule != "backprop":
            raise ValueError(f"an ensemble trains as one stacked network by backprop; train.rule = "
                             f"'{self.train.rule}' cannot be stacked. Use train.rule = 'backprop', or "
                             "uncertainty.method = 'none'")
        planned = auto_section(u, self.run_facts())
        fraction = default_calib_fraction(planned, self.data)
        if fraction is not None:  # a validated assignment: the validators run once more, and find it set
            self.data = self.data.model_copy(update={"calib_fraction": fraction})
        if planned.conformal_method != "split" and _unset(self.data, "valid_fraction"):
            # CV+ members early-stop on their own left-out folds: a validation split would sit unused
            self.data = self.data.model_copy(update={"valid_fraction": 0.0})
            self._valid_planned = True
        if u.heteroscedastic is True and self.train.loss is not None:
            raise ValueError(f"a heteroscedastic head is trained with the Gaussian NLL; remove train.loss "
                             f"('{self.train.loss}') or set uncertainty.heteroscedastic = false")
        return self

    def run_facts(self, task: str | None = None) -> RunFacts:
        """What `[uncertainty] method = "auto"` reads of this run; `task` the data's (default: data.task)."""
        return RunFacts(task=task or str(getattr(self.data, "task", "auto")), data_kind=str(self.data.kind),
                        ordered=bool(getattr(type(self.data), "ordered", False)), model_kind=str(self.model.kind),
                        rule=self.train.rule, streamed=bool(getattr(self.data, "stream", False)))

    def replanned(self, task: str) -> "Config | None":
        """This config with the validation split the scheme of `task` needs, or None when its split already fits.

        Before the data are read a table's task may be "auto", and `method = "auto"` plans CV+ members (which
        early-stop on their own folds, so no validation split). When the data turn out to hold classes, the
        ensemble early-stops on a validation split instead: the one the user would have had (the key's default)
        comes back. A valid_fraction the user wrote is never changed.
        """
        planned = auto_section(self.uncertainty, self.run_facts(task))
        if not self._valid_planned or planned.conformal_method != "split":
            return None
        default = type(self.data).model_fields["valid_fraction"].default
        return self.model_copy(update={"data": self.data.model_copy(update={"valid_fraction": default})})

    def toml(self) -> str:
        """The resolved config as TOML text (config.toml of a run folder; every default filled in).

        TOML has no null: optional keys left unset are left out.
        """
        return tomli_w.dumps(_drop_none(self._applicable()))

    def _applicable(self) -> dict[str, Any]:
        """The config as a dict of the keys that apply: the model kind's own (ModelSpec.applicable), the
        optimiser's (momentum and nesterov are SGD's), image augmentations only for data with images and series
        augmentations only for data with steps, data.test_fraction only where the split draws the test rows, and
        of [uncertainty] only `method` when it is "none" (no error bars: none of the other keys is read)."""
        dumped = self.model_dump()
        dumped["model"] = self.model.applicable()
        if given_test_rows(self.data):
            dumped["data"].pop("test_fraction", None)
        for keys, fits in ((AugmentConfig.IMAGE_ONLY, type(self.data).images),
                           (AugmentConfig.SIGNAL_ONLY, type(self.data).has_steps)):
            for key in keys if not fits else ():
                dumped["augment"].pop(key, None)
        if self.train.optimizer not in MOMENTUM_OPTIMISERS:
            for key in ("momentum", "nesterov"):
                dumped["train"].pop(key)
        if self.uncertainty.method == "none":
            dumped["uncertainty"] = {"method": "none"}
        return dumped


MOMENTUM_OPTIMISERS = ("sgd",)  # the optimisers that read train.momentum and train.nesterov
MARKS_SPLITS = ("auto", "column", "given")  # the splits that keep given test rows (deepsci.data.splits.HONOURS_MARKS)


def given_test_rows(data: BaseModel) -> bool:
    """True when the data's test rows are given, so data.test_fraction draws nothing: a test file (test_source),
    test arrays (test_x, of the data or of an input), a split column, split = "given" / "column", or a bundled
    dataset's own split (its catalog entry's split column or test arrays), under a split that keeps them."""
    split = getattr(data, "split", None)
    if split not in MARKS_SPLITS:
        return False  # random, stratified, scaffold: the test rows are drawn (or no split keys at all)
    inputs = getattr(data, "inputs", None) or {}
    named = [getattr(data, "test_source", None), getattr(data, "test_x", None), getattr(data, "split_column", None),
             *(getattr(sub, "test_x", None) for sub in inputs.values())]
    if split != "auto" or any(named):
        return True
    source = getattr(data, "source", None)
    if not isinstance(source, str):
        return False
    from deepsci.data.catalog import get_dataset_info, is_registered  # the catalog is heavy: read it only here

    if not is_registered(source):
        return False
    info = get_dataset_info(source)
    return info.split_column is not None or bool(info.roles.get("test_x"))


def _drop_none(value: Any) -> Any:
    """`value` (nested dicts and lists) without its None entries."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# -- loading ----------------------------------------------------------------------------------------
DEFAULT_CALIB_FRACTION = 0.2
PATIENCE_VALID_FRACTION = 0.1  # data.valid_fraction = "auto" with train.patience set: rows to stop on
MAX_CONFIG_BYTES = 1 << 20  # a config is a page of TOML; a larger file is not one


def _unset(section: BaseModel, key: str) -> bool:
    """True when the section has the key and the user left it at its default."""
    return key in type(section).model_fields and key not in section.model_fields_set


def default_calib_fraction(uncertainty: UncertaintyConfig, data: BaseModel) -> float | None:
    """The data.calib_fraction a config resolves to, or None to keep the data section as it is.

    Error bars are calibrated on rows that took no part in training or model selection; ~20% of the training
    rows keeps one seed's conformal coverage within about +-0.045 (docs/uncertainty.md). So where the user
    left calib_fraction unset and the uncertainty section fits something on a calibration split (conformal
    bands, or a sigma to recalibrate: UncertaintySpec.needs_calibration, read before the task is known, when
    only a task given as one class per row is known to have no sigma), it is DEFAULT_CALIB_FRACTION. An
    ensemble with conformal = false and recalibration = "none" trains on every training row instead of
    setting a fifth of them aside unused.
    """
    if "calib_fraction" not in type(data).model_fields or "calib_fraction" in data.model_fields_set:
        return None  # a data section without the key, or the user's own value
    if uncertainty.method == "none" and uncertainty.heteroscedastic is not True and not uncertainty.conformal:
        return None
    given = TASKS.get(getattr(data, "task", "auto"))  # None for "auto": inferred from the data later
    has_sigma = given is None or not given.exclusive
    needs_rows = bool(uncertainty.conformal) or (uncertainty.recalibration != "none" and has_sigma)
    return DEFAULT_CALIB_FRACTION if needs_rows else None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML config, apply `--set key.path=value` overrides, and validate it.

    Raises ConfigError naming the file, the bad key and the fix; a config that marks keys as ranges
    is one for `deepsci sweep`, and the error says so.
    """
    raw = load_raw(path, overrides)
    ranged = range_paths(raw)
    if ranged:
        keys = ", ".join(".".join(str(p) for p in key) for key in ranged)
        raise ConfigError(f"{path} marks {keys} as range{'s' if len(ranged) > 1 else ''} to search; a fit trains "
                          f"one config: run `deepsci sweep {path} --trials N` to search them, or give each key "
                          "one value.")
    return config_from_dict(raw, source=str(path))


def load_fit_config(path: str | Path, overrides: Sequence[str] = ()) -> Config | PhysicsConfig:
    """The config `deepsci fit` trains: a physics-informed run's (its [train] names an equation, `train.physics`:
    deepsci.config.physics) or an ordinary one (`load_config`), with the overrides applied and validated."""
    raw = load_raw(path, overrides)
    if is_physics(raw):
        return physics_config_from_dict(raw, source=str(path))
    return load_config(path, overrides)


def load_raw(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The TOML of a config file as a dict, with `--set key.path=value` overrides applied; not validated.

    Raises ConfigError for a missing file, text that is not UTF-8, or TOML that does not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found. Pass the path of a TOML file, e.g. examples/solubility.toml.")
    with path.open("rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:  # cutting it would silently drop the sections after the cut
        raise ConfigError(f"{path} is larger than the {MAX_CONFIG_BYTES >> 20} MiB a config may be; a config is a page "
                          "of TOML: keep data in the files it names (data.source), not in the config.")
    try:
        raw = _parse_toml(data.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}). Save the config as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the syntax at that line.") from exc
    for item in overrides:
        apply_override(raw, item)
    return raw


# -- ranges to search (deepsci sweep) -----------------------------------------------------------------
RANGE_KEYS = frozenset({"low", "high", "log", "step", "choices"})


def is_range(value: Any) -> bool:
    """True for a table that marks a key as a range to search: its keys are among low, high, log, step and
    choices, and it has a list of `choices` or a bound that is a plain value (so a table of inputs that
    happen to be named `low` or `choices` is not mistaken for one)."""
    if not isinstance(value, dict) or not value or not set(value) <= RANGE_KEYS:
        return False
    bounds = [value[k] for k in ("low", "high") if k in value]
    return isinstance(value.get("choices"), list) or (bool(bounds) and not any(isinstance(b, (dict, list))
                                                                              for b in bounds))


def range_paths(raw: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The key paths (section, key[, list index, key ...]) of every range in a raw config, in file order."""
    if is_range(raw):
        return [prefix]
    items: Any = raw.items() if isinstance(raw, dict) else enumerate(raw) if isinstance(raw, list) else ()
    return [path for key, value in items for path in range_paths(value, (*prefix, key))]


MAX_CONFIG_DEPTH = 32  # tables and arrays within each other; a real config nests four or five deep


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text as a dict, or a ConfigError when it nests deeper than MAX_CONFIG_DEPTH.

    tomllib and every walk over the result recurse once per level: thousands of levels would end in a
    RecursionError, here or later, instead of a message.
    """
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raw = None
    if raw is None or _depth(raw) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{source} nests tables or arrays more than {MAX_CONFIG_DEPTH} levels deep; a config needs "
                          "a few. Flatten it.")
    return raw


def _depth(value: Any) -> int:
    """How many tables and arrays lie within each other in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `section.key=value` in a raw config dict; the value is parsed as TOML, else kept as text."""
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=50), got '{item}'.")
    key, text = item.split("=", 1)
    try:
        value = _parse_toml(f"v = {text}", f"--set {key}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    node = raw
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section.")
    node[leaf] = value


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a raw dict into a Config, turning pydantic's errors into one readable ConfigError."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, raw, source)) from None


def _explain(exc: ValidationError, raw: dict[str, Any], source: str) -> str:
    """One line per problem: the key, what is wrong, and the nearest valid key for typos."""
    lines = []
    for err in exc.errors():
        key_path, section = _locate([str(p) for p in err["loc"]])
        key = ".".join(key_path)
        if not key_path:  # a check across sections: its message names the keys
            lines.append(err["msg"].removeprefix("Value error, ") + ".")
            continue
        if err["type"] == "extra_forbidden":
            valid = list(section.model_fields) if section else []
            close = difflib.get_close_matches(key_path[-1], valid, n=1)
            hint = f" Did you mean '{'.'.join(key_path[:-1] + [close[0]])}'?" if close else ""
            lines.append(f"unknown config key '{key}'.{hint} Valid keys here: {', '.join(valid)}.")
        elif err["type"] == "missing":
            lines.append(f"config key '{key}' is required; add it to the TOML.")
        else:
            if str(err["type"]).endswith("_kind"):  # the union's tag itself is wrong: name the key `kind`
                key_path, key = [*key_path, "kind"], f"{key}.kind"
            value = _lookup(raw, key_path)
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"config key '{key}' = {value!r}: {msg}.")
    return f"{source}: " + " ".join(lines)


def _locate(loc: list[str]) -> tuple[list[str], type[BaseModel] | None]:
    """The TOML key path of a pydantic error location (union tags dropped) and the section model that holds
    its last key. [data] and [model] are unions on `kind`: pydantic puts the kind's tag in the location."""
    if loc[:1] == ["model"]:
        path, section = locate_model(loc[1:])
        return ["model", *path], section
    if loc[:1] == ["data"] and len(loc) > 1 and loc[1] in DATA_MODELS:
        path, section = locate_data(loc[1:])
        return ["data", *path], section if path else None
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if model is not None else None
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return loc, model


def _lookup(raw: Any, loc: list[str]) -> Any:
    """The value the user wrote at a key path (list items by their index), or None."""
    for part in loc:
        if isinstance(raw, dict) and part in raw:
            raw = raw[part]
        elif isinstance(raw, list) and part.isdigit() and int(part) < len(raw):
            raw = raw[int(part)]
        else:
            return None
    return raw
