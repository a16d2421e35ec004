"""A physics-informed run's config: `[train] physics` names the equation, `[physics]` holds its parameters.

A physics-informed run fits a network to a differential equation, not to data, so its config has no
`[data]` and no `[uncertainty]`: `name`, `seed`, `[model]` (an MLP with a smooth activation), `[train]`
(the equation, the collocation points, the optimisers) and `[physics]`. `deepsci fit` tells the two kinds of
config apart by `train.physics` (`is_physics`). The parameters of a shipped problem are validated here with
its spec type (deepsci.training.physics_spec), and config.toml records every default; a user's
"module:function" takes its `[physics]` keys as keyword arguments, checked when it is called.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from deepsci.errors import ConfigError
from deepsci.models.specs import MLPModel
from deepsci.section import Section, check_name
from deepsci.training.physics_spec import CONSTRAINTS, PROBLEM_SPECS, SMOOTH_ACTIVATIONS

__all__ = ["PHYSICS_RUN_FORMAT", "PhysicsConfig", "PhysicsReportConfig", "PhysicsTrainConfig", "is_physics",
           "physics_config_from_dict"]

#: model.json's "format" in a physics-informed run folder (deepsci.physics_run writes it; Run.load refuses it)
PHYSICS_RUN_FORMAT = "deepsci-physics/1"
USER_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "module.path:function"


class PhysicsTrainConfig(Section):
    """How the network learns the equation (deepsci.training.physics_informed.fit)."""

    physics: str = Field(description="'oscillator', 'heat', or 'module:function' returning a Problem")
    constraints: str = Field("hard", description="'hard': the conditions built into the solution (an ansatz); "
                                                 "'soft': their squared residuals added to the loss")
    collocation_points: int = Field(400, ge=1, le=1_000_000, description="fixed Sobol points of the residual")
    condition_points: int = Field(64, ge=1, le=100_000, description="points on each boundary or initial edge "
                                                                    "(shipped problems, soft form)")
    condition_weight: float = Field(1.0, gt=0.0, description="weight of the condition residuals (soft form)")
    epochs: int = Field(200, ge=0, le=1_000_000, description="full-batch Adam steps")
    lr: float = Field(1e-2, gt=0.0, le=10.0, description="Adam's learning rate")
    lbfgs_steps: int = Field(300, ge=0, le=1_000_000, description="L-BFGS iterations after Adam")
    precision: str = Field("64", description="'64' (float64, the default) or '32'")
    device: str = Field("auto", description="'auto' (a CUDA GPU when present, else the CPU), 'cpu', 'cuda', "
                                            "'cuda:N' or 'mps'")

    @field_validator("physics")
    @classmethod
    def _known_problem(cls, value: str) -> str:
        if USER_FUNCTION.match(value) or value in PROBLEM_SPECS:
            return value
        raise ValueError(f"unknown physics problem '{value}'; known: {', '.join(PROBLEM_SPECS)}, or "
                         "'module:function' naming your own function that returns a Problem")

    @field_validator("constraints")
    @classmethod
    def _known_constraints(cls, value: str) -> str:
        return check_name("constraints", value, CONSTRAINTS)

    @field_validator("precision", mode="before")
    @classmethod
    def _precision(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        return check_name("precision", value, ("64", "32")) if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"unknown device '{value}'; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value


class PhysicsReportConfig(Section):
    """What a physics-informed run folder gets beyond the metrics: `html` writes report.html."""

    html: bool = True


def _default_network() -> MLPModel:
    return MLPModel(hidden=[32, 32], activation="tanh", init="xavier")


class PhysicsConfig(Section):
    """A whole physics-informed run; `seed` draws the initial weights and the collocation points."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0)
    model: MLPModel = Field(default_factory=_default_network)
    train: PhysicsTrainConfig
    physics: dict[str, Any] = Field(default_factory=dict, description="the problem's parameters")
    report: PhysicsReportConfig = Field(default_factory=PhysicsReportConfig)

    @model_validator(mode="before")
    @classmethod
    def _network_defaults(cls, raw: Any) -> Any:
        """A [model] section's unset keys take the physics defaults (tanh, xavier, 2 x 32), not the table's."""
        if isinstance(raw, dict) and isinstance(raw.get("model"), dict):
            return {**raw, "model": {**_default_network().model_dump(exclude={"monotone"}), **raw["model"]}}
        return raw

    @model_validator(mode="after")
    def _smooth_network(self) -> "PhysicsConfig":
        m = self.model
        if m.activation not in SMOOTH_ACTIVATIONS:
            raise ValueError(f"model.activation = '{m.activation}' has no smooth second derivative, which the "
                             f"equation's residual differentiates; use one of {', '.join(SMOOTH_ACTIVATIONS)}")
        if m.batch_norm or m.dropout > 0 or m.monotone:
            raise ValueError("a physics-informed network is a plain MLP: set model.batch_norm = false, model.dropout "
                             "= 0 and no model.monotone (each makes u depend on the batch, on chance or on a sign)")
        return self

    @model_validator(mode="after")
    def _problem_parameters(self) -> "PhysicsConfig":
        """A shipped problem's [physics] keys validated by its spec type, every default filled in."""
        spec = PROBLEM_SPECS.get(self.train.physics)
        if spec is None:  # a user's function: its own signature checks the keys when it is called
            return self
        try:
            filled = spec(**self.physics).model_dump()
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"])
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = f"not a parameter of '{self.train.physics}'; its keys are {', '.join(spec.model_fields)}"
                problems.append(f"physics.{key}: {message}" if key else message)
            raise ValueError("; ".join(problems)) from None
        if filled != self.physics:
            self.physics = filled  # validate_assignment runs the validators once more, and finds it filled
        return self

    def toml(self) -> str:
        """The resolved config as TOML text (config.toml of the run folder)."""
        import tomli_w

        dumped = self.model_dump()
        dumped["model"] = self.model.applicable()
        for section in ("model", "train"):  # TOML has no null: keys left unset are left out
            dumped[section] = {k: v for k, v in dumped[section].items() if v is not None}
        return tomli_w.dumps(dumped)


def physics_config_from_dict(raw: dict[str, Any], source: str = "config") -> PhysicsConfig:
    """Validate a raw dict into a PhysicsConfig, pydantic's errors turned into one ConfigError (key, problem, fix)."""
    try:
        return PhysicsConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + " ".join(_explain(err) for err in exc.errors())) from None


def _explain(err: Any) -> str:
    """One line for one pydantic error: the key, what is wrong, and for an unknown key the keys there are."""
    loc = [str(p) for p in err["loc"]]
    key, message = ".".join(loc), err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across keys: its message names them
        return f"{message}."
    if err["type"] == "extra_forbidden":
        sections: dict[str, type[Section]] = {"model": MLPModel, "train": PhysicsTrainConfig,
                                              "report": PhysicsReportConfig}
        section = sections.get(loc[0])
        keys = section.model_fields if section is not None and len(loc) == 2 else PhysicsConfig.model_fields
        hint = "; a physics-informed run has no [data]: the equation is its data" if loc == ["data"] else ""
        return f"unknown config key '{key}'{hint}. Valid keys here: {', '.join(keys)}."
    if err["type"] == "missing":
        return f"config key '{key}' is required; add it to the TOML."
    return f"config key '{key}': {message}."


def is_physics(raw: Any) -> bool:
    """True for a raw config (the TOML as a dict) whose [train] names an equation: a physics-informed run."""
    train = raw.get("train") if isinstance(raw, dict) else None
    return isinstance(train, dict) and "physics" in train
