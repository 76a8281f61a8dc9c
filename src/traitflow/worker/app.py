"""The Faust adapter: an app whose events records reach ``EventHandler`` a fetch at a time
(``traitflow.broker.delivery``), through the batcher."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from traitflow.broker.connection import faust_credentials, kafka_options
from traitflow.broker.delivery import deliver_in_batches
from traitflow.clock import Clock, clock_for
from traitflow.config import WORKER_TABLES, Settings
from traitflow.httpedge import EdgeLimits, server_tls, web_url
from traitflow.ingest.records import record_kind
from traitflow.jobs import SCANNING_JOBS
from traitflow.privacy.feed import suppression_feed
from traitflow.privacy.suppressions import Suppressions
from traitflow.segments import Registry
from traitflow.worker.backfill import Backfiller
from traitflow.worker.batch import Batcher, Outbox
from traitflow.worker.counts import MembershipCounts, count_members
from traitflow.worker.handler import EventHandler, Origin
from traitflow.worker.health import readings, serve_health_and_metrics, stall_watch
from traitflow.worker.loop_watch import watch_loop
from traitflow.worker.metrics import StateCollector, WorkerMetrics
from traitflow.worker.replay import EventLog
from traitflow.worker.retention import RetentionScheduler
from traitflow.worker.segment_feed import SegmentFeed
from traitflow.worker.sinks import Observer, ProducerSink, Sinks
from traitflow.worker.store.profiles import ProfileStore
from traitflow.worker.timers import TickScheduler

log = logging.getLogger(__name__)

TABLES = WORKER_TABLES  # ProfileStore's order
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
    store: ProfileStore
    counts: MembershipCounts
    owned: Callable[[], list[int]]
    clock: Clock


SinksFor = Callable[[Observer, Callable[[int, Any], None]], Sinks]  # (published, removed)


@dataclass(frozen=True)
class Parts:
    """What a worker is built from. ``create_app`` gives Kafka, RocksDB and the live
    feeds; the agent tests give memory tables and channels (tests/worker/agent_app.py).
    Without a ``feed`` the registry is filled directly and no background service runs."""

    app: faust.App
    store: ProfileStore
    sinks: SinksFor
    registry: Registry = field(default_factory=Registry)  # what the feed fills
    feed: SegmentFeed | None = None
    event_log: EventLog | None = None
    batch_max_messages: int = 1


def _table(app: faust.App, settings: Settings, name: str) -> Any:
    return app.Table(name, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                     options=rocksdb_options(settings))  # fmt: skip


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Bounded memory per RocksDB database: Faust's defaults (three 64 MB memtables and a
    2 GB cache each) let sixteen databases (four tables of four partitions) grow past
    any budget. Faust's store consumes the dict: a fresh one per table."""
    mib = 1 << 20
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * mib,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * mib,
    }


def broker_urls(settings: Settings) -> list[str]:
    """Transports that deliver the events topic a fetch at a time (``traitflow.broker
    .delivery``); ``tansu://`` also works around the embedded broker's quirks."""
    scheme = "tansu" if settings.embedded else "traitflow"
    return [f"{scheme}://{host}" for host in settings.kafka_bootstrap.split(",")]


def create_app(settings: Settings, *, clock: Clock | None = None) -> WorkerApp:
    """The worker on Kafka and RocksDB, with its feeds, background services and web
    server (health, metrics; ``traitflow worker`` adds the admin API)."""
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    clock = clock or clock_for(settings.clock_file)
    app = faust.App(settings.app_id, **app_config(settings))
    app.edge_limits = EdgeLimits.of(settings)  # type: ignore[attr-defined]  # read by its web
    store = ProfileStore(*(_table(app, settings, name) for name in TABLES))
    registry = Registry()
    connection = kafka_options(settings)
    parts = Parts(
        app, store, lambda published, removed: _kafka_sinks(app, settings, published, removed),
        registry, SegmentFeed(connection, settings.topics.segments, registry),
        event_log=EventLog(connection, settings.topics.events, not settings.embedded),
        batch_max_messages=settings.batch_max_messages,
    )  # fmt: skip
    return build_worker(settings, parts, clock)


def build_worker(settings: Settings, parts: Parts, clock: Clock) -> WorkerApp:
    """Wire handler, batcher and agent over ``parts``; with a feed, also the background
    services and the web server's health and metrics."""
    app, store, feed, registry = parts.app, parts.store, parts.feed, parts.registry
    events = app.topic(settings.topics.events, partitions=settings.partitions, **RAW)
    suppressions = Suppressions(settings.identity_traits)
    suppressed = suppression_feed(kafka_options(settings), settings.topics.suppressions,
                                  suppressions)  # fmt: skip
    metrics = WorkerMetrics()
    metrics.suppressed_ids.set_function(lambda: len(suppressions))
    counts = MembershipCounts(lambda partition: count_members(store.memberships_in(partition)))

    def published(partition: int, transitions: list[dict[str, Any]]) -> None:
        metrics.published(transitions)
        counts.observe(partition, transitions)

    sinks = parts.sinks(published, counts.drop)
    loaded = feed.loaded if feed else _loaded
    outbox = Outbox(sinks)  # what a batch sends, acknowledged before its writes
    backfiller = Backfiller(registry, store, outbox, loaded, clock, metrics)
    handler = EventHandler(settings, registry, store, outbox, clock, backfiller, metrics,
                           suppressions, parts.event_log)  # fmt: skip
    if feed is not None:
        handler.partitions = lambda: _events_partitions(app, settings)
    owned = _owned(app, events)
    scheduler = TickScheduler(handler.ticker, clock, settings.tick_s, owned)

    async def process(record: Any) -> int:
        origin = Origin(record.topic, record.partition, record.offset, int(record.timestamp * 1000))
        return await handler.handle(record.key, record.value, origin, record.headers)

    batcher = Batcher(
        process,
        handler.outbox,
        store,
        scans=lambda record: record_kind(record.headers) in SCANNING_JOBS,
        max_messages=parts.batch_max_messages,
        closed=lambda records: metrics.batch_records.observe(len(records)),
        failed=lambda exc: _stop_soon(app, exc),
    )

    @app.on_partitions_revoked.connect
    def forget_partition_state(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Another worker may own these partitions next: counts, offsets and the batch's
        records of those partitions start over."""
        counts.forget()
        handler.processed.clear()
        handler.replayer.states.forget()
        topic = events.get_topic_name()
        revoked = args[0] if args else set()
        batcher.discard({tp.partition for tp in revoked if tp.topic == topic})

    async def receive(
        records: list[Any], acked: Callable[[Any], object], active: Callable[[], bool]
    ) -> None:
        """A fetch of the events topic (``traitflow.broker.delivery``), once the segment
        definitions and the suppressions are loaded."""
        if feed is not None:
            await feed.ready.wait()
            await suppressed.ready.wait()
            freeze_startup_objects()
        try:
            await batcher.take(records, acked, active)
        except Exception as exc:  # a send Kafka refused, or a failure outside any record
            await stop_on_failure(app, exc)

    deliver_in_batches(app, events.get_topic_name(), receive)

    @app.agent(events, name="process-events")
    async def process_events(stream: Any) -> None:
        """Subscribes the worker to the events topic. Its records come here only from
        Faust's test context or a transport without batch delivery: the same batcher
        takes each one as a delivery of its own."""
        manual = stream.noack()  # acked by the batcher, once the batch's writes are done
        async for event in manual.events():
            await receive([event.message], _acker(event), _always)

    event_log = parts.event_log
    if event_log is not None:

        @app.on_before_shutdown.connect
        async def close_event_log(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            await event_log.close()

    if feed is not None:
        app.task(feed.run)
        app.task(suppressed.run)
        app.task(scheduler.run)
        if settings.profile_ttl_days is not None:
            retention = RetentionScheduler(settings.profile_ttl_days, settings.retention_sweep_s,
                                           clock, owned, sinks.events)  # fmt: skip
            app.task(retention.run)
        stalls = stall_watch(app, events, handler, owned, settings, metrics)
        app.task(stalls.run)
        app.task(watched_loop(metrics))
        serve_health_and_metrics(app, metrics, feed, stalls, suppressed, handler)
        metrics.registry.register(StateCollector(readings(app, events, handler, store, owned)))
    return WorkerApp(app, process_events, store.profiles, registry, handler, scheduler, batcher,
                     store, counts, owned, clock)  # fmt: skip


def watched_loop(metrics: WorkerMetrics) -> Callable[[], Awaitable[None]]:
    """The loop watch as a task of no arguments (Faust passes the app to those with some)."""

    async def watch() -> None:
        await watch_loop(metrics.loop_held.observe)

    return watch


@functools.cache  # once per process, and no work after: it runs on every delivery
def freeze_startup_objects() -> None:
    """Take what start-up built (modules, Faust's services, definitions: about 100,000
    objects) out of the garbage collector's oldest generation: each full collection
    traversed them all, pausing the worker 50 to 65 ms, sometimes three times in a row
    (measured on the standard workload); with them frozen, 1 to 2 ms. Once per process:
    the agent restarts on every rebalance, and what it froze then would stay for good.
    (``gc.get_freeze_count`` is no cheap test of "done": it walks every frozen object.)"""
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


def _events_partitions(app: faust.App, settings: Settings) -> int:
    """The events topic's partitions as the consumer sees them (the setting until then)."""
    try:
        seen = app.consumer.topic_partitions(settings.topics.events)
    except Exception:  # the consumer is not started yet
        seen = None
    return seen or settings.partitions


def _owned(app: faust.App, events: Any) -> Callable[[], list[int]]:
    """The events partitions this worker currently owns (actives, not standbys)."""

    def owned() -> list[int]:
        actives = app.assignor.assigned_actives()
        return sorted(tp.partition for tp in actives if tp.topic == events.get_topic_name())

    return owned


def app_config(settings: Settings) -> dict[str, Any]:
    """Faust's settings for a worker on Kafka and RocksDB, its web server on."""
    return {
        "broker": broker_urls(settings),
        "broker_credentials": faust_credentials(settings),
        "store": "traitflow://",  # Faust's RocksDB store, skipping keyless changelog records
        "datadir": str(settings.data_dir / settings.app_id),
        "autodiscover": False,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,  # Faust binds to web_bind (default: every interface)
        "web_port": settings.web_port,
        "web": "traitflow://",  # Faust's aiohttp driver with a header timeout and a cap
        # Faust's own pages would show profiles, ids and the cluster to anyone:
        # the admin API (behind its token) answers for them instead
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "canonical_url": web_url(settings),
        "web_ssl_context": server_tls(settings),
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.session_timeout_s / 5,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "table_standby_replicas": settings.standby_replicas,
        "consumer_auto_offset_reset": "earliest",
    }


def _acker(event: Any) -> Callable[[Any], object]:
    return lambda record: event.ack()


def _always() -> bool:
    return True


async def _loaded(version: int) -> None:
    """Agent tests fill the registry directly: it is always up to date."""


def _kafka_sinks(
    app: faust.App, settings: Settings, published: Observer, removed: Callable[[int, Any], None]
) -> Sinks:
    topics = settings.topics
    return Sinks(
        events=ProducerSink(app, topics.events),
        membership=ProducerSink(app, topics.membership),
        deadletter=ProducerSink(app, topics.deadletter),
        status=ProducerSink(app, topics.status),
        audit=ProducerSink(app, topics.audit),
        suppressions=ProducerSink(app, topics.suppressions),
        published=published,
        removed=removed,
    )
