"""Segment definitions, their condition language, and the live registry (pure)."""

from traitflow.segments.conditions import Condition, build_condition
from traitflow.segments.definition import Segment, load_segments, segment_from_spec
from traitflow.segments.registry import Registry

__all__ = [
    "Condition",
    "Registry",
    "Segment",
    "build_condition",
    "load_segments",
    "segment_from_spec",
]
