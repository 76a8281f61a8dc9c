"""``traitflow send``: publish a JSON-lines file of Segment-spec messages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from traitflow.broker.clients import Record
from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import Limits, parse_message, routing_key
from traitflow.ingest.publisher import publish_messages
from traitflow.timeutil import now_ms


@dataclass
class SendReport:
    sent: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def read_jsonl(
    path: Path, settings: Settings, *, check: bool = True
) -> tuple[list[Record], SendReport]:
    """Records keyed by person; with ``check``, invalid lines are refused with their number."""
    records: list[Record] = []
    report = SendReport()
    limits = Limits.of(settings)
    for number, raw in _lines(path):
        try:
            message = parse_message(
                raw,
                max_bytes=settings.max_message_bytes,
                fallback_timestamp_ms=now_ms(),
                limits=limits,
            )
            records.append((routing_key(message.body), raw))
        except InvalidMessage as exc:
            if check:
                report.rejected.append((number, exc.reason))
            else:
                records.append((None, raw))
    return records, report


async def send_file(
    path: Path, settings: Settings, *, check: bool = True, bundled: bool = False
) -> SendReport:
    """Publish the file's lines; ``bundled`` packs each partition's into few records."""
    records, report = read_jsonl(path, settings, check=check)
    keyed = [(key, value or b"") for key, value in records]
    await publish_messages(settings, settings.topics.events, keyed, bundled=bundled)
    report.sent = len(keyed)
    return report


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line.strip()
