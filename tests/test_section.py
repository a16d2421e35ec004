"""The ground-floor section base and the tagged union built from a registry (deepsci/section.py)."""

from typing import Literal

import pytest
from pydantic import TypeAdapter, ValidationError

from deepsci.section import Section, check_name, tagged_union


class Circle(Section):
    shape: Literal["circle"] = "circle"
    radius: float = 1.0


class Square(Section):
    shape: Literal["square"] = "square"
    side: float = 1.0


SHAPES = {"circle": Circle, "square": Square}


def test_a_tagged_union_picks_the_section_of_its_tag_and_defaults_it():
    union = TypeAdapter(tagged_union(SHAPES, "shape", "circle", "shape_kind", "shape must be circle or square"))
    assert union.validate_python({"shape": "square", "side": 2}) == Square(side=2)
    assert union.validate_python({}) == Circle()  # the default tag
    assert union.validate_python(Square()) == Square()  # a validated section passes through
    with pytest.raises(ValidationError) as err:
        union.validate_python({"shape": "hexagon"})
    error = err.value.errors()[0]
    assert error["type"] == "shape_kind"
    assert error["msg"] == "shape must be circle or square"
    with pytest.raises(ValidationError, match="extra"):
        union.validate_python({"shape": "circle", "side": 2})  # a key of another section is an error


def test_without_a_default_the_tag_is_required():
    union = TypeAdapter(tagged_union(SHAPES, "shape", None, "shape_kind", "give a shape"))
    with pytest.raises(ValidationError, match="give a shape"):
        union.validate_python({"radius": 2})


def test_check_name_suggests_the_nearest_name():
    assert check_name("shape", "circle", SHAPES) == "circle"
    with pytest.raises(ValueError, match="unknown shape 'sqare' \\(did you mean 'square'\\?\\); known: circle, square"):
        check_name("shape", "sqare", tuple(SHAPES))
