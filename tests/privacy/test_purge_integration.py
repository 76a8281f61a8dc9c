"""A deletion removes the dead letters that name the person from the dead-letter topic
itself (Apache Kafka: re-append the others, then DeleteRecords); the embedded broker,
which cannot delete records, says so and leaves them to the admin API's redaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import membership_events, read_records, send_messages
from tests.support.messages import message as spec
from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.broker.partitioner import partition_of
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.ingest.records import header_text
from traitflow.privacy.purge import REQUEUED_HEADER
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)


def refused(user: str, n: int) -> dict[str, object]:
    """A message the worker dead-letters (traits that are no object), naming ``user``."""
    return spec("identify", f"2026-11-23T08:{n:02}:00Z", f"bad-{n}", userId=user, traits="x")


async def dead_letters(settings: Settings) -> list[tuple[str, str]]:
    async with reader(settings, settings.topics.deadletter) as consumer:
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    return [(record.value.decode(), header_text(record.headers, REQUEUED_HEADER))
            for record in records]  # fmt: skip


async def test_deleting_a_person_purges_their_dead_letters(
    settings: Settings, tmp_path: Path
) -> None:
    other = next(f"bob{n}" for n in range(100)
                 if partition_of(f"bob{n}".encode(), 2) == partition_of(b"ada", 2))  # fmt: skip
    await apply_definitions(settings, [TRIAL])
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await send_messages(
            settings,
            spec("identify", "2026-11-23T07:00:00Z", "m0", userId="ada", traits={"plan": "trial"}),
            refused(other, 1), refused("ada", 2), refused(other, 3),
        )  # fmt: skip
        await membership_events(settings, 1)
        await read_records(settings, settings.topics.deadletter, 3)
        answer = await asyncio.to_thread(run_cli, settings, "people", "delete", "ada")
        assert answer.exit_code == 0, answer.output
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
    left = await dead_letters(settings)
    if settings.embedded:
        assert "stay on the embedded broker" in answer.output
        assert len(left) == 3
        return
    assert "dead letters naming deleted people removed: 1 (1 others re-appended" in answer.output
    assert not any('"ada"' in value for value, _ in left), left
    assert sorted(origin for value, origin in left if other in value) == [
        "",
        f"{partition_of(b'ada', 2)}/0",
    ]
