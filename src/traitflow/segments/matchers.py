"""Which messages an event condition or computed trait looks at, and over what window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.ops import MISSING, Criterion, build_criterion, parse_time_ms, span_ms

__all__ = ["MISSING", "EventMatcher", "PropertyFilter", "Window", "build_matcher", "build_window"]
VISIT = "$visit"  # any page or screen view
ACTIVITY = "$activity"  # any page, screen or track: what sessions are made of


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    path: tuple[str, ...]
    criterion: Criterion

    def holds(self, message: Mapping[str, Any], now_ms: int) -> bool:
        return self.criterion.holds(property_value(message, self.path), now_ms)


@dataclass(frozen=True, slots=True)
class EventMatcher:
    """Messages of some types, optionally with one name, whose properties pass the filters."""

    types: tuple[str, ...]
    name: str | None
    filters: tuple[PropertyFilter, ...] = ()

    def index_keys(self) -> list[tuple[str, str | None]]:
        return [(kind, self.name) for kind in self.types]

    def matches(self, message: Mapping[str, Any], now_ms: int) -> bool:
        if message.get("type") not in self.types:
            return False
        if self.name is not None and event_name(message) != self.name:
            return False
        return self.passes(message, now_ms)

    def passes(self, message: Mapping[str, Any], now_ms: int) -> bool:
        """The property filters hold (type and name aside)."""
        return all(f.holds(message, now_ms) for f in self.filters)


@dataclass(frozen=True, slots=True)
class Window:
    """``last`` milliseconds before now (ending ``offset`` milliseconds before now: "from 14
    to 7 days ago"), or the absolute range [start, end]; neither = ever."""

    last_ms: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    offset_ms: int = 0


def event_name(message: Mapping[str, Any]) -> str | None:
    """A track's ``event``; a page's or screen's ``name``."""
    value = message.get("event") if message.get("type") == "track" else message.get("name")
    return value if isinstance(value, str) else None


def property_value(message: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """``context.*`` reads the message context; other paths read ``properties`` (then the top)."""
    if path[0] == "context":
        return _walk(message.get("context"), path[1:])
    found = _walk(message.get("properties"), path)
    return _walk(message, path) if found is MISSING else found


def build_matcher(spec: Mapping[str, Any], where: str) -> EventMatcher:
    name = spec["event"]
    types: tuple[str, ...]
    if name == VISIT:
        types, name = ("page", "screen"), None
    elif name == ACTIVITY:
        types, name = ("page", "screen", "track"), None
    else:
        types = tuple(spec.get("types", ["track"]))
    filters = []
    for i, item in enumerate(spec.get("where", [])):
        at = f"{where}.where[{i}]"
        criterion = build_criterion(
            item["op"], item.get("value"), "value" in item, item.get("unit"), at
        )
        filters.append(PropertyFilter(tuple(item["property"].split(".")), criterion))
    return EventMatcher(types, name, tuple(filters))


def build_window(spec: Mapping[str, Any] | None, where: str) -> Window:
    if not spec:
        return Window()
    unit = spec.get("unit")
    if "last" in spec:
        return Window(last_ms=span_ms(spec["last"], unit, f"{where}.within.last"))
    if "from_ago" in spec:
        since = span_ms(spec["from_ago"], unit, f"{where}.within.from_ago")
        until = span_ms(spec["to_ago"], unit, f"{where}.within.to_ago")
        if not since > until >= 0:
            raise InvalidDefinition(f"{where}.within: 'from_ago' must be more than 'to_ago'")
        return Window(last_ms=since, offset_ms=until)
    start, end = parse_time_ms(spec.get("from")), parse_time_ms(spec.get("to"))
    if start is None or end is None or start > end:
        raise InvalidDefinition(f"{where}.within: 'from' and 'to' must be ISO dates, from <= to")
    return Window(start_ms=start, end_ms=end)


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            return MISSING
        value = value[name]
    return MISSING if value is None else value
