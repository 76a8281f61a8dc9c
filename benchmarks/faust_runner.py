"""Runs one Faust pipeline over the benchmark topic and writes its events/s to a file.

``python benchmarks/faust_runner.py MODE N RESULT_FILE``, MODE one of ``BUILDERS``' keys;
settings come from the ``TRAITFLOW_*`` environment like any worker. Timing starts at the
first event processed, so start-up and the consumer-group join are not counted.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import orjson

from traitflow.config import Settings
from traitflow.ingest.bundles import bundle_size
from traitflow.ingest.records import record_kind
from traitflow.logs import logging_config
from traitflow.worker.app import RAW, broker_urls, create_app


class Stopwatch:
    """Counts events; writes the result once ``total`` are done, and (for runs of several
    workers sharing a topic) its progress in wall-clock time to ``<result>.progress``."""

    def __init__(self, total: int, result: Path) -> None:
        self.total, self.result = total, result
        self.progress = result.with_suffix(".progress")
        self.count, self.started, self.wall_started = 0, 0.0, 0.0

    def start(self) -> None:
        if not self.started:
            self.started, self.wall_started = time.perf_counter(), time.time()

    def tick(self, count: int = 1) -> None:
        self.start()
        self.count += count
        figures = {"count": self.count, "started": self.wall_started, "last": time.time()}
        partial = self.progress.with_suffix(".partial")  # replaced whole: never read half
        partial.write_bytes(orjson.dumps(figures))  # every batch: the last one counts
        partial.replace(self.progress)
        if self.count >= self.total and not self.result.exists():
            elapsed = time.perf_counter() - self.started
            self.result.write_text(
                orjson.dumps({"events": self.total, "seconds": elapsed}).decode()
            )


def naive_app(settings: Settings, watch: Stopwatch) -> faust.App:
    """The textbook Faust pipeline: one table read and one table write per event."""
    (settings.data_dir / "naive").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}-naive",
        broker=broker_urls(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir / "naive"),
        web_enabled=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 5,
    )
    events = app.topic(settings.topics.events, **RAW)
    profiles = app.Table(
        "profiles", key_type=bytes, value_type=bytes, partitions=settings.partitions
    )

    @app.agent(events)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            message = orjson.loads(event.value)
            profile = orjson.loads(profiles.get(event.key) or b"{}")
            profile.update(message.get("traits") or {})
            profiles[event.key] = orjson.dumps(profile)
            watch.tick()

    return app


def traitflow_app(settings: Settings, watch: Stopwatch) -> faust.App:
    """Counts the topic's messages (not the jobs and identity changes the worker sends
    itself) once their batch is acknowledged; the clock starts at the first record handled."""
    built = create_app(settings)
    handle, closed = built.handler.handle, built.batcher.closed

    async def started(*args: Any) -> int:
        watch.start()
        return await handle(*args)

    def counted(records: list[Any]) -> None:
        closed(records)
        messages = sum(
            bundle_size(r.headers) or 1 for r in records if record_kind(r.headers) is None
        )
        if messages:
            watch.tick(messages)

    built.handler.handle = started  # type: ignore[method-assign]
    built.batcher.closed = counted
    return built.app


def exactly_once_app(settings: Settings, watch: Stopwatch) -> faust.App:
    """The worker with Faust's ``processing_guarantee="exactly_once"`` (Kafka transactions,
    one producer per source partition), tried by ``exactly_once.py``; not a setting."""
    from traitflow.worker import app as worker_app

    plain = worker_app.app_config
    worker_app.app_config = lambda s: {**plain(s), "processing_guarantee": "exactly_once"}
    return traitflow_app(settings, watch)


def recovering_app(settings: Settings, watch: Stopwatch) -> faust.App:
    """The worker, timed from its first partition assignment until its tables are
    recovered from their changelogs; the result counts the profiles it then holds."""
    built = create_app(settings)
    app: Any = built.app

    @app.on_partitions_assigned.connect
    async def assigned(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        watch.start()

    @app.task
    async def timed() -> None:
        await app.tables.recovery.completed.wait()
        elapsed = time.perf_counter() - watch.started
        owned = sorted({tp.partition for tp in app.assignor.assigned_actives()})
        profiles = sum(built.handler.store.profile_count(p) for p in owned)
        figures = {"profiles": profiles, "seconds": elapsed}
        watch.result.write_bytes(orjson.dumps(figures))

    return built.app


BUILDERS: dict[str, Callable[[Settings, Stopwatch], faust.App]] = {
    "naive": naive_app,
    "traitflow": traitflow_app,
    "traitflow-exactly-once": exactly_once_app,
    "recover": recovering_app,
}


def main() -> None:
    mode, total, result = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    settings = Settings()
    watch = Stopwatch(total, result)
    build = BUILDERS[mode]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    faust.Worker(
        build(settings, watch),
        loop=loop,
        loglevel=settings.log_level,
        logging_config=logging_config(settings),  # as `traitflow worker` runs
        quiet=True,
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
