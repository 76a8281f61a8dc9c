"""Kafka plumbing: the embedded broker, topic creation, and reading a topic to its end."""

from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.topics import ensure_topics, wait_for_broker

__all__ = ["EmbeddedBroker", "ensure_topics", "wait_for_broker"]
