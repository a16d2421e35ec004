"""The base of every validated spec section (the TOML's `[data]`, `[model]`, ... and their parts), and the
name check and the tagged union they share.

It sits on the ground floor, beside deepsci.tasks, so that each room can own the pydantic types of its
own section (deepsci.models.specs holds the `[model]` kinds) while deepsci.config, at the edge, only
assembles them. It imports pydantic alone.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Mapping, Sequence, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationInfo, field_validator

_NUMBER_TYPES = frozenset({int, float, bool, type(None)})


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment.

    A number or a true/false written as text (`lr = "0.01"`, `epochs = "3"`, `html = "yes"`) is an error,
    not quietly converted: quotes around a number are a typo more often than an intent, and "yes" is not
    TOML's `true`. pydantic's lax mode would convert them; its strict mode would also refuse a list for a
    tuple and text for a path, which the config needs, so only text for number-only keys is refused here.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_text_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if not isinstance(value, str) or field is None:
            return value
        admitted = _plain_types(field.annotation)
        words = {arg for t in admitted if get_origin(t) is Literal for arg in get_args(t)}  # e.g. "auto"
        others = {t for t in admitted if get_origin(t) is not Literal}
        if others and others <= _NUMBER_TYPES and value not in words:
            also = "".join(f" or {word!r}" for word in sorted(map(str, words)))
            if others <= {bool, type(None)}:
                raise ValueError(f"expected true or false{also}, got text; write true or false without quotes")
            raise ValueError(f"expected a number{also}, got text; write the number without quotes")
        return value


def _plain_types(annotation: Any) -> set[Any]:
    """The types an annotation admits, with Optional, Union and Annotated unwrapped (e.g. {float, NoneType})."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return set().union(*(_plain_types(arg) for arg in get_args(annotation)))
    return {annotation}


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
