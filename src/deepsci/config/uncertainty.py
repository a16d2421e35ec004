"""[uncertainty]: error bars, and how the section becomes the library's `UncertaintySpec`.

The names each key may take and the rules between keys are `deepsci.training.uncertainty_spec`'s; the
section checks them at the edge, with pydantic's messages.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from deepsci.section import Section
from deepsci.tasks import task_of
from deepsci.training.uncertainty_spec import (CONFORMAL_METHODS, LINKS, METHODS, RECALIBRATIONS, REGRESSION_SCORES,
                                               SET_METHODS, UncertaintySpec, options_problem)

__all__ = ["UncertaintyConfig", "resolve_heteroscedastic", "resolve_section", "resolve_uncertainty"]


class UncertaintyConfig(Section):
    """Error bars: a vectorised deep ensemble or MC dropout, a heteroscedastic head, sigma recalibration,
    conformal bands. See docs/uncertainty.md.

    Regression ensembles and MC dropout are by default Lakshminarayanan et al. (2017) deep ensembles /
    Kendall & Gal (2017) heteroscedastic MC dropout: each member has a mean and a variance head trained on
    the Gaussian NLL (`heteroscedastic = "auto"`, resolved by `resolve_uncertainty` once the task is known).
    Every reported sigma is recalibrated (`recalibration`, fitted on the calibration split), and conformal
    bands are calibrated on the calibration split too: rows that played no part in training or model
    selection (data.calib_fraction; see docs/uncertainty.md for the default); with conformal_method = "cross" or
    "cross-plus" the bands come instead from the ensemble members' out-of-fold residuals on the training rows.
    """

    method: Literal["none", "ensemble", "mc-dropout"] = "none"
    members: int = Field(8, ge=2, le=256, description="ensemble size (method = 'ensemble')")
    samples: int = Field(50, ge=2, le=10_000, description="stochastic passes (method = 'mc-dropout')")
    heteroscedastic: bool | Literal["auto"] = Field(
        "auto", description="regression: mean-and-variance head, Gaussian NLL loss; 'auto': on for ensemble and "
        "mc-dropout regression unless train.loss is set")
    bootstrap: bool = Field(False, description="each ensemble member trains on its own bootstrap resample")
    conformal: bool | None = Field(None, description="conformal bands; default: on when method or "
                                   "heteroscedastic is set")
    conformal_method: Literal["split", "cross", "cross-plus"] = Field(
        "split", description="'split': bands calibrated on the calibration split; 'cross' / 'cross-plus' (regression "
        "ensembles): member k trains without fold k of the training rows and early-stops on it, and the bands come "
        "from every training row's out-of-fold residual, around the ensemble mean ('cross') or as CV+ around each "
        "member ('cross-plus'); needs data.valid_fraction = 0")
    recalibration: Literal["none", "scaling", "isotonic"] = Field(
        "scaling", description="sigma recalibration on the calibration split: 'scaling' (one variance factor per "
        "target, Levi et al. 2020), 'isotonic' (Kuleshov et al. 2018) or 'none'")
    level: float = Field(0.9, gt=0.0, lt=1.0)
    score: Literal["absolute", "normalised"] = "absolute"
    set_method: Literal["lac", "aps"] = "lac"
    randomised: bool = False
    link: Literal["softplus", "exp"] = "softplus"
    beta: float = Field(0.5, ge=0.0, le=1.0, description="beta-NLL exponent of the heteroscedastic loss (Seitzer "
                        "et al. 2022): 0 is the plain Gaussian NLL; 0.5 keeps the mean's fit close to MSE's")

    @model_validator(mode="before")
    @classmethod
    def _conformal_by_default(cls, values: Any) -> Any:
        """`conformal` left out (or None) becomes on when a method or a variance head gives error bars: resolved
        before validation, so the section is never rewritten after it and the run's config.toml states it."""
        if isinstance(values, dict) and values.get("conformal") is None:
            on = values.get("method", "none") != "none" or values.get("heteroscedastic") is True
            values = {**values, "conformal": on}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> "UncertaintyConfig":
        problem = options_problem(method=self.method, bootstrap=self.bootstrap, heteroscedastic=self.heteroscedastic,
                                  conformal=self.conformal, conformal_method=self.conformal_method, score=self.score)
        if problem is not None:
            raise ValueError(problem)
        return self


# One vocabulary: the section's Literal types name exactly the spec's values.
for _key, _names in (("method", METHODS), ("conformal_method", CONFORMAL_METHODS), ("recalibration", RECALIBRATIONS),
                     ("score", REGRESSION_SCORES), ("set_method", SET_METHODS), ("link", LINKS)):
    if get_args(UncertaintyConfig.model_fields[_key].annotation) != _names:
        raise ImportError(f"[uncertainty] {_key} allows {get_args(UncertaintyConfig.model_fields[_key].annotation)} "
                          f"but deepsci.training.uncertainty_spec lists {_names}")


def resolve_heteroscedastic(section: UncertaintyConfig, task: str, loss: str | None = None) -> bool:
    """Whether the model gets a mean-and-variance head: the section's value, or for "auto" the default.

    "auto" is true for a continuous task (regression) with method "ensemble" (deep ensembles as
    Lakshminarayanan et al. 2017 define them) or "mc-dropout" (Kendall & Gal 2017), unless the user chose a
    training loss (`loss`, the config's train.loss; the variance head is trained on the Gaussian NLL instead
    of it); false otherwise.
    """
    if section.heteroscedastic != "auto":
        return bool(section.heteroscedastic)
    return task_of(task).continuous and section.method != "none" and loss is None


def resolve_section(section: UncertaintyConfig, task: str, loss: str | None = None) -> UncertaintyConfig:
    """The section with "auto" replaced by its value for this task, for the run's config.toml."""
    return section.model_copy(update={"heteroscedastic": resolve_heteroscedastic(section, task, loss)})


def resolve_uncertainty(section: UncertaintyConfig, task: str, *, seed: int = 0,
                        loss: str | None = None) -> UncertaintySpec:
    """The section as the library's plain `UncertaintySpec`, once the task is known (after reading the data).

    Args:
        section: the validated [uncertainty] section.
        task: a task name (deepsci.tasks).
        seed: the run's seed (MC-dropout masks, randomised APS).
        loss: the config's train.loss (None when unset); a user-chosen loss turns "auto" off.

    Raises:
        ConfigError: options the task cannot take (`UncertaintySpec.check_task`).
    """
    kind = task_of(task)
    spec = UncertaintySpec(method=section.method, members=section.members, samples=section.samples,
                           heteroscedastic=resolve_heteroscedastic(section, task, loss), bootstrap=section.bootstrap,
                           conformal=bool(section.conformal), conformal_method=section.conformal_method,
                           recalibration=section.recalibration if kind.continuous else "none",
                           level=section.level, score=section.score, set_method=section.set_method,
                           randomised=section.randomised, link=section.link, beta=section.beta, seed=seed)
    spec.check_task(kind)
    return spec
