"""The admin API's JSON bodies, built from profiles and definitions (pure functions).

Each body is a ``TypedDict``: mypy checks that the builders below fill it, and the OpenAPI
document (``traitflow.admin.openapi``) is generated from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic reads it on Python < 3.12
)

from pydantic import Field
from typing_extensions import TypedDict

from traitflow.privacy.audit import Audit
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import ProfileContext, explain
from traitflow.segments.features import CountFeature
from traitflow.timeutil import iso_from_ms


class Error(TypedDict):
    """What went wrong: a code for programs, a sentence for people."""

    error: str
    message: str


class Health(TypedDict):
    status: str


class Activity(TypedDict):
    """One event that live segments count: the count now, its window, the latest times."""

    event: str | None
    types: list[str]
    count: int
    within_ms: int | None
    recent: list[str]


MERGED = "Present when the id asked for was merged into this person."


class ProfileView(TypedDict):
    """What a profile adds to its stored fields: computed traits evaluated now, the event
    state live segments count (no other event history is kept), the id asked for."""

    person: Annotated[str, Field(description="The canonical id.")]
    requested: NotRequired[
        Annotated[
            str, Field(description="Present when the id asked for was merged into this person.")
        ]
    ]
    computed: dict[str, Any]
    activity: list[Activity]


class ExplanationView(TypedDict):
    """Why a person is or is not in a segment, condition by condition."""

    person: str
    segment: str
    member: Annotated[bool, Field(description="Recorded membership.")]
    matches_now: Annotated[bool, Field(description="The condition evaluated now.")]
    explanation: dict[str, Any]
    lines: list[str]


class SegmentCount(TypedDict):
    key: str
    name: str
    rev: str
    members: Annotated[int, Field(ge=0)]


class Partitions(TypedDict):
    counted: list[int]
    missing: list[int]


class Counts(TypedDict):
    """Members per live segment over the partitions counted, and which are missing."""

    segments: list[SegmentCount]
    partitions: Partitions
    by_partition: dict[str, dict[str, int]]


class DeletionView(TypedDict):
    request: str
    status: Literal["done", "accepted"]
    audit: NotRequired[Audit]


def profile_document(
    person: str, profile: Profile, registry: Registry, now_ms: int
) -> dict[str, Any]:
    """Traits, built-ins, event state, memberships, and computed traits evaluated now."""
    context = ProfileContext(profile, registry, now_ms)
    view: ProfileView = {
        "person": person,
        "computed": {key: context.computed(key) for key in sorted(registry.computed)},
        "activity": _activity(profile, registry, now_ms),
    }
    return {**asdict(profile), **view}


def _activity(profile: Profile, registry: Registry, now_ms: int) -> list[Activity]:
    """The events live segments count, readable: no event history is stored, only these."""
    found: list[Activity] = []
    for feature_id, state in profile.features.items():
        feature = registry.feature(feature_id)
        if not isinstance(feature, CountFeature):
            continue
        moments = sorted(state, reverse=True) if isinstance(state, list) else []
        found.append(
            {
                "event": feature.matcher.name,
                "types": list(feature.matcher.types),
                "count": feature.count(state, now_ms),
                "within_ms": feature.window.last_ms,
                "recent": [iso_from_ms(at) for at in moments[:5]],
            }
        )
    return sorted(found, key=lambda entry: (str(entry["event"]), entry["types"]))


def explanation_document(
    person: str, profile: Profile, registry: Registry, segment: str, now_ms: int
) -> ExplanationView:
    """Whether the person is recorded a member, and each condition's verdict now."""
    explanation = explain(profile, registry, segment, now_ms)
    return {
        "person": person,
        "segment": segment,
        "member": profile.is_member(segment),
        "matches_now": explanation.result,
        "explanation": asdict(explanation),
        "lines": explanation.lines(),
    }


def counts_document(
    registry: Registry, by_partition: Mapping[int, Counter[str]], partitions: int
) -> Counts:
    """Members per live segment over the partitions counted, and which are missing."""
    totals: Counter[str] = Counter()
    for counted in by_partition.values():
        totals.update(counted)
    counted_partitions = sorted(by_partition)
    return {
        "segments": [
            {"key": s.key, "name": s.name, "rev": s.rev, "members": totals.get(s.key, 0)}
            for s in registry.all()
        ],
        "partitions": {
            "counted": counted_partitions,
            "missing": sorted(set(range(partitions)) - set(counted_partitions)),
        },
        "by_partition": {str(p): dict(c) for p, c in sorted(by_partition.items())},
    }


def merge_counts(
    registry: Registry, documents: Iterable[Mapping[str, Any]], partitions: int
) -> Counts:
    """One cluster-wide document from each worker's local one (each partition once)."""
    by_partition: dict[int, Counter[str]] = {}
    for document in documents:
        for partition, counted in document.get("by_partition", {}).items():
            by_partition.setdefault(int(partition), Counter(counted))
    return counts_document(registry, by_partition, partitions)
