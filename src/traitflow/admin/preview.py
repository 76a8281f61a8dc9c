"""What a definition would do before it is published: its members over the stored
profiles, and who would enter or exit against the live definition (pure functions).

Each worker previews over its own partitions (a sample when they hold many profiles) and
the answers are merged, as member counts are. Event conditions that no live definition
counts yet have no stored state: their counts are 0 until ``apply`` replays history, and
the preview names them instead of pretending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import TypedDict

from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.definition import Segment
from traitflow.segments.engine import ProfileContext
from traitflow.segments.replay import definition_features

SAMPLE_SIZE = 20


class Sampled(TypedDict):
    """How many people, and the first of them by id."""

    count: int
    sample: list[str]


class PreviewView(TypedDict):
    """A definition evaluated over the stored profiles, without publishing it."""

    segment: str
    scanned: int
    profiles: int
    fraction: float
    members: Sampled
    entering: Sampled
    exiting: Sampled
    live: bool
    new_features: list[str]
    partitions: list[int]


class Preview:
    """Tallies ``candidate`` (put in ``registry``, a checked copy of ``live``) over profiles
    given a chunk at a time: members, and the differences with the live memberships."""

    def __init__(self, candidate: Segment, registry: Registry, live: Registry, now_ms: int):
        self.candidate, self.registry, self.now_ms = candidate, registry, now_ms
        self.is_live = candidate.key in live.segments
        self.new_features = new_features(candidate, registry, live)
        self.scanned = 0
        self.members, self.entering, self.exiting = _Tally(), _Tally(), _Tally()

    def scan(self, profiles: Iterable[tuple[str, Profile]]) -> None:
        key, condition = self.candidate.key, self.candidate.condition
        for person, profile in profiles:
            self.scanned += 1
            member = condition.matches(ProfileContext(profile, self.registry, self.now_ms))
            recorded = self.is_live and profile.is_member(key)
            if member:
                self.members.add(person)
            if member and not recorded:
                self.entering.add(person)
            elif recorded and not member:
                self.exiting.add(person)

    def document(self, profiles: int, partitions: list[int]) -> PreviewView:
        """This worker's preview, given how many profiles its ``partitions`` hold."""
        held = max(profiles, self.scanned)
        return {
            "segment": self.candidate.key,
            "scanned": self.scanned,
            "profiles": held,
            "fraction": _fraction(self.scanned, held),
            "members": self.members.view(),
            "entering": self.entering.view(),
            "exiting": self.exiting.view(),
            "live": self.is_live,
            "new_features": self.new_features,
            "partitions": sorted(partitions),
        }


def new_features(candidate: Segment, registry: Registry, live: Registry) -> list[str]:
    """The events ``candidate`` counts, itself or through the computed traits it compares
    (from ``registry``), that no live definition counts: no state yet."""
    reads = definition_features(candidate)
    for kind, name in candidate.condition.deps():
        if kind == "computed" and name in registry.computed:
            reads.append(registry.computed[name].feature)
    known = live.feature_ids()
    return sorted(
        {
            f"{'/'.join(feature.matcher.types)} {feature.matcher.name or '(any)'}"
            for feature in reads
            if feature.id not in known
        }
    )


def merge_previews(documents: list[Mapping[str, Any]]) -> PreviewView:
    """One cluster-wide preview from each worker's (partitions counted once each)."""
    seen: set[int] = set()
    kept = []
    for document in documents:
        if set(document["partitions"]) & seen:
            continue
        seen.update(document["partitions"])
        kept.append(document)
    first = kept[0]
    scanned = sum(int(d["scanned"]) for d in kept)
    profiles = sum(int(d["profiles"]) for d in kept)
    return {
        "segment": first["segment"],
        "scanned": scanned,
        "profiles": profiles,
        "fraction": _fraction(scanned, profiles),
        "members": _merged(d["members"] for d in kept),
        "entering": _merged(d["entering"] for d in kept),
        "exiting": _merged(d["exiting"] for d in kept),
        "live": bool(first["live"]),
        "new_features": sorted({f for d in kept for f in d["new_features"]}),
        "partitions": sorted(seen),
    }


class _Tally:
    def __init__(self) -> None:
        self.count = 0
        self.sample: list[str] = []

    def add(self, person: str) -> None:
        self.count += 1
        self.sample.append(person)
        if len(self.sample) > 4 * SAMPLE_SIZE:  # keep the smallest ids, in bounded memory
            self.sample = sorted(self.sample)[:SAMPLE_SIZE]

    def view(self) -> Sampled:
        return {"count": self.count, "sample": sorted(self.sample)[:SAMPLE_SIZE]}


def _merged(parts: Iterable[Mapping[str, Any]]) -> Sampled:
    tallies = list(parts)
    people = sorted(person for tally in tallies for person in tally["sample"])
    return {"count": sum(int(t["count"]) for t in tallies), "sample": people[:SAMPLE_SIZE]}


def _fraction(scanned: int, profiles: int) -> float:
    return 1.0 if profiles == 0 else round(scanned / profiles, 4)
