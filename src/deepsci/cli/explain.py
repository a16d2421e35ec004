"""`deepsci explain` and `deepsci distill` (issue 15)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to the `deepsci` app (none yet)."""
    del app
