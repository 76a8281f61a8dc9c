"""Errors raised by traitflow.

TraitflowError
 ├── ConfigError            settings that cannot work together
 ├── BrokerError            the Kafka broker cannot be started or reached
 ├── InvalidMessage         a Segment-spec message fails validation (goes to dead-letter)
 └── InvalidDefinition      a segment definition is refused at apply time
"""


class TraitflowError(Exception):
    """Root of every error traitflow raises on purpose."""


class ConfigError(TraitflowError):
    """Settings are missing or contradict each other."""


class BrokerError(TraitflowError):
    """The broker cannot be started, reached, or asked to create topics."""


class InvalidMessage(TraitflowError):
    """A message cannot be processed; ``reason`` is what the dead-letter record carries,
    ``kind`` one of a few names for it (a metric's label: never parsed from the text)."""

    def __init__(self, reason: str, kind: str = "invalid_message") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class InvalidDefinition(TraitflowError):
    """A segment definition is invalid; the message names the field and the problem."""


class UnreadableRecord(TraitflowError, ValueError):
    """A record of a feed whose content cannot be used: skipped, counted and logged with
    its reason (no traceback: the record is the fault, not the code)."""
