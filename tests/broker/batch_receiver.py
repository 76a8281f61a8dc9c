"""A Faust app on ``traitflow.broker.delivery``: it subscribes the events topic and writes
each delivery it receives (partition and offset of every record) as a line of JSON to the
file named by ``RECEIVED``, acknowledging them. Run as ``python -m tests.broker.batch_receiver``
with the usual ``TRAITFLOW_*`` variables."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import orjson

from traitflow.broker.delivery import deliver_in_batches
from traitflow.config import Settings
from traitflow.worker.app import RAW, broker_urls


def main() -> None:
    settings = Settings()
    received = Path(os.environ["RECEIVED"])
    app = faust.App(f"{settings.app_id}-receiver", broker=broker_urls(settings),
                    web_enabled=False, autodiscover=False,
                    consumer_auto_offset_reset="earliest",
                    broker_commit_interval=0.2, datadir=str(settings.data_dir),
                    broker_session_timeout=settings.session_timeout_s,
                    broker_heartbeat_interval=settings.session_timeout_s / 5)  # fmt: skip
    topic = app.topic(settings.topics.events, partitions=settings.partitions, **RAW)

    async def receive(
        records: list[Any], acked: Callable[[Any], object], active: Callable[[], bool]
    ) -> None:
        line = [[record.partition, record.offset] for record in records]
        with received.open("ab") as out:
            out.write(orjson.dumps(line) + b"\n")
        for record in records:
            acked(record)

    deliver_in_batches(app, settings.topics.events, receive)

    @app.agent(topic)
    async def subscribe(stream: Any) -> None:
        async for _ in stream:  # never reached: the topic's records go to ``receive``
            raise AssertionError("a record reached the stream")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    faust.Worker(app, loop=loop, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
