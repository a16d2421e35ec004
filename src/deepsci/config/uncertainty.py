"""[uncertainty]: error bars, and how the section becomes the library's `UncertaintySpec`.

The names each key may take and the rules between keys are `deepsci.training.uncertainty_spec`'s; the
section checks them at the edge, with pydantic's messages.

`method = "auto"` (the default) is a scheme chosen from what the run is (`auto_section`): a K = 5 CV+ ensemble
where the network's ensemble trains as one stacked model (Barber et al. 2021; Lakshminarayanan et al. 2017),
split conformal around one network where an ensemble would cost K trainings, and no error bars where the task
has no per-row prediction to put them on. The config's split defaults follow the planned scheme
(`auto_section` before the data are read); `resolve_section` states what it became, once the task is known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from deepsci.section import Section
from deepsci.tasks import TASKS, task_of
from deepsci.training.uncertainty_spec import (CONFORMAL_METHODS, LINKS, METHODS, RECALIBRATIONS, REGRESSION_SCORES,
                                               SET_METHODS, UncertaintySpec, options_problem)

__all__ = ["AUTO_MEMBERS", "RunFacts", "VECTORISED_ENSEMBLES", "UncertaintyConfig", "auto_section",
           "resolve_heteroscedastic", "resolve_section", "resolve_uncertainty", "scheme_line"]

#: Model kinds whose K-member ensemble trains as ONE stacked network (deepsci.training.ensemble.StackedMLP, about
#: 1.9x one member's time for 8 members): `method = "auto"` gives them a CV+ ensemble. Any other kind would train
#: K networks one after another, so "auto" calibrates one network instead (split conformal).
VECTORISED_ENSEMBLES: frozenset[str] = frozenset({"mlp"})
AUTO_MEMBERS = 5  # K of the "auto" ensemble: 5 folds keep 80% of the training rows in each member


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

    method: Literal["auto", "none", "ensemble", "mc-dropout"] = Field(
        "auto", description="'auto' (default): a 5-member CV+ ensemble for MLPs on tables, split conformal around one "
        "network for other kinds, none where the task has no per-row prediction (config.toml states the choice); "
        "'none': one network, no error bars (fastest)")
    members: int = Field(8, ge=2, le=256, description="ensemble size (method = 'ensemble')")
    samples: int = Field(50, ge=2, le=10_000, description="stochastic passes (method = 'mc-dropout')")
    heteroscedastic: bool | Literal["auto"] = Field(
        "auto", description="regression: mean-and-variance head, Gaussian NLL loss; 'auto': on for ensemble and "
        "mc-dropout regression unless train.loss is set")
    bootstrap: bool = Field(False, description="each ensemble member trains on its own bootstrap resample")
    conformal: bool | None = Field(None, description="conformal bands; default: on when method or "
                                   "heteroscedastic is set")
    conformal_method: Literal["auto", "split", "cross", "cross-plus"] = Field(
        "auto", description="'auto': 'cross-plus' for a regression ensemble (without bootstrap, absolute score), "
        "else 'split'; 'split': bands calibrated on the calibration split; 'cross' / 'cross-plus' (regression "
        "ensembles): member k trains without fold k of the training rows and early-stops on it, and the bands come "
        "from every training row's out-of-fold residual, around the ensemble mean ('cross') or as CV+ around each "
        "member ('cross-plus'); data.valid_fraction then defaults to 0 (a validation split would sit unused)")
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
    vectorise: bool = Field(False, description="ensembles of CNNs, transformers, set networks: run the members as "
                            "one vmap over stacked parameters instead of one after another (same numbers; no faster "
                            "on a small CPU, docs/uncertainty.md); refused with batch norm or recurrent layers")

    @model_validator(mode="before")
    @classmethod
    def _conformal_by_default(cls, values: Any) -> Any:
        """`conformal` left out (or None) becomes on when a method or a variance head gives error bars: resolved
        before validation, so the section is never rewritten after it and the run's config.toml states it."""
        method = values.get("method", "auto") if isinstance(values, dict) else None
        if isinstance(values, dict) and values.get("conformal") is None and method != "auto":  # "auto": its scheme's
            on = method != "none" or values.get("heteroscedastic") is True
            values = {**values, "conformal": on}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> "UncertaintyConfig":
        problem = options_problem(method=self.method, bootstrap=self.bootstrap, heteroscedastic=self.heteroscedastic,
                                  conformal=self.conformal, conformal_method=self.conformal_method, score=self.score)
        if problem is not None:
            raise ValueError(problem)
        if self.vectorise and self.method != "ensemble":
            raise ValueError(f"vectorise = true runs ensemble members as one vmap; method is '{self.method}'. Set "
                             "method = 'ensemble' or drop vectorise")
        return self


# One vocabulary: the section's Literal types name exactly the spec's values.
for _key, _names in (("method", ("auto", *METHODS)), ("conformal_method", ("auto", *CONFORMAL_METHODS)),
                     ("recalibration", RECALIBRATIONS),
                     ("score", REGRESSION_SCORES), ("set_method", SET_METHODS), ("link", LINKS)):
    if get_args(UncertaintyConfig.model_fields[_key].annotation) != _names:
        raise ImportError(f"[uncertainty] {_key} allows {get_args(UncertaintyConfig.model_fields[_key].annotation)} "
                          f"but deepsci.training.uncertainty_spec lists {_names}")


@dataclass(frozen=True)
class RunFacts:
    """What `method = "auto"` reads of a run: its task (a name, or "auto" before the data are read), the data kind,
    whether rows are windows of one ordered record (series, text), the model kind, the learning rule, and
    whether the table is streamed from disk."""

    task: str
    data_kind: str
    ordered: bool
    model_kind: str
    rule: str = "backprop"
    streamed: bool = False


def _auto_method(facts: RunFacts) -> tuple[str, bool]:
    """(method, conformal) that "auto" stands for in this run (see the module docstring)."""
    task = TASKS.get(facts.task)  # None while "auto": the data will tell
    if facts.ordered or facts.streamed or (task is not None and not task.per_row):
        # forecasts, per-step tags and per-label probabilities: no per-row band to calibrate; a table streamed
        # from disk gets split-conformal bands on a calibration sample only when asked (they need calib_fraction)
        return "none", False
    stacked = facts.model_kind in VECTORISED_ENSEMBLES and facts.rule == "backprop"
    return ("ensemble", True) if stacked else ("none", True)


def _k_fold_fits(section: UncertaintyConfig, task: str) -> bool:
    """True when conformal_method "auto" means CV+: a regression ensemble (or one whose task the data will tell)
    without bootstrap, with conformal bands on the absolute score."""
    known = TASKS.get(task)
    return (section.method == "ensemble" and not section.bootstrap and section.conformal is not False
            and section.score == "absolute" and (known is None or known.continuous))


def auto_section(section: UncertaintyConfig, facts: RunFacts) -> UncertaintyConfig:
    """The section with "auto" (method, conformal, conformal_method) replaced by what it stands for in this run.

    method "auto": a K = AUTO_MEMBERS ensemble where the model kind's ensemble is one stacked network
    (`VECTORISED_ENSEMBLES`), else one network with split-conformal bands, and no error bars for tasks without
    one prediction per row (series, text, multilabel, tagging). conformal_method "auto": CV+ ("cross-plus")
    for a regression ensemble, "split" otherwise. Called before the data are read (`facts.task` "auto": the
    split defaults follow the plan) and again once the task is known (`resolve_section`).
    """
    update: dict[str, Any] = {}
    if section.method == "auto":
        method, conformal = _auto_method(facts)
        update = {"method": method, "conformal": conformal if section.conformal is None else section.conformal}
        if method == "ensemble" and "members" not in section.model_fields_set:
            update["members"] = AUTO_MEMBERS
    resolved = section.model_copy(update=update)
    if resolved.conformal is None:  # a method named by the user: conformal on when it gives error bars
        resolved = resolved.model_copy(update={"conformal": resolved.method != "none"
                                               or resolved.heteroscedastic is True})
    if resolved.conformal_method == "auto":
        method = "cross-plus" if _k_fold_fits(resolved, facts.task) else "split"
        resolved = resolved.model_copy(update={"conformal_method": method})
    return resolved


def _ensemble_form(section: UncertaintyConfig, model_kind: str) -> tuple[str, str]:
    """How the ensemble's members train, and its cost in one network's training time (for `scheme_line`)."""
    if model_kind in VECTORISED_ENSEMBLES or not model_kind:
        return "trained as one stacked network", "about 2-3x one network's training time"
    if section.vectorise:
        return (f"of {model_kind} networks vmapped over stacked parameters",
                f"about {section.members}x one network's training time on a small CPU")
    return (f"of {model_kind} networks trained one after another", f"{section.members}x one network's training time")


def scheme_line(given: UncertaintyConfig, resolved: UncertaintyConfig, task: str, model_kind: str) -> str:
    """One line saying which error bars the run gives, on what rows, at what cost, and how to turn them off."""
    level = f"{resolved.level:.0%}"
    bands = "intervals" if task_of(task).continuous else "prediction sets"
    form, cost = _ensemble_form(resolved, model_kind)
    if resolved.method == "ensemble" and resolved.conformal_method != "split":
        what = (f"an ensemble of {resolved.members} members {form} (member k leaves out fold k "
                f"and early-stops on it), {level} CV+ {bands} from every training row's out-of-fold residual "
                f"(Barber et al. 2021); {cost}")
    elif resolved.method == "ensemble":
        what = (f"an ensemble of {resolved.members} members {form}, {level} conformal {bands} "
                f"calibrated on the calibration split; {cost}")
    elif resolved.method == "mc-dropout":
        what = f"MC dropout ({resolved.samples} passes), {level} conformal {bands} on the calibration split"
    elif resolved.conformal:
        what = (f"one {model_kind} network with split-conformal {level} {bands} calibrated on the calibration split "
                f"(no extra training; a {model_kind} ensemble would train its members one after another)")
    elif given.method != "auto":
        return "no error bars (uncertainty.method = 'none')."
    else:
        return (f"no error bars: uncertainty.method = 'auto' chose 'none' for a {task} run of this kind (forecast "
                "windows, text, per-step or per-label outputs have no calibrated bands yet; a streamed table gets them "
                "only when asked: docs/streaming.md).")
    chose = "uncertainty.method = 'auto' chose " if given.method == "auto" else "error bars: "
    return f"{chose}{what}; uncertainty.method = 'none' trains one plain network."


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


def resolve_section(section: UncertaintyConfig, task: str, loss: str | None = None,
                    facts: RunFacts | None = None) -> UncertaintyConfig:
    """The section with every "auto" replaced by its value for this task and run, for the run's config.toml.

    Args:
        facts: what "auto" reads of the run (`RunFacts`, its task the data's); None resolves a method "auto" as
            a run that gives no ensemble would (one network).
    """
    facts = facts or RunFacts(task=task, data_kind="table", ordered=False, model_kind="", rule="backprop")
    resolved = auto_section(section, replace(facts, task=task))
    return resolved.model_copy(update={"heteroscedastic": resolve_heteroscedastic(resolved, task, loss)})


def resolve_uncertainty(section: UncertaintyConfig, task: str, *, seed: int = 0, loss: str | None = None,
                        facts: RunFacts | None = None) -> UncertaintySpec:
    """The section as the library's plain `UncertaintySpec`, once the task is known (after reading the data).

    Args:
        section: the validated [uncertainty] section.
        task: a task name (deepsci.tasks).
        seed: the run's seed (MC-dropout masks, randomised APS).
        loss: the config's train.loss (None when unset); a user-chosen loss turns "auto" off.
        facts: what a method "auto" reads of the run (`resolve_section`).

    Raises:
        ConfigError: options the task cannot take (`UncertaintySpec.check_task`).
    """
    kind, given = task_of(task), section
    section = resolve_section(section, task, loss, facts)
    spec = UncertaintySpec(method=section.method, members=section.members, samples=section.samples,
                           heteroscedastic=resolve_heteroscedastic(section, task, loss), bootstrap=section.bootstrap,
                           conformal=bool(section.conformal), conformal_method=section.conformal_method,
                           recalibration=section.recalibration if kind.continuous else "none",
                           level=section.level, score=section.score, set_method=section.set_method,
                           randomised=section.randomised, link=section.link, beta=section.beta,
                           vectorise=section.vectorise, seed=seed,
                           scheme=scheme_line(given, section, task, facts.model_kind if facts else "plain"))
    spec.check_task(kind)
    return spec
