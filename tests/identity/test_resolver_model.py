"""Property: the identity protocol ends, whatever the order, where a pure model says.

A simulated cluster of three partitions runs the real ``Resolver`` steps. Each partition
has its own tables and FIFO queue. Hypothesis picks the messages (identify, track and
alias over a few userIds, anonymousIds and emails), the order in which partitions take
their next record, and which identity changes are delivered twice. When every queue is empty:

- the model says which ids form one person (union-find over the ids each message names)
  and which id is canonical (the best by ``Identifier.outranks``);
- every id of a person resolves to that canonical id, which alone holds a profile;
- that profile equals all the person's messages folded into one profile (traits, event
  state, first/last seen, identities, memberships);
- a consumer applying every membership event in order never sees a second ``entered``
  or the end of a membership that did not exist, and ends holding exactly the members;
- every partition wrote only keys of its own partition.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from traitflow.broker.partitioner import partition_of
from traitflow.identity.ids import (
    ANONYMOUS,
    Identifier,
    Pointer,
    message_identifiers,
    routing_identifier,
    stronger,
)
from traitflow.identity.resolver import (
    Absorb,
    Delete,
    Deletion,
    Forget,
    IdentityChange,
    IdentityRules,
    Link,
    MergeInto,
    Resolver,
    Step,
    Unclaim,
    encode,
)
from traitflow.ingest.messages import Message, parse_message
from traitflow.profiles import Profile
from traitflow.segments import Registry, computed_from_spec, segment_from_spec
from traitflow.segments.pipeline import process
from traitflow.timeutil import iso_from_ms

PARTITIONS = 3
BASE = 1_795_420_800_000
NOW = BASE + 100 * 3_600_000
USERS = ["u-ada", "u-bob", "u-cy"]
ANONYMOUS_IDS = ["a-1", "a-2", "a-3", "a-4"]
EMAILS = ["ada@example.com", "bob@example.com"]
RULES = IdentityRules(identity_traits=("email",), max_identifiers=100)


def registry() -> Registry:
    found = Registry()
    for spec in (
        {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}},
        {
            "key": "pricing-twice",
            "condition": {"event": "Pricing Viewed", "count": {"at_least": 2}},
        },
        {"key": "anonymous-only", "condition": {"not": {"trait": "plan", "op": "exists"}}},
    ):
        found.put(segment_from_spec(spec))
    views = {"key": "views", "event": "Pricing Viewed", "aggregate": "count"}
    found.put(computed_from_spec({**views, "within": {"last": 7, "unit": "days"}}))
    return found


@dataclass
class Partition:
    identities: dict[str, Pointer] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)

    def canonical_of(self, identifier: str) -> Pointer | None:
        return self.identities.get(identifier)

    def load(self, person: str) -> Profile | None:
        found = self.profiles.get(person)
        return Profile.from_bytes(found.to_bytes()) if found else None


@dataclass
class Record:
    key: str
    offset: int
    message: Message | None = None
    forwarded_kind: str | None = None
    change: IdentityChange | None = None


class Cluster:
    def __init__(self) -> None:
        self.registry = registry()
        self.partitions = [Partition() for _ in range(PARTITIONS)]
        self.queues: list[deque[Record]] = [deque() for _ in range(PARTITIONS)]
        self.offsets = [0] * PARTITIONS
        self.events: list[dict[str, Any]] = []
        self.deletions: list[Deletion] = []

    def enqueue(self, key: str, **fields: Any) -> None:
        partition = partition_of(key.encode(), PARTITIONS)
        self.offsets[partition] += 1
        self.queues[partition].append(Record(key, self.offsets[partition], **fields))

    def produce(self, message: Message) -> None:
        routing = routing_identifier(message, RULES.junk)
        assert routing is not None
        self.enqueue(routing.value, message=message)

    def run(self, pending: list[Message], schedule: list[int], duplicates: set[int]) -> None:
        """Produce ``pending`` in order, interleaved with the partitions' work: each turn,
        ``schedule`` picks the producer or a partition with a record waiting."""
        pending = list(pending)
        taken = 0
        while pending or any(self.queues):
            pick = schedule[taken % len(schedule)] if schedule else taken
            busy = [p for p in range(PARTITIONS) if self.queues[p]]
            actors = [*busy, -1] if pending else busy
            partition = actors[pick % len(actors)]
            if partition == -1:
                self.produce(pending.pop(0))
                taken += 1
                continue
            record = self.queues[partition].popleft()
            self.take(partition, record)
            if record.change is not None and taken in duplicates:
                self.take(partition, record)  # at-least-once: delivered again
            taken += 1
            assert taken < 5_000, "the protocol does not settle"

    def take(self, partition: int, record: Record) -> None:
        tables = self.partitions[partition]
        resolver = Resolver(tables, self.registry, RULES)
        if record.message is not None:
            step = resolver.on_message(
                record.key, record.forwarded_kind, record.message, NOW, record.offset
            )
        else:
            step = _dispatch(resolver, record.change)
        self.apply(partition, record, step)

    def apply(self, partition: int, record: Record, step: Step) -> None:
        assert not step.refusals, step.refusals
        if step.forward is not None:
            forward = step.forward
            self.enqueue(forward.value, message=record.message, forwarded_kind=forward.kind)
        for change in step.sends:
            key, _, _ = encode(change)
            self.enqueue(key.decode(), change=change)
        self.events.extend(step.events)
        entered = {e["segment"] for e in step.events if e["type"] == "audience.entered"}
        moved = {e["segment"] for e in step.events if e["type"] == "audience.merged"}
        assert not entered & moved, ("a member under the absorbed id entered again", step)
        tables = self.partitions[partition]
        for identifier, pointer in step.pointers.items():
            assert partition_of(identifier.encode(), PARTITIONS) == partition
            tables.identities[identifier] = pointer
        for identifier in step.unpointed:
            assert partition_of(identifier.encode(), PARTITIONS) == partition
            del tables.identities[identifier]
        for profile, _ in step.saves:
            assert partition_of(profile.person.encode(), PARTITIONS) == partition
            tables.profiles[profile.person] = profile
        for profile, _ in step.removals:
            assert partition_of(profile.person.encode(), PARTITIONS) == partition
            del tables.profiles[profile.person]
        if step.deletion is not None and step.deletion.profile is not None:
            tables.profiles.pop(step.deletion.profile.person)
            self.deletions.append(step.deletion)

    def resolve(self, identifier: str) -> str:
        for _ in range(50):
            pointer = self.partitions[partition_of(identifier.encode(), PARTITIONS)].identities
            if identifier not in pointer:
                return identifier
            identifier = pointer[identifier].to.value
        raise AssertionError("pointer cycle")

    def profile(self, person: str) -> Profile | None:
        return self.partitions[partition_of(person.encode(), PARTITIONS)].profiles.get(person)


def _dispatch(resolver: Resolver, change: IdentityChange | None) -> Step:
    if isinstance(change, Link):
        return resolver.on_link(change)
    if isinstance(change, MergeInto):
        return resolver.on_merge_into(change)
    if isinstance(change, Absorb):
        return resolver.on_absorb(change, NOW)
    if isinstance(change, Delete):
        return resolver.on_delete(change, NOW)
    if isinstance(change, Forget):
        return resolver.on_forget(change)
    assert isinstance(change, Unclaim)
    return resolver.on_unclaim(change)


# -- the model ---------------------------------------------------------------------------


def people(messages: list[Message]) -> list[set[str]]:
    """Union-find over the ids each message names."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for message in messages:
        ids = [i.value for i in message_identifiers(message, RULES.identity_traits, RULES.junk)]
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
        find(ids[0])
    groups: dict[str, set[str]] = {}
    for x in parent:
        groups.setdefault(find(x), set()).add(x)
    return list(groups.values())


def named(message: Message) -> set[str]:
    return {i.value for i in message_identifiers(message, RULES.identity_traits, RULES.junk)}


def kinds(messages: list[Message]) -> dict[str, Identifier]:
    """Each id with the strongest kind it was named with."""
    found: dict[str, Identifier] = {}
    for message in messages:
        for i in message_identifiers(message, RULES.identity_traits, RULES.junk):
            if i.value not in found or stronger(i.kind, found[i.value].kind):
                found[i.value] = i
    return found


def folded(person: str, kind: str, messages: list[Message], reg: Registry) -> Profile:
    profile: Profile | None = None
    for message in sorted(messages, key=lambda m: m.timestamp_ms):
        new = Profile(person=person, kind=kind)
        profile = process(profile, message, reg, RULES.unset_marker, NOW, new=new).profile
    assert profile is not None
    return profile


# -- messages ----------------------------------------------------------------------------


def build(
    kind: str, user: str | None, anonymous: str | None, extra: dict[str, Any], hour: int
) -> dict[str, Any]:
    stamp = iso_from_ms(BASE + hour * 3_600_000)
    body: dict[str, Any] = {"type": kind, "messageId": f"m{hour}", "timestamp": stamp}
    if user:
        body["userId"] = user
    if anonymous:
        body["anonymousId"] = anonymous
    return {**body, **extra}


def traits(plan: str | None, email: str | None) -> dict[str, Any]:
    return {"traits": {k: v for k, v in (("plan", plan), ("email", email)) if v}}


identify = st.builds(
    lambda u, a, plan, email: ("identify", u, a, traits(plan, email)),
    st.one_of(st.none(), st.sampled_from(USERS)),
    st.one_of(st.none(), st.sampled_from(ANONYMOUS_IDS)),
    st.one_of(st.none(), st.sampled_from(["trial", "paid"])),
    st.one_of(st.none(), st.sampled_from(EMAILS)),
)
track = st.builds(
    lambda u, a, event: ("track", u, a, {"event": event}),
    st.one_of(st.none(), st.sampled_from(USERS)),
    st.one_of(st.none(), st.sampled_from(ANONYMOUS_IDS)),
    st.sampled_from(["Pricing Viewed", "Signed Up"]),
)
alias = st.builds(  # previousId: an anonymousId (after signup) or an older userId (chains)
    lambda previous, user: ("alias", user, None, {"previousId": previous}),
    st.sampled_from(ANONYMOUS_IDS + USERS),
    st.sampled_from(USERS),
)


def parsed(body: dict[str, Any]) -> Message:
    return parse_message(orjson.dumps(body), max_bytes=1 << 20, fallback_timestamp_ms=BASE)


messages = st.lists(st.one_of(identify, track, alias), min_size=1, max_size=14).map(
    lambda drawn: [
        parsed(build(kind, u, a, extra, hour))
        for hour, (kind, u, a, extra) in enumerate(drawn)
        if u or a
    ]
)


@settings(
    max_examples=300,
    report_multiple_bugs=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    messages,
    st.lists(st.integers(0, 3), max_size=60),
    st.sets(st.integers(0, 80), max_size=10),
)
def test_every_order_ends_in_the_model(
    drawn: list[Message], schedule: list[int], duplicates: set[int]
) -> None:
    cluster = Cluster()
    cluster.run(drawn, schedule, duplicates)
    known = kinds(drawn)
    reg = registry()
    for group in people(drawn):
        candidates = [known[i] for i in group if known[i].kind != "trait"]
        best = candidates[0]
        for candidate in candidates[1:]:
            best = candidate if candidate.outranks(best) else best
        for identifier in group:
            assert cluster.resolve(identifier) == best.value, (identifier, group)
            if identifier != best.value:
                assert cluster.profile(identifier) is None
        mine = [m for m in drawn if named(m) & group]
        expected = folded(best.value, best.kind, mine, reg)
        actual = cluster.profile(best.value)
        assert actual is not None
        assert actual.traits == expected.traits
        assert actual.trait_times == expected.trait_times
        assert actual.features == expected.features
        assert (actual.first_seen_ms, actual.last_seen_ms) == (
            expected.first_seen_ms,
            expected.last_seen_ms,
        )
        assert set(actual.identities) == group - {best.value}
        members = {k for k, m in actual.memberships.items() if m.member}
        assert members == {k for k, m in expected.memberships.items() if m.member}
    assert consumed(cluster.events) == {
        (person, key)
        for partition in cluster.partitions
        for person, profile in partition.profiles.items()
        for key, membership in profile.memberships.items()
        if membership.member
    }


def consumed(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """What a consumer of the membership topic holds after every event, in order: each
    event must make sense (no second entered, no exit or merge of a non-member)."""
    members: set[tuple[str, str]] = set()
    for event in events:
        mine = (event["person"], event["segment"])
        if event["type"] == "audience.entered":
            assert mine not in members, ("entered twice", event)
            members.add(mine)
        else:
            assert mine in members, ("ended without being a member", event)
            members.remove(mine)
        if event["type"] == "audience.merged":
            survivor = (event["merged_into"]["person"], event["segment"])
            members.add(survivor)
    return members


def test_anonymous_is_the_weaker_kind() -> None:
    assert Identifier("zz", "user").outranks(Identifier("aa", ANONYMOUS))
    assert Identifier("aa", "user").outranks(Identifier("bb", "user"))


@settings(
    max_examples=150,
    report_multiple_bugs=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(messages, st.lists(st.integers(0, 3), max_size=60), st.integers(0, 100))
def test_deleting_by_any_id_leaves_nothing_of_the_person(
    drawn: list[Message], schedule: list[int], pick: int
) -> None:
    """Every id of the person is forgotten, on every partition, and the person leaves
    each segment they were in, with cause ``deleted``."""
    assume(drawn)
    cluster = Cluster()
    cluster.run(drawn, schedule, set())
    groups = people(drawn)
    group = sorted(groups[pick % len(groups)])
    asked = group[pick % len(group)]
    before = cluster.profile(cluster.resolve(asked))
    assert before is not None
    members = sorted(key for key, m in before.memberships.items() if m.member)
    cluster.events.clear()
    cluster.enqueue(asked, change=Delete(asked, "r1", "test", NOW))
    cluster.run([], schedule, set())
    [deletion] = cluster.deletions
    assert sorted(deletion.ids) == group
    for identifier in group:
        tables = cluster.partitions[partition_of(identifier.encode(), PARTITIONS)]
        assert identifier not in tables.identities, (identifier, group)
        assert identifier not in tables.profiles, (identifier, group)
    exits = sorted((e["type"], e["segment"], e["cause"]["kind"]) for e in cluster.events)
    assert exits == [("audience.exited", key, "deleted") for key in members]
