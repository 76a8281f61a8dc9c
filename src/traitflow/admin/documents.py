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

from traitflow.catalog.topic import Applied
from traitflow.ingest.records import header_text
from traitflow.privacy.audit import Audit
from traitflow.privacy.forgotten import names_forgotten
from traitflow.privacy.suppressions import Suppressions
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.definition import Definition, Segment
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


PREVIEW_BYTES = 500


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


class SegmentView(TypedDict):
    """A live segment's definition, as published and as YAML for an editor."""

    key: str
    name: str
    rev: str
    spec: dict[str, Any]
    yaml: str


class DefinitionLine(TypedDict):
    key: str
    kind: Literal["segment", "computed"]
    rev: str
    change: Annotated[
        Literal["new", "changed", "unchanged"], Field(description="Against the live one.")
    ]


class CheckedView(TypedDict):
    """Definitions that would be accepted as they are."""

    definitions: list[DefinitionLine]


class ReplayView(TypedDict):
    id: str
    new_features: int
    history_from: str


class AppliedView(TypedDict):
    """Definitions published, the definitions version they make, and the replay of history
    asked for new event conditions (``segments status`` follows it)."""

    definitions: list[DefinitionLine]
    version: int
    replay: ReplayView | None
    warnings: list[str]


class DeletedView(TypedDict):
    deleted: str
    version: Annotated[int, Field(description="The definitions version the deletion made.")]


class HistoryView(TypedDict):
    """Every applied or deleted revision of a definition, oldest first."""

    key: str
    changes: list[dict[str, Any]]


class BackfillsView(TypedDict):
    """Per events partition, the definitions version its stored profiles are decided at."""

    version: int
    partitions: list[dict[str, Any]]


class RecentEventsView(TypedDict):
    """The latest membership events, newest first (see docs/membership.md for one)."""

    events: list[dict[str, Any]]


def checked_document(definitions: Iterable[Definition], live: Registry) -> CheckedView:
    return {"definitions": [_line(definition, live) for definition in definitions]}


def applied_document(lines: CheckedView, applied: Applied) -> AppliedView:
    """What was published: ``lines`` as checked against the live definitions before."""
    replay: ReplayView | None = None
    if applied.replay is not None:
        asked = applied.replay
        replay = {"id": asked.id, "new_features": len(asked.features),
                  "history_from": iso_from_ms(asked.from_ms)}  # fmt: skip
    return {
        "definitions": lines["definitions"],
        "version": applied.version,
        "replay": replay,
        "warnings": list(applied.gaps),
    }


def _line(definition: Definition, live: Registry) -> DefinitionLine:
    if isinstance(definition, Segment):
        current: Definition | None = live.segments.get(definition.key)
        kind: Literal["segment", "computed"] = "segment"
    else:
        current, kind = live.computed.get(definition.key), "computed"
    change: Literal["new", "changed", "unchanged"] = (
        "new" if current is None else "unchanged" if current.rev == definition.rev else "changed"
    )
    return {"key": definition.key, "kind": kind, "rev": definition.rev, "change": change}


class DeadLetterView(TypedDict):
    """A dead-lettered record: why, from where, and the start of its original bytes."""

    at: str
    partition: int
    offset: int
    reason: str
    source: str
    key: str | None
    bytes: int
    preview: Annotated[str, Field(description="The first bytes, as text.")]


def dead_letter_document(
    record: Any, suppressed: Suppressions | None = None, deleted: Mapping[str, int] | None = None
) -> DeadLetterView:
    """One dead letter as the console shows it. One that names a suppressed person, or a
    person deleted after it was dead-lettered (``deleted``: id hash -> when), shows
    neither its key nor its bytes."""
    value: bytes = record.value or b""
    size = header_text(record.headers, "traitflow-original-bytes")
    if names_forgotten(record, suppressed, deleted or {}):
        value, record_key = REDACTED, None
    else:
        record_key = None if record.key is None else record.key.decode(errors="replace")
    return {
        "at": iso_from_ms(record.timestamp),
        "partition": record.partition,
        "offset": record.offset,
        "reason": header_text(record.headers, "traitflow-reason"),
        "source": header_text(record.headers, "traitflow-source"),
        "key": record_key,
        "bytes": int(size) if size.isascii() and size.isdigit() and len(size) < 16 else len(value),
        "preview": value[:PREVIEW_BYTES].decode(errors="replace"),
    }


REDACTED = b"(redacted: it names a person deleted since)"


class DeadLettersView(TypedDict):
    """The latest dead-lettered records, newest first."""

    dead_letters: list[DeadLetterView]


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
