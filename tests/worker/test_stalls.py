"""Stalled partitions: lag (or no fetch at all) and no progress for the configured time."""

from __future__ import annotations

from traitflow.worker.stalls import StallWatch


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.lags: dict[int, int | None] = {0: 5, 1: 0}
        self.offsets: dict[int, int | None] = {0: 10, 1: 20}
        self.rejoins = 0
        self.stalls = 0
        self.active = True

    async def read_lags(self, partitions: list[int]) -> dict[int, int | None]:
        return {p: self.lags[p] for p in partitions}

    async def rejoin(self) -> None:
        self.rejoins += 1

    def watch(self) -> StallWatch:
        def stalled() -> None:
            self.stalls += 1

        return StallWatch(
            owned=lambda: [0, 1],
            lags=self.read_lags,
            processed=self.offsets.get,
            stall_after_s=60,
            rejoin=self.rejoin,
            active=lambda: self.active,
            stalled=stalled,
            clock=lambda: self.now,
        )


async def test_a_partition_with_lag_and_no_progress_stalls_and_the_worker_rejoins() -> None:
    world = World()
    watch = world.watch()
    await watch.check()
    world.now = 59
    await watch.check()
    assert (watch.stalled, world.rejoins) == ([], 0)
    world.now = 61
    await watch.check()
    assert (watch.stalled, world.rejoins, world.stalls) == ([0], 1, 1)
    world.now = 62  # listed until it moves
    await watch.check()
    assert (watch.stalled, world.rejoins) == ([0], 1)
    world.now = 122  # a full period after the rejoin, still nothing: rejoin again
    await watch.check()
    assert (watch.stalled, world.rejoins, world.stalls) == ([0], 2, 2)
    world.offsets[0] = 11
    world.now = 123
    await watch.check()
    assert (watch.stalled, world.rejoins) == ([], 2)


async def test_progress_or_no_lag_is_not_a_stall() -> None:
    world = World()
    watch = world.watch()
    await watch.check()
    for second in range(30, 300, 30):
        world.now = second
        world.offsets[0] = (world.offsets[0] or 0) + 1  # slow, but moving
        await watch.check()
    assert (watch.stalled, world.rejoins) == ([], 0)  # partition 1: no lag, never stalls


async def test_a_partition_never_fetched_has_unknown_lag_and_stalls() -> None:
    world = World()
    world.lags[0] = None
    world.offsets[0] = None
    watch = world.watch()
    await watch.check()
    world.now = 61
    await watch.check()
    assert watch.stalled == [0]


async def test_recovery_or_rebalance_is_never_a_stall() -> None:
    world = World()
    world.active = False
    watch = world.watch()
    for second in (0, 61, 200):
        world.now = second
        await watch.check()
    assert (watch.stalled, world.rejoins) == ([], 0)
    world.active = True
    world.now = 201
    await watch.check()
    world.now = 250
    await watch.check()
    assert watch.stalled == []  # the period starts when records should flow
    world.now = 262
    await watch.check()
    assert watch.stalled == [0]
