"""The profile a worker keeps per person, and the rules for merging what messages say.

Traits follow "latest wins" by event time per trait, so late or replayed messages never
undo newer values; null or blank values never erase, only the configured unset marker does.
Event history is never stored: ``features`` holds only the bounded state that live
definitions need (see ``traitflow.segments.features``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from traitflow.timeutil import iso_from_ms

# Built-in traits: name -> path in a message's context.
CONTEXT_TRAITS = {
    "$os": ("os", "name"),
    "$device_type": ("device", "type"),
    "$country": ("location", "country"),
    "$city": ("location", "city"),
}


@dataclass(slots=True)
class Membership:
    """Whether the person is in a segment, and how many transitions led here."""

    member: bool
    version: int
    since_ms: int


@dataclass(slots=True)
class Profile:
    person: str
    user_id: str | None = None
    anonymous_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, int] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    memberships: dict[str, Membership] = field(default_factory=dict)
    due: dict[str, tuple[int, str]] = field(default_factory=dict)
    definitions_version: int = -1
    first_seen_ms: int = 0
    last_seen_ms: int = 0
    applied_position: int = -1  # of the last message applied (``ingest.bundles.position``)
    kind: str = "user"  # of the id it is kept under: user or anonymous (see identity.ids)
    identities: list[str] = field(default_factory=list)  # other ids resolving to it
    absorbed: list[str] = field(default_factory=list)  # profiles merged into it
    recent_ids: dict[str, int] = field(default_factory=dict)  # see ``profiles.dedup``
    replayed: dict[str, int] = field(default_factory=dict)  # see ``worker.replay``

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # orjson writes dataclasses itself, ~10x faster than asdict

    @classmethod
    def from_bytes(cls, raw: bytes) -> Profile:
        data = orjson.loads(raw)
        memberships = {key: Membership(**value) for key, value in data["memberships"].items()}
        due = {key: (int(value[0]), str(value[1])) for key, value in data["due"].items()}
        return cls(**{**data, "memberships": memberships, "due": due})

    def next_due_ms(self) -> int | None:
        """The earliest instant at which time alone may change one of the memberships."""
        return min((due for due, _ in self.due.values()), default=None)

    def is_member(self, segment: str) -> bool:
        membership = self.memberships.get(segment)
        return membership is not None and membership.member


def observe(profile: Profile, body: dict[str, Any], at_ms: int, user_id: str | None,
            anonymous_id: str | None) -> set[str]:  # fmt: skip
    """Record activity, identifiers and built-in traits; return the built-ins that changed."""
    first = profile.first_seen_ms == 0 or at_ms < profile.first_seen_ms
    profile.first_seen_ms = at_ms if first else profile.first_seen_ms
    profile.last_seen_ms = max(profile.last_seen_ms, at_ms)
    profile.user_id = profile.user_id or user_id
    profile.anonymous_id = profile.anonymous_id or anonymous_id
    derived = profile.derived
    found = {}  # the built-in instants this message moved (or never written yet)
    if first or "$first_seen" not in derived:
        found["$first_seen"] = iso_from_ms(profile.first_seen_ms)
    if at_ms == profile.last_seen_ms or "$last_seen" not in derived:
        found["$last_seen"] = iso_from_ms(profile.last_seen_ms)
    context = body.get("context")
    if context and isinstance(context, dict) and at_ms >= profile.last_seen_ms:
        for name, (outer, inner) in CONTEXT_TRAITS.items():
            section = context.get(outer)
            value = section.get(inner) if isinstance(section, dict) else None
            if isinstance(value, str) and value.strip():
                found[name] = value
    changed = {name for name, value in found.items() if derived.get(name) != value}
    derived.update(found)
    return changed


def apply_traits(
    profile: Profile, traits: dict[str, Any], at_ms: int, unset_marker: str
) -> set[str]:
    """Merge ``traits`` observed at ``at_ms``; return the names whose stored value changed."""
    changed: set[str] = set()
    for name, value in traits.items():
        if _is_blank(value) or profile.trait_times.get(name, -1) > at_ms:
            continue
        if value == unset_marker:
            if name in profile.traits:
                del profile.traits[name]
                changed.add(name)
        elif not _same(profile.traits.get(name, _MISSING), value):
            profile.traits[name] = value
            changed.add(name)
        profile.trait_times[name] = at_ms
    return changed


def join_import(profile: Profile, body: dict[str, Any]) -> str | None:
    """An identify sent by ``traitflow import`` names its import; return it if new."""
    name = value_at(body.get("context"), ("traitflow", "import"))
    if not isinstance(name, str) or name in profile.imports:
        return None
    profile.imports.append(name)
    return name


_MISSING = object()


def value_at(value: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted ``path`` inside nested dicts; None where the path stops."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _same(stored: Any, value: Any) -> bool:
    """Equal and of the same type: ``1`` becoming ``true`` is a change."""
    return type(stored) is type(value) and stored == value


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
