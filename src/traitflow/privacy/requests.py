"""Asking for a deletion, waiting for its audit record, lifting a suppression: what the
CLI and the admin API do (the worker that owns the person carries the deletion out)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import asdict

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import producer, reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.decoding import json_object
from traitflow.identity.resolver import DELETE, Delete
from traitflow.jobs import kind_headers
from traitflow.privacy.audit import Audit
from traitflow.privacy.suppressions import Suppressions, UnreadableSuppression
from traitflow.timeutil import now_ms


async def request_deletion(
    settings: Settings, identifier: str, requested_by: str, suppress: bool
) -> str:
    """Publish a deletion request for the person ``identifier`` names; its request id."""
    request = Delete(identifier, str(uuid.uuid4()), requested_by, now_ms(), suppress)
    async with producer(settings) as client:
        await client.send_and_wait(
            settings.topics.events,
            orjson.dumps(asdict(request)),
            key=identifier.encode(),
            headers=kind_headers(DELETE),
        )
    return request.request


async def delete_person(
    settings: Settings, identifier: str, requested_by: str, suppress: bool, wait: float = 10.0
) -> tuple[Audit | None, str]:
    """Request a deletion and wait up to ``wait`` seconds for its audit record (None if
    no worker confirmed it by then; it is carried out when one runs); the request id."""
    after = await audit_end(settings)
    request = await request_deletion(settings, identifier, requested_by, suppress)
    return await wait_for_audit(settings, request, after, wait), request


async def audit_end(settings: Settings) -> int:
    """The audit topic's end offset: a request's record comes after it."""
    async with reader(settings, settings.topics.audit) as consumer:
        partition = TopicPartition(settings.topics.audit, 0)
        return int((await consumer.end_offsets([partition]))[partition])


async def wait_for_audit(
    settings: Settings, request: str, after: int, timeout: float = 60.0
) -> Audit | None:
    """The audit record of ``request`` (read from offset ``after``), or None on timeout."""
    partition = TopicPartition(settings.topics.audit, 0)
    deadline = time.monotonic() + timeout
    async with reader(settings, settings.topics.audit) as consumer:
        consumer.seek(partition, after)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(partition, timeout_ms=500)
            for record in batch.get(partition, []):
                if record.key == request.encode():
                    found = json_object(record, {"request": str})
                    if found is not None:
                        return found  # type: ignore[return-value]
            await asyncio.sleep(0)
    return None


async def lift_suppression(settings: Settings, identifier: str) -> int:
    """Tombstone the suppression of ``identifier`` and of every id deleted with it; how
    many ids were suppressed (0: ``identifier`` was not)."""
    suppressions = Suppressions()
    async with reader(settings, settings.topics.suppressions) as consumer:
        partition = TopicPartition(settings.topics.suppressions, 0)
        await consumer.seek_to_beginning(partition)
        for record in await read_to_end(consumer, [partition]):
            with contextlib.suppress(UnreadableSuppression):  # its key is kept, groupless
                suppressions.apply_one(record.key, record.value)
    group = suppressions.group_of(identifier)
    if group is None:
        return 0
    keys = suppressions.keys_of_group(group)
    async with producer(settings) as client:
        pending = [await client.send(settings.topics.suppressions, None, key=k.encode())
                   for k in keys]  # fmt: skip
        for acknowledgement in pending:
            await acknowledgement
    return len(keys)


async def deleted_ids(settings: Settings) -> dict[str, int]:
    """Every deleted id's hash, with when it was deleted (the audit record's time, ms): what
    the admin API hides from the dead letters that came before."""
    partition = TopicPartition(settings.topics.audit, 0)
    async with reader(settings, settings.topics.audit) as consumer:
        await consumer.seek_to_beginning(partition)
        records = await read_to_end(consumer, [partition])
    found: dict[str, int] = {}
    for record in records:
        audit = json_object(record, {"id_hashes": list})
        for hashed in audit["id_hashes"] if audit is not None else ():
            if isinstance(hashed, str):
                found[hashed] = max(found.get(hashed, -1), int(record.timestamp))
    return found
