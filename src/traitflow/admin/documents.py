"""The admin API's JSON bodies, built from profiles and definitions (pure functions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import ProfileContext, explain
from traitflow.segments.features import CountFeature
from traitflow.timeutil import iso_from_ms


def profile_document(
    person: str, profile: Profile, registry: Registry, now_ms: int
) -> dict[str, Any]:
    """Traits, built-ins, event state, memberships, and computed traits evaluated now."""
    context = ProfileContext(profile, registry, now_ms)
    computed = {key: context.computed(key) for key in sorted(registry.computed)}
    activity = _activity(profile, registry, now_ms)
    return {"person": person, **asdict(profile), "computed": computed, "activity": activity}


def _activity(profile: Profile, registry: Registry, now_ms: int) -> list[dict[str, Any]]:
    """The events live segments count, readable: no event history is stored, only these."""
    found = []
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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """One cluster-wide document from each worker's local one (each partition once)."""
    by_partition: dict[int, Counter[str]] = {}
    for document in documents:
        for partition, counted in document.get("by_partition", {}).items():
            by_partition.setdefault(int(partition), Counter(counted))
    return counts_document(registry, by_partition, partitions)
