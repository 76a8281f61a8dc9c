"""Faust transport that hands each fetch of chosen topics to one callable, as a batch.

Faust delivers every fetched record on its own: its drain loop awaits the conductor's
callback per record (tasks and futures each time), which wraps the record in an Event,
puts it on a channel's queue, and the agent's stream takes it off again, with sensors at
every step. On two cores that costs more than all of traitflow's work on a message (the
naive Faust agent does about 1,000 to 3,500 records/s here; see ``benchmarks/peer.py``).

A topic registered with ``deliver_in_batches`` skips that path: the drain loop below,
Faust's own with one change, collects each fetch's records of that topic, in partition
order, and awaits the receiver once with all of them. The receiver acknowledges them
through ``Consumer.ack`` (commits then work as for any record). Group membership,
assignment, tables, changelogs, recovery, commits and the web server stay Faust's.
Records of other topics (none in the worker today) go through the conductor as before.

Selected by the URL scheme ``traitflow://`` (``tansu://`` for the embedded broker, whose
transport extends this one).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, Protocol, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, Message


class Receiver(Protocol):
    """Takes one fetch's records of its topic (``acked`` acknowledges one to Faust;
    ``active`` turns false when a rebalance stops the flow, for good once partitions
    were revoked: stop processing then)."""

    async def __call__(
        self,
        records: list[Message],
        acked: Callable[[Message], object],
        active: Callable[[], bool],
    ) -> None: ...


_RECEIVERS: weakref.WeakKeyDictionary[AppT, dict[str, Receiver]] = weakref.WeakKeyDictionary()


def deliver_in_batches(app: AppT, topic: str, receiver: Receiver) -> None:
    """From now on, the records of ``topic`` reach ``receiver``, a fetch at a time."""
    _RECEIVERS.setdefault(app, {})[topic] = receiver


def receivers_of(app: AppT) -> dict[str, Receiver]:
    return _RECEIVERS.get(app, {})


def until_revoked(
    revocations: Callable[[], int], ack: Callable[[Message], bool], flowing: Callable[[], bool]
) -> tuple[Callable[[Message], bool], Callable[[], bool]]:
    """``ack`` and ``flowing`` for the records of one fetch, until partitions are next
    revoked: from then on their acks do nothing and the fetch is no longer active, even
    once the flow resumes after the new assignment.

    After a revocation Faust forgets a partition's acked and committed offsets: an ack
    taken then (a batch settling through the rebalance) would count against no committed
    offset, and Faust would commit the run of offsets it starts, whatever lies before it.
    And the rest of a fetch made before the rebalance may hold records of partitions
    another worker now owns: processed, their writes would reach that worker's changelog
    partitions. Unacked and unprocessed, the records come again to the partition's owner,
    which recognises what was applied."""
    fetched_in = revocations()

    def acked(message: Message) -> bool:
        return revocations() == fetched_in and ack(message)

    def active() -> bool:
        return revocations() == fetched_in and flowing()

    return acked, active


CONSUMER_STOP_S = 15.0


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, waited for at most ``CONSUMER_STOP_S`` at shutdown: with
    the broker gone, its last commit retries until mode's default (60 s) runs out, longer
    than the usual 30 s between SIGTERM and SIGKILL. Offsets left uncommitted are read
    again at the next start, where the profiles' applied positions recognise them."""

    shutdown_timeout = CONSUMER_STOP_S


def blocks_commit(expected: int | None, acked: list[int], gap_starts: list[int]) -> bool:
    """Whether the offsets acked (and the gaps, offsets never delivered) leave out the
    partition's next offset to commit, ``expected``: Faust would commit the run of
    offsets starting at the lowest one anyway (it allows one missing offset at the head
    of a committed partition, and any number before the first commit)."""
    if expected is None or not acked:
        return False
    return min(acked + gap_starts) > expected


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with deliveries a fetch at a time (above) and commits
    that never pass a delivered record left unacked."""

    _revocations = 0  # partitions revoked so far (see ``until_revoked``)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per partition of a receiver's topic: the offset the next commit must start at;
        # the first offset delivered once positioned, then each committed offset
        self._expected: dict[TP, int] = {}
        self._warned: set[tuple[TP, int]] = set()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's ``Consumer._drain_messages``, with records of registered topics
        gathered per fetch instead of handed one by one to the conductor."""
        receivers = receivers_of(self.app)
        if not receivers:
            return await super()._drain_messages(fetcher)
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                acked, active = until_revoked(self._revoked_so_far, self.ack, self._flowing)
                gathered = await self._gather(receivers)
                for topic, records in gathered.items():
                    await receivers[topic](records, acked, active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise

    async def _gather(self, receivers: dict[str, Receiver]) -> dict[str, list[Message]]:
        """One fetch: records of registered topics gathered, others delivered as Faust
        does. Offsets behind the read offset are dropped and gaps recorded, as in Faust."""
        gathered: dict[str, list[Message]] = {}
        self.diag.set_flag(CONSUMER_FETCHING)
        try:
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in self.getmany(timeout=1.0):
                    await self._take(tp, message, receivers, gathered)
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)
        return gathered

    async def _take(
        self,
        tp: TP,
        message: Message,
        receivers: dict[str, Receiver],
        gathered: dict[str, list[Message]],
    ) -> None:
        offset, read = message.offset, self._read_offset[tp]
        if read is not None and offset < read:
            return
        if read and offset - read > 1 and self.app.topics.acks_enabled_for(tp.topic):
            await self._add_gap(tp, read + 1, offset)
        await self._commit_if_due()
        if tp.topic in receivers:
            self._expected.setdefault(tp, offset)
            gathered.setdefault(tp.topic, []).append(message)
        else:
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
        self._read_offset[tp] = offset

    async def _commit_if_due(self) -> None:
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's next offset to commit for ``tp``, unless that would pass a delivered
        record that was never acked (then nothing: it is processed again after the next
        rebalance or restart, instead of being lost)."""
        expected, committed = self._expected.get(tp), self._committed_offset.get(tp)
        if expected is not None and committed is not None:
            expected = max(expected, committed)  # a delivery before the last commit
        gaps = [interval.begin for interval in self._gap[tp]]
        if blocks_commit(expected, self._acked[tp], gaps):
            if (tp, expected) not in self._warned:  # once per offset
                self._warned.add((tp, cast(int, expected)))
                self.log.warning(
                    "%s offset %s was delivered but not acked, while later ones were: "
                    "not committing past it (it is processed again after the next "
                    "rebalance or restart)", tp.topic, expected,
                )  # fmt: skip
            return None
        offset: int | None = super()._new_offset(tp)
        if offset is not None and tp in self._expected:
            self._expected[tp] = offset
        return offset

    async def perform_seek(self) -> None:
        """Seek back to the committed offsets: the next commit starts wherever the next
        delivery does."""
        self._expected.clear()
        await super().perform_seek()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._revocations += 1
        for tp in revoked:
            self._expected.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _revoked_so_far(self) -> int:
        return self._revocations

    def _flowing(self) -> bool:
        return bool(self.flow_active) and not self.should_stop


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
