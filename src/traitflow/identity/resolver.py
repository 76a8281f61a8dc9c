"""The identity protocol between partitions, as pure steps over two co-partitioned tables.

``identities`` maps an id to the id it now resolves to (absent: the id is its own person,
or unknown). ``profiles`` holds a profile under its canonical id. A record keyed by an id
whose entry points elsewhere is forwarded there, so a person's messages all reach one
profile, on whatever partition it lives.

Links travel as identity changes on the events topic, keyed by the id they are about, so each
step reads and writes only its own partition:

1. ``Link(id, canonical)``: a processed message named ``id``. Unknown ids point to the
   canonical one (or, if better, become it); an id of another person starts a merge.
2. ``MergeInto(loser, survivor)``: the loser's partition ships its profile to the survivor
   and points the loser at it; messages for it are forwarded from then on.
3. ``Absorb(survivor, profile)``: the survivor's partition merges the profile and
   reconciles memberships. A survivor absorbed meanwhile forwards it further.

Every step is idempotent (a redelivered change alters nothing twice), and the survivor
of a merge depends only on the two ids (``Identifier.outranks``), so the final person does
not depend on the order links arrive in. A ``Step`` lists what to publish, then what to
write once Kafka has acknowledged it (no loss on a crash, at worst a repeat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import orjson

from traitflow.config import Settings
from traitflow.identity.ids import (
    ANONYMOUS,
    Identifier,
    JunkFilter,
    Pointer,
    message_identifiers,
    routing_identifier,
    stronger,
)
from traitflow.identity.merge import merge_profiles
from traitflow.identity.reconcile import reconcile
from traitflow.ingest.messages import Message
from traitflow.ingest.records import FORWARDED_HEADER
from traitflow.jobs import load_record
from traitflow.membership import Cause, Transition, membership_event
from traitflow.profiles import Profile
from traitflow.profiles.dedup import Dedup
from traitflow.segments import Registry
from traitflow.segments.pipeline import process

LINK, MERGE_INTO, ABSORB, UNCLAIM = "link", "merge-into", "absorb", "unclaim"
DELETE, FORGET = "delete", "forget"
IDENTITY_CHANGES = (LINK, MERGE_INTO, ABSORB, UNCLAIM, DELETE, FORGET)
DAY_MS = 24 * 3600 * 1000
CAP_REFUSAL = "identifier_cap"  # the kind of a refusal by the cap


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a step refuses part of what its record asks: for the dead-letter topic."""

    kind: str  # a metric's label
    reason: str


class IdentityView(Protocol):
    """What a step reads from its partition's tables."""

    def canonical_of(self, identifier: str) -> Pointer | None: ...
    def load(self, person: str) -> Profile | None: ...


@dataclass(frozen=True, slots=True)
class Link:
    identifier: str
    kind: str
    canonical: str
    canonical_kind: str
    count: int  # ids the canonical person has, itself included


@dataclass(frozen=True, slots=True)
class MergeInto:
    loser: str
    survivor: str
    survivor_kind: str
    count: int


@dataclass(frozen=True, slots=True)
class Absorb:
    survivor: str
    survivor_kind: str
    profile: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unclaim:
    canonical: str
    identifier: str


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the person ``identifier`` names (any of their ids), asked by ``requested_by``
    in request ``request``; ``suppress``: drop their later messages too."""

    identifier: str
    request: str
    requested_by: str
    requested_at_ms: int
    suppress: bool = False
    cause: str = "deleted"  # or "expired": removed by retention (TRAITFLOW_PROFILE_TTL_DAYS)


@dataclass(frozen=True, slots=True)
class Forget:
    """At ``identifier``'s partition: drop its pointer into ``group``, the ids of a
    deleted person (a pointer may lead to the person through an id merged earlier)."""

    identifier: str
    group: tuple[str, ...]


IdentityChange = Link | MergeInto | Absorb | Unclaim | Delete | Forget
KINDS: dict[type, str] = {
    Link: LINK, MergeInto: MERGE_INTO, Absorb: ABSORB, Unclaim: UNCLAIM, Delete: DELETE,
    Forget: FORGET,
}  # fmt: skip


def encode(change: IdentityChange) -> tuple[bytes, str, bytes]:
    """(key, change kind, value) of the record that carries ``change``."""
    key = {
        Link: lambda c: c.identifier,
        MergeInto: lambda c: c.loser,
        Absorb: lambda c: c.survivor,
        Unclaim: lambda c: c.canonical,
        Delete: lambda c: c.identifier,
        Forget: lambda c: c.identifier,
    }[type(change)](change)
    return key.encode(), KINDS[type(change)], orjson.dumps(asdict(change))


def forwarded_headers(person: Identifier) -> list[tuple[str, bytes]]:
    return [(FORWARDED_HEADER, person.kind.encode())]


def identity_rules(settings: Settings) -> IdentityRules:
    return IdentityRules(
        identity_traits=tuple(settings.identity_traits),
        junk=JunkFilter(settings.identity_junk_ids),
        max_identifiers=settings.identity_max_ids,
        trait_rules=dict(settings.identity_trait_rules),
        unset_marker=settings.unset_marker,
        dedup=Dedup(int(settings.dedup_window_s * 1000), settings.dedup_max_ids),
    )


def decode(kind: str, raw: bytes) -> IdentityChange:
    """``ValueError`` for a record whose fields are missing or of the wrong type."""
    types = {v: k for k, v in KINDS.items()}
    found: IdentityChange = load_record(types[kind], raw)
    return found


@dataclass
class Step:
    """What one record leads to: records to publish, then table writes once acknowledged.

    ``saves`` and ``removals`` carry the stored profile's due instant before the step, so
    the schedule entry can move with it.
    """

    forward: Identifier | None = None  # publish the record again, keyed by this id
    sends: list[IdentityChange] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pointers: dict[str, Pointer] = field(default_factory=dict)
    unpointed: list[str] = field(default_factory=list)  # ids that became their own person
    saves: list[tuple[Profile, int | None]] = field(default_factory=list)
    removals: list[tuple[Profile, int | None]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)  # for the dead-letter topic
    duplicate: bool = False  # a retry of a message already applied: nothing to do
    deletion: Deletion | None = None  # a deletion request carried out here
    # ids of a deleted person: their history before this record is theirs no more, so a
    # replay of the log never counts it into a later profile of the same id
    erased: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a deletion did, for its audit record (and the profile removed, if found)."""

    request: Delete
    profile: Profile | None
    due: int | None
    ids: tuple[str, ...]  # every id of the person (the requested one, if none was found)
    exited: tuple[str, ...]  # segments left


@dataclass(frozen=True, slots=True)
class IdentityRules:
    identity_traits: tuple[str, ...] = ()
    junk: JunkFilter = field(default_factory=JunkFilter)
    max_identifiers: int = 100
    trait_rules: Mapping[str, str] = field(default_factory=dict)
    unset_marker: str = "__null__"
    dedup: Dedup = field(default_factory=lambda: Dedup(DAY_MS, 1000))


class Resolver:
    def __init__(self, tables: IdentityView, registry: Registry, rules: IdentityRules) -> None:
        self.tables = tables
        self.registry = registry
        self.rules = rules
        self.max_identifiers = rules.max_identifiers

    def on_message(
        self, key: str | None, forwarded_kind: str | None, message: Message, now_ms: int,
        position: int,
    ) -> Step:  # fmt: skip
        """A message record keyed ``key``: forwarded records (``forwarded_kind`` set) are
        for the person they are keyed by; a producer's key must be the message's best id."""
        if forwarded_kind is not None and key is not None:
            return self._apply(Identifier(key, forwarded_kind), message, now_ms, position)
        routing = routing_identifier(message, self.rules.junk)
        if routing is None:
            reason = "no usable userId or anonymousId (junk identifiers only)"
            return Step(refusals=[Refusal("junk_identifier", reason)])
        if key != routing.value:
            return Step(forward=routing)
        return self._apply(routing, message, now_ms, position)

    def _apply(self, person: Identifier, message: Message, now_ms: int, position: int) -> Step:
        step = Step()
        pointer = self.tables.canonical_of(person.value)
        if pointer is not None:
            if not (stronger(person.kind, pointer.kind) and person.outranks(pointer.to)):
                step.forward = pointer.to
                return step
            # Known better now (a userId first seen as a previousId): it becomes the
            # person, and the one it pointed to merges into it.
            step.unpointed.append(person.value)
            step.sends.append(Link(pointer.to.value, pointer.to.kind, person.value,
                                   person.kind, 1))  # fmt: skip
        profile = self.tables.load(person.value)
        if profile is not None and stronger(person.kind, profile.kind):
            profile.kind = person.kind
        previous_due = profile.next_due_ms() if profile is not None else None
        if profile is not None and position <= profile.applied_position:
            step.saves.append((profile, previous_due))  # a redelivery: re-save, no events
            return step
        if profile is not None and self.rules.dedup.is_repeat(profile, message.message_id, now_ms):
            step.duplicate = True
            return step
        new = None if profile is not None else Profile(person=person.value, kind=person.kind)
        outcome = process(profile, message, self.registry, self.rules.unset_marker, now_ms, new=new)
        outcome.profile.applied_position = position
        self.rules.dedup.remember(outcome.profile, message.message_id, now_ms)
        named = message_identifiers(message, self.rules.identity_traits, self.rules.junk)
        claimed = self.claim(outcome.profile, named)
        step.sends += claimed.sends
        step.refusals = claimed.refusals
        step.events = outcome.events
        step.saves.append((outcome.profile, previous_due))
        return step

    def holder_of(
        self, key: str | None, forwarded_kind: str | None, message: Message, position: int
    ) -> str | None:
        """Reading history back: the id whose profile now holds what this message, read
        at ``position`` of this partition, changed when it was processed; None when it was
        forwarded (its copy is read where it went) or refused."""
        if forwarded_kind is not None and key is not None:
            person = key
        else:
            routing = routing_identifier(message, self.rules.junk)
            if routing is None or key != routing.value:
                return None
            person = routing.value
        pointer = self.tables.canonical_of(person)
        if pointer is None:
            return person
        if pointer.since == -1 or position < pointer.since:
            return pointer.to.value  # applied here, then the profile moved there
        return None

    def claim(self, profile: Profile, named: list[Identifier]) -> Step:
        """After a message was applied to ``profile``: link the ids it named that the
        person does not have yet (the profile is changed: it lists them)."""
        step = Step()
        for identifier in named:
            value = identifier.value
            if value == profile.person or value in profile.identities or value in profile.absorbed:
                continue  # most messages: the person's own id
            known = {profile.person, *profile.identities}
            if len(known) >= self.max_identifiers:
                reason = (
                    f"identifier cap: the person has {len(known)} identifiers, the limit "
                    f"(identity_max_ids) is {self.max_identifiers}; a new one was not linked"
                )
                step.refusals.append(Refusal(CAP_REFUSAL, reason))
                continue
            profile.identities = sorted({*profile.identities, identifier.value})
            count = len(profile.identities) + 1
            step.sends.append(
                Link(identifier.value, identifier.kind, profile.person, profile.kind, count)
            )
        return step

    def on_link(self, link: Link) -> Step:
        """At the partition of ``link.identifier``."""
        step = Step()
        canonical = Identifier(link.canonical, link.canonical_kind)
        if self._passed_on(link.identifier, canonical, link.count, step):
            return step
        profile = self.tables.load(link.identifier)
        kind = link.kind
        if profile is not None and not stronger(link.kind, profile.kind):
            kind = profile.kind
        here = Identifier(link.identifier, kind)
        if profile is not None:
            total = len(profile.identities) + 1 + link.count
            if total > self.max_identifiers:
                reason = (
                    f"identifier cap: the merge would give {total} identifiers, the limit "
                    f"(identity_max_ids) is {self.max_identifiers}"
                )
                step.refusals.append(Refusal(CAP_REFUSAL, reason))
                step.sends.append(Unclaim(link.canonical, link.identifier))
                return step
        if here.outranks(canonical):
            count = link.count + (len(profile.identities) + 1 if profile else 1)
            step.sends.append(MergeInto(link.canonical, here.value, here.kind, count))
        elif profile is not None:
            self._ship(profile, canonical, step)
        else:
            step.pointers[link.identifier] = Pointer(canonical, here.kind)
        return step

    def _passed_on(self, identifier: str, target: Identifier, count: int, step: Step) -> bool:
        """When ``identifier`` already belongs to another person, the link goes on to that
        person (unless it is ``target`` already); True when so."""
        pointer = self.tables.canonical_of(identifier)
        if pointer is None:
            return False
        if pointer.to.value != target.value:
            to = pointer.to
            step.sends.append(Link(to.value, to.kind, target.value, target.kind, count))
        return True

    def on_merge_into(self, change: MergeInto) -> Step:
        """At the loser's partition."""
        step = Step()
        survivor = Identifier(change.survivor, change.survivor_kind)
        if self._passed_on(change.loser, survivor, change.count, step):
            return step
        profile = self.tables.load(change.loser)
        if profile is None:
            step.pointers[change.loser] = Pointer(survivor, ANONYMOUS)
        else:
            self._ship(profile, survivor, step)
        return step

    def on_absorb(self, change: Absorb, now_ms: int) -> Step:
        """At the survivor's partition: merge, reconcile memberships, save."""
        step = Step()
        pointer = self.tables.canonical_of(change.survivor)
        if pointer is not None:  # the survivor itself was absorbed meanwhile
            step.sends.append(Absorb(pointer.to.value, pointer.to.kind, change.profile))
            return step
        absorbed = Profile.from_bytes(orjson.dumps(change.profile))
        survivor = self.tables.load(change.survivor) or Profile(
            person=change.survivor, kind=change.survivor_kind
        )
        if absorbed.person in survivor.absorbed:
            return step  # a redelivered absorb
        previous_due = survivor.next_due_ms()
        merged = merge_profiles(survivor, absorbed, self.registry, self.rules.trait_rules)
        merged.recent_ids = self.rules.dedup.unite(survivor.recent_ids, absorbed.recent_ids, now_ms)
        step.events = reconcile(survivor, absorbed, merged, self.registry, now_ms)
        step.saves.append((merged, previous_due))
        return step

    def on_unclaim(self, change: Unclaim) -> Step:
        step = Step()
        profile = self.tables.load(change.canonical)
        if profile is not None and change.identifier in profile.identities:
            due = profile.next_due_ms()
            profile.identities = [i for i in profile.identities if i != change.identifier]
            step.saves.append((profile, due))
        return step

    def on_delete(self, change: Delete, now_ms: int) -> Step:
        """At the partition of the id named: an id merged into another person passes the
        request on to that person; a person found leaves every segment (cause
        ``deleted``), then their profile (with its schedule entry and dedup state) is
        removed and their other ids forget them."""
        step = Step()
        pointer = self.tables.canonical_of(change.identifier)
        if pointer is not None:
            step.sends.append(replace(change, identifier=pointer.to.value))
            return step
        profile = self.tables.load(change.identifier)
        step.erased = (change.identifier,)
        if profile is None:
            step.deletion = Deletion(change, None, None, (change.identifier,), ())
            return step
        others = sorted({*profile.identities, *profile.absorbed} - {profile.person})
        ids = (profile.person, *others)
        step.sends += [Forget(other, ids) for other in others]
        cause = Cause(change.request, DELETE, kind=change.cause)
        exits = [
            Transition(key, False, membership.version + 1, now_ms)
            for key, membership in sorted(profile.memberships.items())
            if membership.member
        ]
        step.events = [
            membership_event(profile, t, cause, self.registry.segments.get(t.segment))
            for t in exits
        ]
        exited = tuple(t.segment for t in exits)
        step.deletion = Deletion(change, profile, profile.next_due_ms(), ids, exited)
        return step

    def on_forget(self, change: Forget) -> Step:
        step = Step(erased=(change.identifier,))
        pointer = self.tables.canonical_of(change.identifier)
        if pointer is not None and pointer.to.value in change.group:
            step.unpointed.append(change.identifier)
        return step

    def _ship(self, profile: Profile, survivor: Identifier, step: Step) -> None:
        """Send ``profile`` to ``survivor`` and point its ids there."""
        step.sends.append(Absorb(survivor.value, survivor.kind, asdict(profile)))
        step.pointers[profile.person] = Pointer(survivor, profile.kind)
        step.removals.append((profile, profile.next_due_ms()))
