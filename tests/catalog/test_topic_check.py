"""What `traitflow topics check` says of topics below production, from the facts alone."""

from __future__ import annotations

from traitflow.catalog.topic_check import DAY_MS, TopicFacts, findings, longest_reach_ms
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

NOW = 1_795_435_200_000


def production(settings: Settings) -> dict[str, TopicFacts]:
    topics = settings.topics
    return {
        name: TopicFacts(name, 3, 2, "compact" if name in topics.compacted else "delete",
                         None if name != topics.events else 400 * DAY_MS)
        for name in topics.every
    }  # fmt: skip


def test_a_production_setup_has_nothing_to_say() -> None:
    settings = Settings(topic_prefix="p")
    assert findings(settings, production(settings), 90 * DAY_MS) == []


def test_each_shortfall_is_one_line_saying_what_to_change() -> None:
    settings = Settings(topic_prefix="p")
    facts = production(settings)
    topics = settings.topics
    facts[topics.membership] = TopicFacts(topics.membership, 1, 1, "delete", None)
    facts[topics.deadletter] = TopicFacts(topics.deadletter, 3, 1, "delete", None)
    profiles = topics.changelogs[0]
    facts[profiles] = TopicFacts(profiles, 3, 2, "delete", None)
    facts[topics.events] = TopicFacts(topics.events, 3, 2, "delete", 7 * DAY_MS)
    del facts[topics.audit]
    del facts[topics.changelogs[1]]  # a worker makes it at its first start: not missing
    lines = findings(settings, facts, 30 * DAY_MS)
    assert len(lines) == 5, lines
    assert lines[0].startswith("p-membership: replication factor 1, below 3")
    assert "min.insync.replicas 1, below 2" in lines[1] and lines[1].startswith("p-deadletter")
    assert lines[2].startswith("p-audit: missing")
    assert lines[3].startswith(f"{profiles}: cleanup.policy delete, not compact")
    assert lines[4] == (
        "p-events: retention.ms keeps 7 days, and a live window reaches back 30 days: a "
        f"replay counts only what is kept (raise retention.ms to at least {30 * DAY_MS})"
    )
    assert "all time" in findings(settings, {topics.events: facts[topics.events]}, None)[-1]


def test_the_reach_of_the_live_windows() -> None:
    within = {"last": 30, "unit": "days"}
    last_30 = segment_from_spec(
        {"key": "a", "condition": {"event": "Visit", "count": {"at_least": 1}, "within": within}}
    )
    ever = segment_from_spec(
        {"key": "b", "condition": {"event": "Visit", "count": {"at_least": 1}}}
    )
    traits = segment_from_spec({"key": "c", "condition": {"trait": "plan", "op": "=", "value": 1}})
    assert longest_reach_ms([traits], NOW) == 0
    assert longest_reach_ms([traits, last_30], NOW) == 30 * DAY_MS
    assert longest_reach_ms([last_30, ever], NOW) is None
