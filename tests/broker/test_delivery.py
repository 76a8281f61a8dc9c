"""Acks of a fetch's records count only until partitions are next revoked."""

from __future__ import annotations

from typing import Any

from traitflow.broker.delivery import acks_until_revoked


def test_a_record_acked_after_a_revocation_is_not_acked_to_faust() -> None:
    revocations, acked = [0], []

    def ack(message: Any) -> bool:
        acked.append(message)
        return True

    before = acks_until_revoked(lambda: revocations[0], ack)
    assert before("offset 0") is True
    revocations[0] += 1  # a rebalance: Faust forgot the partition's offsets
    assert before("offset 1") is False
    after = acks_until_revoked(lambda: revocations[0], ack)
    assert after("offset 1") is True
    assert acked == ["offset 0", "offset 1"]
