"""A physics-informed run: from its config (deepsci.config.physics) to the fitted solution and its run folder.

    config ([train] physics, [physics]) -> problem (training.equations) -> fit (training.physics_informed)
        -> error on a grid (evaluation.physics_informed) -> runs/<name>/

A physics-informed run has no dataset: the equation is its data. It therefore takes its own path beside
`deepsci.experiment` (which reads, splits and scales data) and shares the rest of the house: the MLP and its
spec, the device rule, the report document and the run folder's lock, staging and
atomic publishing. `deepsci fit` dispatches on `train.physics` (deepsci.config.load_fit_config). Its folder:

    runs/<name>/ config.toml metrics.json history.csv predictions.csv model.safetensors model.json report.html

metrics.json's `test` block holds the relative L2 error against the exact solution on the evaluation grid;
history.csv one row per loss evaluation; predictions.csv the solution on the grid beside the exact one.
`Run.load` refuses these folders with a line saying what they are (they hold no data preprocessor).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from markupsafe import escape
from safetensors.torch import save_file

from deepsci.config.physics import PHYSICS_RUN_FORMAT, PhysicsConfig
from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.evaluation.physics_informed import SolutionCheck, check_solution, history_figure, solution_figure
from deepsci.folder import RunLock, check_out, spreadsheet_safe, staged
from deepsci.models.arguments import spec_of
from deepsci.report import Section, write_report
from deepsci.run import environment, versions
from deepsci.training.device import resolve_device
from deepsci.training.equations import Problem, problem_of
from deepsci.training.physics_informed import PhysicsFit, fit, one_thread

__all__ = ["PhysicsFitted", "fit_physics", "problem_of_config", "run_physics"]

DTYPES = {"64": torch.float64, "32": torch.float32}



@dataclass(frozen=True)
class PhysicsFitted:
    """A physics-informed config's network fitted and checked in memory (nothing written yet).

    Attributes:
        config: the validated config (every [physics] default filled in for a shipped problem).
        fitted: the fit (network, history, collocation points).
        check: the solution on the evaluation grid and its error.
        trained_on: where it trained (device, precision, threads), for metrics.json.
    """

    config: PhysicsConfig
    fitted: PhysicsFit
    check: SolutionCheck
    trained_on: dict[str, Any]


def problem_of_config(config: PhysicsConfig) -> Problem:
    """The problem `train.physics` names, built from the [physics] parameters."""
    return problem_of(config.train.physics, config.physics, condition_points=config.train.condition_points)


def fit_physics(config: PhysicsConfig, *, device: torch.device | None = None) -> PhysicsFitted:
    """Fit the config's network to its equation and check it on the evaluation grid, writing nothing."""
    t, m = config.train, config.model
    problem = problem_of_config(config)
    device = resolve_device(t.device) if device is None else device
    fitted = fit(problem, hidden=m.hidden, activation=m.activation, init=m.init, seed=config.seed,
                 epochs=t.epochs, lr=t.lr, lbfgs_steps=t.lbfgs_steps, collocation=t.collocation_points,
                 constraints=t.constraints, condition_weight=t.condition_weight, dtype=DTYPES[t.precision],
                 device=device)
    with one_thread():
        check = check_solution(problem, fitted.solution())
    trained_on = environment(device=device, precision=t.precision)
    trained_on.update(torch_threads=1, threads={"threads": 1, "reason": "a physics-informed fit runs on one thread "
                                                "(deepsci.training.physics_informed.one_thread)"})
    return PhysicsFitted(config=config, fitted=fitted, check=check, trained_on=trained_on)


def run_physics(config: PhysicsConfig, out: str | Path = "runs") -> Path:
    """Fit, check and write the run folder `out/<name>/` (one writer per name; staged, then published at once)."""
    out = Path(out)
    check_out(out, config.name)
    start = time.perf_counter()
    with RunLock(out, config.name):
        result = fit_physics(config)
        return _write(out / config.name, result, total_seconds=time.perf_counter() - start)


def physics_metrics(result: PhysicsFitted, *, total_seconds: float) -> dict[str, Any]:
    """metrics.json of a physics-informed run."""
    f, history = result.fitted, result.fitted.history
    last = history[-1] if history else {}
    return {"kind": "physics-informed", "problem": f.problem.name, "equation": f.problem.equation,
            "constraints": "hard" if f.hard else "soft", "seed": result.config.seed,
            "test": result.check.metrics(),
            "final": {k: last.get(k) for k in ("loss", "residual", "conditions")},
            "evaluations": {stage: sum(row["stage"] == stage for row in history) for stage in ("adam", "lbfgs")},
            "collocation_points": int(len(f.collocation)),
            "timings": {"training_seconds": f.seconds, "total_seconds": total_seconds},
            "versions": versions(), "environment": result.trained_on}


def physics_model_document(result: PhysicsFitted) -> dict[str, Any]:
    """model.json: the MLP's spec and how the solution is built around it (enough to rebuild, nothing to run)."""
    p = result.fitted.problem
    return {"format": PHYSICS_RUN_FORMAT, "model": spec_of(result.fitted.network), "problem": p.name,
            "physics": result.config.physics, "constraints": "hard" if result.fitted.hard else "soft",
            "coordinates": list(p.coordinates), "lower": list(p.lower), "upper": list(p.upper),
            "inputs": "coordinates scaled to [-1, 1] from [lower, upper]", "dtype": result.config.train.precision,
            "versions": versions()}


def _write(path: Path, result: PhysicsFitted, *, total_seconds: float) -> Path:
    """Every file of the run folder, written into a staging folder that is then published in one step."""
    with staged(path) as tmp:
        (tmp / "config.toml").write_text(result.config.toml())
        metrics = physics_metrics(result, total_seconds=total_seconds)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        pd.DataFrame(result.fitted.history).to_csv(tmp / "history.csv", index=False)
        spreadsheet_safe(result.check.frame()).to_csv(tmp / "predictions.csv", index=False)
        state = {k: v.detach().cpu().contiguous() for k, v in result.fitted.network.state_dict().items()}
        save_file(state, tmp / "model.safetensors")
        (tmp / "model.json").write_text(json.dumps(physics_model_document(result), indent=2))
        if result.config.report.html:
            _report(tmp / "report.html", result, metrics)
    return path


def _report(path: Path, result: PhysicsFitted, metrics: dict[str, Any]) -> None:
    """report.html: the equation, the error, the solution against the exact one, and the loss history."""
    f, check = result.fitted, result.check
    figures = [("the fitted solution beside the exact one, on the evaluation grid",
                figure_to_data_uri(solution_figure(check, f.problem.equation)))]
    figures.append(("the loss at every evaluation (Adam, then L-BFGS with its line-search trials)",
                    figure_to_data_uri(history_figure(f.history))))
    form = ("the conditions are built into the solution (an ansatz), so only the equation's residual is trained"
            if f.hard else "the conditions' squared residuals are added to the loss (soft constraints)")
    text = (f"<p>The network u solves {escape(f.problem.equation)} by its residual at {len(f.collocation)} fixed "
            f"collocation points; {form}. The error is measured on a grid of {' x '.join(map(str, check.shape))} "
            "points, not the collocation points.</p>")
    summary = {"equation": f.problem.equation, "coordinates": ", ".join(f.problem.coordinates),
               "collocation points": len(f.collocation), "evaluation grid": " x ".join(map(str, check.shape)),
               "loss evaluations": metrics["evaluations"]}
    errors = {k: v for k, v in check.metrics().items() if k in ("relative_l2", "max_abs_error") and v is not None}
    write_report(path, title=f"Physics-informed run: {result.config.name}", config_toml=result.config.toml(),
                 data_summary=summary, metrics={"test": {**errors, "final loss": metrics["final"]["loss"]}},
                 figures=figures, sections=[Section(title="Physics-informed training", html=text)])
