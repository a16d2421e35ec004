"""`deepsci sweep`: hyperparameter sweeps with Optuna (issue 11)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the `deepsci` app (none yet)."""
    del app
