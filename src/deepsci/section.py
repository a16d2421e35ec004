"""The base of every validated spec section (the TOML's `[data]`, `[model]`, ... and their parts), and the
name check and the tagged union they share.

It sits on the ground floor, beside deepsci.tasks, so that each room can own the pydantic types of its
own section (deepsci.models.specs holds the `[model]` kinds) while deepsci.config, at the edge, only
assembles them. It imports pydantic alone.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Mapping, Sequence, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag


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


def _field_of(value: Any, field: str, default: str | None) -> str | None:
    """The discriminating `field` of a raw dict or a validated section (`default` when it is absent)."""
    tag = value.get(field, default) if isinstance(value, dict) else getattr(value, field, default)
    return None if tag is None else str(tag)


def tagged_union(types: Mapping[str, type[BaseModel]], field: str, default: str | None, error: str,
                 message: str) -> Any:
    """A pydantic discriminated union of `types` ({tag: section type}) on `field` (`default` when a section
    leaves it out), whose error for a missing or unknown tag has type `error` and says `message`.

    Built from a registry, so the union, its error message and the registry cannot disagree:
        Block = tagged_union(BLOCK_MODELS, "type", None, "block_type", "each CNN block needs type = ...")
    """
    members = tuple(Annotated[section, Tag(tag)] for tag, section in types.items())
    return Annotated[Union[members], Discriminator(lambda v: _field_of(v, field, default),  # type: ignore[valid-type]
                                                   custom_error_type=error, custom_error_message=message)]
