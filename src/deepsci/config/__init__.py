"""The experiment's configuration: one pydantic model per TOML section, validated once, at the edge.

Unknown keys are rejected with the nearest valid key suggested; `load_config` reads a TOML file and
applies `--set key.path=value` overrides. Each section lives in its own module.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, Field, ValidationError, model_validator

from deepsci.config.data import DATA_MODELS, DataConfig
from deepsci.config.model import MLPModel, ModelConfig
from deepsci.config.report import ReportConfig
from deepsci.config.section import Section, check_name
from deepsci.config.train import AugmentConfig, TrainConfig
from deepsci.config.uncertainty import UncertaintyConfig
from deepsci.errors import ConfigError

__all__ = ["AugmentConfig", "Config", "DataConfig", "ModelConfig", "ReportConfig", "Section", "TrainConfig",
           "UncertaintyConfig", "apply_override", "check_name", "config_from_dict", "load_config"]


class Config(Section):
    """A whole experiment: `name` names the run folder; `seed` drives every random source."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig = Field(default_factory=MLPModel)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    augment: AugmentConfig = Field(default_factory=lambda: AugmentConfig())
    report: ReportConfig = Field(default_factory=lambda: ReportConfig())
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _uncertainty_fits_model(self) -> "Config":
        u = self.uncertainty
        if u.method == "mc-dropout" and self.model.dropout <= 0:
            raise ValueError("uncertainty.method = 'mc-dropout' needs dropout in the network; set model.dropout "
                             "(e.g. 0.1), or use uncertainty.method = 'ensemble'")
        if u.method == "ensemble" and self.train.rule != "backprop":
            raise ValueError(f"an ensemble trains as one stacked network by backprop; train.rule = "
                             f"'{self.train.rule}' cannot be stacked. Use train.rule = 'backprop', or "
                             "uncertainty.method = 'none'")
        if (u.method != "none" or u.heteroscedastic is True) and _settable(self.data, "calib_fraction"):
            # Error bars are calibrated on rows that took no part in training or model selection; ~20% of the
            # training rows keeps one seed's conformal coverage within about +-0.045 (docs/uncertainty.md).
            self.data.__dict__["calib_fraction"] = DEFAULT_CALIB_FRACTION
        if u.heteroscedastic is True and self.train.loss is not None:
            raise ValueError(f"a heteroscedastic head is trained with the Gaussian NLL; remove train.loss "
                             f"('{self.train.loss}') or set uncertainty.heteroscedastic = false")
        return self


# -- loading ----------------------------------------------------------------------------------------
DEFAULT_CALIB_FRACTION = 0.2
MAX_CONFIG_BYTES = 1 << 20  # a config is a page of TOML; a larger file is not one


def _settable(section: BaseModel, key: str) -> bool:
    """True when `section` has the key and the user left it at its default."""
    return key in type(section).model_fields and key not in section.model_fields_set


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML config, apply `--set key.path=value` overrides, and validate it.

    Raises ConfigError naming the file, the bad key and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found. Pass the path of a TOML file, e.g. examples/solubility.toml.")
    try:
        raw = tomllib.loads(path.read_bytes()[:MAX_CONFIG_BYTES + 1].decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}). Save the config as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the syntax at that line.") from exc
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, source=str(path))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `section.key=value` in a raw config dict; the value is parsed as TOML, else kept as text."""
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=50), got '{item}'.")
    key, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
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
    from deepsci.config import model as model_section

    if loc[:1] == ["model"]:
        path, section = model_section.locate(loc[1:])
        return ["model", *path], section if len(path) > 1 or section is None else section
    if loc[:1] == ["data"] and len(loc) > 1 and loc[1] in DATA_MODELS:
        return ["data", *loc[2:]], DATA_MODELS[loc[1]] if len(loc) > 2 else None
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
