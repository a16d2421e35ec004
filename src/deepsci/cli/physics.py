"""`deepsci fit` of a physics-informed config (`[train] physics`): fit, write the run folder, print the error.

A thin face over deepsci.physics_run; `deepsci fit` hands such a config here (deepsci.config.load_fit_config).
"""

from __future__ import annotations

from pathlib import Path

from deepsci.config.physics import PhysicsConfig
from deepsci.errors import ConfigError


def fit_physics_config(config: PhysicsConfig, out: Path, *, quiet: bool, resume: bool, nproc: int) -> None:
    """Fit the equation of `config` into `out/<name>/`, then print its errors (or only the folder, with quiet)."""
    if resume or nproc > 1:
        option = "--resume" if resume else f"--nproc {nproc}"
        raise ConfigError(f"{option} does not apply to a physics-informed run (train.physics = "
                          f"'{config.train.physics}'): it trains in one process in seconds and keeps no checkpoint. "
                          f"Run `deepsci fit` without {option.split()[0]}.")
    from deepsci.physics_run import run_physics

    path = run_physics(config, out)
    if quiet:
        print(path)
        return
    import json

    metrics = json.loads((path / "metrics.json").read_text())
    error, worst = metrics["test"]["relative_l2"], metrics["test"]["max_abs_error"]
    print(f"{metrics['equation']}")
    if error is not None:
        print(f"relative L2 error {error:.3g}, largest absolute error {worst:.3g} on a "
              f"{' x '.join(map(str, metrics['test']['grid']))} grid")
    print(f"final loss {metrics['final']['loss']:.3g} after {sum(metrics['evaluations'].values())} loss evaluations")
    print(f"run folder: {path}")
    if (path / "report.html").exists():
        print(f"report: {path / 'report.html'}")
