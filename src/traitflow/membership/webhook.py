"""``traitflow deliver``: membership events posted to a webhook, none lost.

Events are read with a consumer group of their own and the offsets committed only once a
batch is answered 2xx or, after ``deliver_give_up_after_s`` of failures, written to the
dead-letter topic: a destination down for minutes delays events, never drops them.
5xx, 408, 429, timeouts and refused connections are retried (tenacity) with exponential
backoff and jitter; any other 4xx means the destination refuses the content, and the batch
is dead-lettered at once. Each post is a JSON array signed like the bridge's webhook:
``X-Signature`` is the hex HMAC-SHA1 of the body, with the delivery secret.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay

from traitflow.broker.clients import Record, publish
from traitflow.broker.connection import kafka_options, start_client
from traitflow.config import Settings
from traitflow.membership.formats import render
from traitflow.signing import signature
from traitflow.urls import redacted

log = logging.getLogger(__name__)
RETRIABLE = frozenset({408, 429})


@dataclass
class DeliveryReport:
    delivered: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    retries: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class Target:
    url: str
    destination: str | None  # None: every event, in traitflow's format
    secret: bytes | None


def backoff_s(attempt: int, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """0.5 s, 1 s, 2 s ... up to ``maximum``, each with up to 25% jitter."""
    base = min(maximum, 0.5 * 2.0**attempt)
    return base * (0.75 + 0.25 * rng())


class Stopped(Exception):
    """Asked to stop while waiting to retry: the batch is delivered again next time."""


def _until(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """A sleep that ends early, raising ``Stopped``, when ``stop`` is set."""

    async def pause(seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Stopped

    return pause


class Failed(Exception):
    """A post that did not succeed; ``retriable`` says whether trying again may help."""

    def __init__(self, reason: str, retriable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable


class WebhookDelivery:
    def __init__(self, settings: Settings, target: Target) -> None:
        self.settings = settings
        self.target = target
        self.report = DeliveryReport()

    async def run(self, stop: asyncio.Event) -> DeliveryReport:
        """Deliver until ``stop`` is set; the batch in flight is finished first."""
        consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            group_id=self._group(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.settings.session_timeout_s * 1000),
        )
        await start_client(consumer, self.settings)
        consumer.subscribe([self.settings.topics.membership])  # once Kafka answered
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.deliver_timeout_s)
            ) as session:
                while not stop.is_set():
                    records = await self._next_batch(consumer)
                    if not records:
                        continue
                    if not await self._deliver(session, records, stop):
                        break  # stopped while retrying: these are redelivered next time
                    await consumer.commit(_next_offsets(records))
        finally:
            await consumer.stop()
        return self.report

    def _group(self) -> str:
        return f"{self.settings.topic_prefix}-deliver-{self.target.destination or 'all'}"

    async def _next_batch(self, consumer: AIOKafkaConsumer) -> list[ConsumerRecord[bytes, bytes]]:
        wait_ms = int(self.settings.deliver_batch_wait_s * 1000)
        found = await consumer.getmany(
            timeout_ms=wait_ms, max_records=self.settings.deliver_batch_size
        )
        return [record for records in found.values() for record in records]

    async def _deliver(
        self,
        session: aiohttp.ClientSession,
        records: list[ConsumerRecord[bytes, bytes]],
        stop: asyncio.Event,
    ) -> bool:
        """Post the batch until it is delivered or dead-lettered (True), or ``stop`` is set
        while it waits to retry (False)."""
        payload, unreadable = self._payload(records)
        for record, reason in unreadable:
            await self._dead_letter([record], f"unreadable membership event: {reason}")
        refused = {id(record) for record, _ in unreadable}
        delivered = [record for record in records if id(record) not in refused]
        if not payload:
            return True
        body = orjson.dumps(payload)
        started = time.monotonic()
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, Failed) and exc.retriable),
            stop=stop_after_delay(self.settings.deliver_give_up_after_s),
            wait=lambda state: backoff_s(
                state.attempt_number - 1, self.settings.deliver_max_backoff_s
            ),
            sleep=_until(stop),
            before_sleep=self._retrying,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(session, body)
        except Failed as failure:  # not retriable, or retried for long enough
            self.report.last_error = failure.reason
            waited = time.monotonic() - started
            where = redacted(self.target.url)
            why = f"webhook {where} refused: {failure.reason} (after {waited:.0f}s)"
            await self._dead_letter(delivered, why)
            return True
        except Stopped:
            return False
        self.report.delivered += len(payload)
        return True

    def _retrying(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        self.report.last_error = str(failure)
        self.report.retries += 1
        pause = state.upcoming_sleep
        log.warning("webhook failed (%s); retry in %.1fs", self.report.last_error, pause)

    def _payload(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[dict[str, object]], list[tuple[ConsumerRecord[bytes, bytes], str]]]:
        """The batch's events rendered for the target, and the records that cannot be
        (not a membership event): those are dead-lettered, never a reason to stop."""
        payload, unreadable = [], []
        for record in records:
            try:
                event = orjson.loads(record.value)
                if not isinstance(event, dict):
                    raise TypeError(f"a JSON {type(event).__name__}, not an object")
                destinations = event.get("destinations") or {}
                if self.target.destination is not None and (
                    self.target.destination not in destinations
                ):
                    self.report.skipped += 1
                    continue
                payload.append(render(event, self.target.destination))
            except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
                unreadable.append((record, f"{type(exc).__name__}: {exc}"))
        return payload, unreadable

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "traitflow-deliver"}
        if self.target.secret is not None:
            headers["X-Signature"] = signature(self.target.secret, body)
        try:
            async with session.post(
                self.target.url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                if 200 <= answer.status < 300:
                    return
                if 300 <= answer.status < 400:  # a redirected POST would arrive as a GET
                    raise Failed(f"HTTP {answer.status}: redirects are not followed", True)
                retriable = answer.status >= 500 or answer.status in RETRIABLE
                raise Failed(f"HTTP {answer.status}", retriable)
        except (aiohttp.ClientError, TimeoutError) as exc:
            said = str(exc).replace(self.target.url, redacted(self.target.url))
            raise Failed(f"{type(exc).__name__}: {said}", retriable=True) from exc

    async def _dead_letter(self, records: list[ConsumerRecord[bytes, bytes]], why: str) -> None:
        log.error("dead-lettering %d membership events: %s", len(records), why)
        dead: list[Record] = [(r.key, r.value) for r in records]
        source = f"deliver/{self.target.destination or 'all'}".encode()
        headers = [("traitflow-reason", why.encode()), ("traitflow-source", source)]
        await publish(self.settings, self.settings.topics.deadletter, dead, headers=headers)
        self.report.dead_lettered += len(records)


def _next_offsets(records: list[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets
