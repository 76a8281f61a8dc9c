"""A fetch's records are acked and processed only until partitions are next revoked."""

from __future__ import annotations

from typing import Any

from traitflow.broker.delivery import blocks_commit, until_revoked


def test_after_a_revocation_a_fetch_is_inactive_and_its_acks_do_nothing() -> None:
    revocations, flowing, acked = [0], [True], []

    def ack(message: Any) -> bool:
        acked.append(message)
        return True

    before_ack, before_active = until_revoked(lambda: revocations[0], ack, lambda: flowing[0])
    assert before_ack("offset 0") is True and before_active()
    flowing[0] = False  # a rebalance starts: the flow stops
    assert not before_active()
    revocations[0] += 1  # Faust forgot the partitions' offsets
    flowing[0] = True  # the new assignment resumed the flow
    assert before_ack("offset 1") is False and not before_active()
    after_ack, after_active = until_revoked(lambda: revocations[0], ack, lambda: flowing[0])
    assert after_ack("offset 1") is True and after_active()
    assert acked == ["offset 0", "offset 1"]


def test_a_commit_never_passes_the_next_offset_left_unacked() -> None:
    assert blocks_commit(0, [1, 2, 3], [])  # offset 0 delivered, dropped unacked
    assert blocks_commit(7, [8, 9], [])  # Faust would commit 10 over a committed 7
    assert not blocks_commit(7, [7, 8], [])
    assert not blocks_commit(7, [9], [7])  # 7 and 8 never delivered (control records)
    assert not blocks_commit(None, [3], [])  # not positioned yet: Faust's own rule
    assert not blocks_commit(4, [], [])
