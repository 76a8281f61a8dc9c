"""The profile a worker keeps per person, and the rule for merging identify traits.

Traits follow "latest wins" by event time per trait, so late or replayed messages never
undo newer values; null or blank values never erase, only the configured unset marker does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class Membership:
    """Whether the person is in a segment, and how many transitions led here."""

    member: bool
    version: int
    since_ms: int
    rev: str = ""


@dataclass(slots=True)
class Profile:
    person: str
    user_id: str | None = None
    anonymous_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, int] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)
    first_seen_ms: int = 0
    last_seen_ms: int = 0

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Profile:
        data = orjson.loads(raw)
        memberships = {key: Membership(**value) for key, value in data["memberships"].items()}
        return cls(**{**data, "memberships": memberships})

    def seen(self, at_ms: int, user_id: str | None, anonymous_id: str | None) -> None:
        """Record activity and any identifier the profile did not know yet."""
        self.first_seen_ms = min(self.first_seen_ms or at_ms, at_ms)
        self.last_seen_ms = max(self.last_seen_ms, at_ms)
        self.user_id = self.user_id or user_id
        self.anonymous_id = self.anonymous_id or anonymous_id

    def is_member(self, segment: str) -> bool:
        membership = self.memberships.get(segment)
        return membership is not None and membership.member


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


_MISSING = object()


def _same(stored: Any, value: Any) -> bool:
    """Equal and of the same type: ``1`` becoming ``true`` is a change."""
    return type(stored) is type(value) and stored == value


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
