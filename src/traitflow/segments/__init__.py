"""Segment definitions, their condition language, indexes and incremental engine (pure)."""

from traitflow.segments.conditions import Condition, Explanation, build_condition
from traitflow.segments.definition import (
    ComputedTrait,
    Definition,
    Segment,
    computed_from_spec,
    load_definitions,
    load_segments,
    segment_from_spec,
)
from traitflow.segments.registry import Registry

__all__ = [
    "ComputedTrait",
    "Condition",
    "Definition",
    "Explanation",
    "Registry",
    "Segment",
    "build_condition",
    "computed_from_spec",
    "load_definitions",
    "load_segments",
    "segment_from_spec",
]
