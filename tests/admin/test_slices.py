"""Admin work gives the worker's loop a turn every slice, whatever one item costs."""

from __future__ import annotations

from traitflow.admin.slices import in_slices


async def test_the_loop_gets_a_turn_whenever_a_slice_has_passed() -> None:
    now = [0.0]
    turns_at: list[int] = []
    done: list[int] = []

    def work(item: int) -> None:
        done.append(item)
        now[0] += 0.008 if item < 10 else 0.05  # cheap items, then costly ones

    async def pause(seconds: float) -> None:
        assert seconds == 0.002  # a short time, not a single turn of the loop
        turns_at.append(len(done))

    turns = await in_slices(range(14), work, 0.02, 0.002, lambda: now[0], pause)
    assert done == list(range(14))
    assert turns_at == [3, 6, 9, 11, 12, 13, 14]  # never more than one slice (or one item)
    assert turns == len(turns_at)
