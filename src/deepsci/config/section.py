"""The base of every config section, and the name check the sections share."""

from __future__ import annotations

import difflib
from typing import Sequence

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_name(kind: str, value: str, known: Sequence[str]) -> str:
    """`value` if it is one of `known`, else a ValueError naming the nearest known name and all of them."""
    if value not in known:
        close = difflib.get_close_matches(value, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown {kind} '{value}'{hint}; known: {', '.join(known)}")
    return value
