"""Prometheus metrics of a worker, served with Faust's own sensors at ``/metrics``.

Each worker application has its own registry (agent tests build several in one process).
Labels are bounded: message types, reason kinds, segment keys and directions; never people.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REASON_KINDS = (
    ("not JSON", "not_json"),
    ("not a JSON object", "not_an_object"),
    ("unknown type", "unknown_type"),
    ("unknown command", "unknown_command"),
    ("missing userId and anonymousId", "no_identifier"),
    ("message too large", "too_large"),
    ("in the future", "future_timestamp"),
    ("invalid timestamp", "invalid_timestamp"),
    ("internal error", "internal_error"),
    ("invalid", "invalid_message"),
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def reason_kind(reason: str) -> str:
    """A dead-letter reason as one of a few label values."""
    for text, kind in REASON_KINDS:
        if text in reason:
            return kind
    return "other"


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "traitflow_messages",
            "Messages processed from the events topic, by Segment type.",
            ["type"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "traitflow_dead_letters",
            "Records sent to the dead-letter topic, by kind of reason.",
            ["reason"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "traitflow_membership_transitions",
            "Membership events published, by segment and direction.",
            ["segment", "direction"],
            registry=self.registry,
        )
        self.evaluation = Histogram(
            "traitflow_evaluation_seconds",
            "Time to apply one message to its profile and decide memberships.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.end_to_end = Histogram(
            "traitflow_end_to_end_seconds",
            "From a message's timestamp to its membership events being acknowledged.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

    def published(self, events: list[dict[str, object]]) -> None:
        for event in events:
            direction = "entered" if event["type"] == "audience.entered" else "exited"
            self.transitions.labels(str(event["segment"]), direction).inc()
