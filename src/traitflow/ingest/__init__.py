"""Segment-spec messages: decoding, validation, routing keys."""

from traitflow.ingest.messages import MESSAGE_TYPES, Message, parse_message, routing_key

__all__ = ["MESSAGE_TYPES", "Message", "parse_message", "routing_key"]
