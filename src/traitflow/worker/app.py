"""The Faust adapter: an app whose one agent feeds each events record to ``EventHandler``."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import TP

from traitflow.admin.views import AdminContext, install_admin
from traitflow.broker.connection import faust_credentials, kafka_options
from traitflow.clock import Clock, clock_for
from traitflow.commands import SCANNING_COMMANDS, command_kind
from traitflow.config import Settings
from traitflow.segments import Registry
from traitflow.worker.backfill import Backfiller
from traitflow.worker.batch import Batcher
from traitflow.worker.counts import MembershipCounts, count_members
from traitflow.worker.handler import EventHandler, Origin
from traitflow.worker.metrics import StateCollector, StateReadings, WorkerMetrics, directory_bytes
from traitflow.worker.segment_feed import SegmentFeed
from traitflow.worker.sinks import Observer, ProducerSink, Sinks
from traitflow.worker.stalls import StallWatch
from traitflow.worker.state import ProfileStore
from traitflow.worker.timers import TickScheduler

log = logging.getLogger(__name__)

TIMER_BACKLOG_CAP = 100_000  # counting further would slow a scrape down
TABLES = ("profiles", "schedule", "identities")  # the order ProfileStore takes them in
RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


@dataclass(frozen=True)
class WorkerApp:
    app: faust.App
    agent: Any
    profiles: Any
    registry: Registry
    handler: EventHandler
    scheduler: TickScheduler
    batcher: Batcher


def _table(app: faust.App, settings: Settings, testing: bool, name: str) -> Any:
    options = None if testing else rocksdb_options(settings)
    return app.Table(name, key_type=bytes, value_type=bytes,
                     partitions=settings.partitions, options=options)  # fmt: skip


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Bounded memory per RocksDB database: Faust's defaults (three 64 MB memtables and a
    2 GB cache each) let twelve databases (three tables of four partitions) grow past
    any budget. Faust's store consumes the dict: a fresh one per table."""
    mib = 1 << 20
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * mib,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * mib,
    }


def broker_urls(settings: Settings) -> list[str]:
    """``tansu://`` selects the embedded-broker transport (see ``traitflow.broker.compat``)."""
    scheme = "tansu" if settings.embedded else "kafka"
    return [f"{scheme}://{host}" for host in settings.kafka_bootstrap.split(",")]


def create_app(
    settings: Settings, *, testing: bool = False, clock: Clock | None = None
) -> WorkerApp:
    """Build the worker; ``testing`` swaps Kafka outputs for channels and RocksDB for memory."""
    if not testing:
        (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    clock = clock or clock_for(settings.clock_file)
    app = faust.App(settings.app_id, **_app_config(settings, testing))
    events = app.topic(settings.topics.events, partitions=settings.partitions, **RAW)
    store = ProfileStore(*(_table(app, settings, testing, name) for name in TABLES))
    registry = Registry()
    feed = (
        None
        if testing
        else SegmentFeed(kafka_options(settings), settings.topics.segments, registry)
    )
    metrics = WorkerMetrics()
    counts = MembershipCounts(lambda partition: count_members(store.memberships_in(partition)))

    def published(partition: int, transitions: list[dict[str, Any]]) -> None:
        metrics.published(transitions)
        counts.observe(partition, transitions)

    sinks = _sinks(app, settings, testing, published, counts.drop)
    loaded = feed.loaded if feed else _loaded
    backfiller = Backfiller(registry, store, sinks, loaded, clock, metrics)
    handler = EventHandler(settings, registry, store, sinks, clock, backfiller, metrics)
    if not testing:
        handler.partitions = lambda: _events_partitions(app, settings)
    owned = _owned(app, events)
    scheduler = TickScheduler(handler.ticker, clock, settings.tick_s, owned)

    async def process(event: Any) -> int:
        message = event.message
        origin = Origin(
            message.topic, message.partition, message.offset, int(message.timestamp * 1000)
        )
        return await handler.handle(message.key, message.value, origin, message.headers)

    batcher = Batcher(
        process,
        handler.outbox,
        store,
        scans=lambda event: command_kind(event.message.headers) in SCANNING_COMMANDS,
        max_messages=1 if testing else settings.batch_max_messages,
        max_wait_s=settings.batch_max_wait_s,
        closed=lambda events: metrics.batch_records.observe(len(events)),
        failed=lambda exc: _stop_soon(app, exc),
    )

    @app.on_partitions_revoked.connect
    def forget_partition_state(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Another worker may own these partitions next: counts, offsets and the batch's
        records of those partitions start over."""
        counts.forget()
        handler.processed.clear()
        topic = events.get_topic_name()
        revoked = args[0] if args else set()
        batcher.discard({tp.partition for tp in revoked if tp.topic == topic})

    @app.agent(events, name="process-events")
    async def process_events(stream: Any) -> None:
        if feed is not None:
            await feed.ready.wait()
            freeze_startup_objects()
        manual = stream.noack()  # acked by the batcher, once the batch's writes are done
        batcher.ack = manual.ack
        batcher.idle = manual.channel.empty
        try:
            async for event in manual.events():
                await batcher.add(event)
        except Exception as exc:  # Faust would restart the agent past unacked records
            await stop_on_failure(app, exc)

    async def close_quiet_batches() -> None:
        await batcher.close_if_old()

    app.timer(interval=settings.batch_max_wait_s)(close_quiet_batches)

    if feed is not None:
        app.task(feed.run)
        app.task(scheduler.run)
        stalls = _stall_watch(app, events, handler, owned, settings, metrics)
        app.task(stalls.run)
        _serve_health_and_metrics(app, metrics, feed, stalls)
        metrics.registry.register(StateCollector(_readings(app, events, handler, store, owned)))
        recovered = _recovered(app)
        context = AdminContext(settings, store, registry, counts, owned, recovered, clock)
        install_admin(app, context)
    return WorkerApp(app, process_events, store.profiles, registry, handler, scheduler, batcher)


def freeze_startup_objects() -> None:
    """Take what start-up built (modules, Faust's services, definitions: about 100,000
    objects) out of the garbage collector's oldest generation: each full collection
    traversed them all, pausing the worker 50 to 65 ms, sometimes three times in a row
    (measured on the standard workload); with them frozen, 1 to 2 ms. Once per process:
    the agent restarts on every rebalance, and what it froze then would stay for good."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


async def stop_on_failure(app: faust.App, exc: BaseException) -> None:
    """Kafka refused a send, or processing failed outside any one message's handling:
    stop the worker (exit status 1) rather than restart the agent, which would carry on
    after records that are never acked, so their offsets, and every later one, would never
    be committed. A restarted process repeats them from the last commit."""
    log.critical("stopping the worker: %r", exc)
    await app.crash(exc)


def _stop_soon(app: faust.App, exc: BaseException) -> None:
    app.add_future(stop_on_failure(app, exc))


def _serve_health_and_metrics(
    app: faust.App, metrics: WorkerMetrics, feed: SegmentFeed, stalls: StallWatch
) -> None:
    """``/metrics`` (ours and Faust's sensors), ``/healthz`` and ``/readyz`` on the web port."""
    setup_prometheus_sensors(app, registry=metrics.registry, name_prefix="traitflow_faust")

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        """Joined the group, tables recovered, definitions loaded, no partition stalled:
        it processes events."""
        checks = {
            "group_joined": not app.rebalancing,
            "recovery_finished": _recovered(app)(),
            "definitions_loaded": feed.ready.is_set(),
            "no_partition_stalled": not stalls.stalled,
        }
        ready = all(checks.values())
        status = "ready" if ready else "stalled" if stalls.stalled else "starting"
        return view.json({"status": status, **checks, "stalled_partitions": stalls.stalled},
                         status=200 if ready else 503)  # fmt: skip


def _readings(
    app: faust.App, events: Any, handler: EventHandler, store: ProfileStore, owned: Any
) -> StateReadings:
    def timers(partition: int) -> tuple[int, float]:
        now = handler.clock.now_ms()
        first = store.first_due(partition)
        if first is None or first > now:
            return 0, 0.0
        return len(store.due(partition, now, TIMER_BACKLOG_CAP)), (now - first) / 1000

    return StateReadings(
        partitions=owned,
        lag=_lag_reader(app, events, handler),
        profiles=store.profile_count,
        timers=timers,
        disk_bytes=lambda: directory_bytes(Path(app.conf.tabledir)),
    )


def _lag_reader(app: faust.App, events: Any, handler: EventHandler) -> Callable[[int], int | None]:
    """Records of an owned events partition not processed yet; None before its first fetch."""
    topic = events.get_topic_name()

    def lag(partition: int) -> int | None:
        tp = TP(topic, partition)
        try:
            highwater = app.consumer.highwater(tp)
        except Exception:  # the consumer is not started or not assigned yet
            return None
        if highwater is None:
            return None
        return max(0, highwater - _done(app, handler, tp))

    return lag


def _done(app: faust.App, handler: EventHandler, tp: TP) -> int:
    """The offset after the last record processed (since assignment, else Faust's commit)."""
    done = handler.processed.get(tp.partition)
    if done is None:
        done = app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
    return done + 1 if done is not None else 0


def _stall_watch(
    app: faust.App, events: Any, handler: EventHandler, owned: Any, settings: Settings,
    metrics: WorkerMetrics,
) -> StallWatch:  # fmt: skip
    async def rejoin() -> None:
        """Ask the consumer (it runs in Faust's consumer thread) to rejoin the group."""
        thread: Any = app.consumer._thread  # type: ignore[attr-defined]

        async def request() -> None:
            thread._ensure_consumer()._coordinator.request_rejoin()

        await thread.call_thread(request)

    topic = events.get_topic_name()

    async def lags(partitions: list[int]) -> dict[int, int | None]:
        """From the broker's end offsets: the consumer's own stop at its last fetch."""
        ends = await app.consumer.highwaters(*(TP(topic, p) for p in partitions))
        found: dict[int, int | None] = {}
        for partition in partitions:
            end = ends.get(TP(topic, partition))
            done = _done(app, handler, TP(topic, partition))
            found[partition] = None if end is None else max(0, end - done)
        return found

    return StallWatch(
        owned=owned,
        lags=lags,
        processed=handler.processed.get,
        stall_after_s=settings.stall_after_s,
        rejoin=rejoin,
        active=_recovered(app),
        stalled=metrics.stalls.inc,
    )


def _events_partitions(app: faust.App, settings: Settings) -> int:
    """The events topic's partitions as the consumer sees them (the setting until then)."""
    try:
        seen = app.consumer.topic_partitions(settings.topics.events)
    except Exception:  # the consumer is not started yet
        seen = None
    return seen or settings.partitions


def _recovered(app: faust.App) -> Callable[[], bool]:
    """True once the tables of the current assignment are restored from their changelogs."""
    tables: Any = app.tables  # the concrete TableManager has ``recovery``
    return lambda: bool(tables.recovery.completed.is_set()) and not app.rebalancing


def _owned(app: faust.App, events: Any) -> Callable[[], list[int]]:
    """The events partitions this worker currently owns (actives, not standbys)."""

    def owned() -> list[int]:
        actives = app.assignor.assigned_actives()
        return sorted(tp.partition for tp in actives if tp.topic == events.get_topic_name())

    return owned


def _app_config(settings: Settings, testing: bool) -> dict[str, Any]:
    return {
        "broker": broker_urls(settings),
        "broker_credentials": faust_credentials(settings),
        "store": "memory://" if testing else "rocksdb://",
        "datadir": str(settings.data_dir / settings.app_id),
        "autodiscover": False,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,  # Faust binds to web_bind (default: every interface)
        "web_port": settings.web_port,
        # Faust's own pages would show profiles, ids and the cluster to anyone:
        # the admin API (behind its token) answers for them instead
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "canonical_url": settings.web_advertised_url,
        "web_enabled": not testing,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.session_timeout_s / 5,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
    }


async def _loaded(version: int) -> None:
    """Agent tests fill the registry directly: it is always up to date."""


def _sinks(
    app: faust.App,
    settings: Settings,
    testing: bool,
    published: Observer,
    removed: Callable[[int, Any], None],
) -> Sinks:
    if testing:
        events, membership, deadletter, status = (app.channel() for _ in range(4))
        return Sinks(events, membership, deadletter, status)
    topics = settings.topics
    return Sinks(
        events=ProducerSink(app, topics.events),
        membership=ProducerSink(app, topics.membership),
        deadletter=ProducerSink(app, topics.deadletter),
        status=ProducerSink(app, topics.status),
        published=published,
        removed=removed,
    )
