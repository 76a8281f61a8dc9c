"""A fetch's records are acked and processed only until partitions are next revoked."""

from __future__ import annotations

from typing import Any

from traitflow.broker.delivery import until_revoked


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
