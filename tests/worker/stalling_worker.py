"""``traitflow worker``, plus what the embedded broker's stall does to it: once ready, its
consumer stops fetching the events partitions it was given (they stay assigned, paused
in aiokafka, as partitions of a group left at an unchanged generation stay unfetched).
Run as ``python -m tests.worker.stalling_worker`` with the usual ``TRAITFLOW_*`` variables.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka.structs import TopicPartition

from traitflow.broker.serve import prepare
from traitflow.config import Settings
from traitflow.logs import logging_config
from traitflow.worker.app import create_app

log = logging.getLogger("stalling_worker")


def main() -> None:
    settings = Settings()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(prepare(settings))
    app = create_app(settings).app
    app.task(_stall_once(app, settings.topics.events))
    faust.Worker(
        app, loop=loop, loglevel="info", logging_config=logging_config(settings)
    ).execute_from_commandline()


def _stall_once(app: Any, topic: str) -> Any:
    async def stall() -> None:
        while not (app.tables.recovery.completed.is_set() and _owned(app, topic)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the agent is running and the group settled
        partitions = [TopicPartition(topic, p) for p in _owned(app, topic)]
        thread = app.consumer._thread

        async def pause() -> None:
            thread._ensure_consumer().pause(*partitions)

        await thread.call_thread(pause)
        log.warning("STALLED: no longer fetching %s", partitions)

    return stall


def _owned(app: Any, topic: str) -> list[int]:
    return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


if __name__ == "__main__":
    main()
