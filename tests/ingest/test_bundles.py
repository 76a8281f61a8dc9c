"""Bundles: one record per partition's messages, per-partition order kept, limits held."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitflow.broker.partitioner import partition_of
from traitflow.ingest import bundles
from traitflow.ingest.bundles import bundle, bundle_size, pack, position, unbundle

people = st.lists(st.sampled_from([f"user-{i}".encode() for i in range(20)]), max_size=200)


@given(people)
def test_each_partition_gets_its_messages_in_order(keys: list[bytes]) -> None:
    keyed = [(key, b'{"n":%d}' % n) for n, key in enumerate(keys)]
    records = bundle(keyed, 4)
    for partition in range(4):
        sent = [line for p, value, _ in records if p == partition for line in unbundle(value)]
        assert sent == [value for key, value in keyed if partition_of(key, 4) == partition]
    for _, value, headers in records:
        assert bundle_size(headers) == len(unbundle(value))


@given(people)
def test_pack_bundles_a_partitions_messages_and_leaves_a_lone_one_keyed(keys: list[bytes]) -> None:
    keyed = [(key, b'{"n":%d}' % n) for n, key in enumerate(keys)]
    for partition in range(4):
        mine = [(k, v) for k, v in keyed if partition_of(k, 4) == partition]
        sent = [r for r in pack(keyed, 4) if r[1] == partition]
        if len(mine) == 1:
            assert sent == [(mine[0][0], partition, mine[0][1], [])]
        else:
            assert all(key is None and bundle_size(headers) for key, _, _, headers in sent)
            assert [line for r in sent for line in unbundle(r[2])] == [v for _, v in mine]


def test_pack_leaves_a_message_without_key_as_it_is() -> None:
    assert pack([(None, b"{}"), (None, b"[]")], 4) == [
        (None, None, b"{}", []),
        (None, None, b"[]", []),
    ]


def test_bundles_are_split_at_the_size_and_count_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = [(b"ada", b"x" * 100) for _ in range(10)]
    monkeypatch.setattr(bundles, "MAX_BUNDLE_BYTES", 350)
    assert [len(unbundle(value)) for _, value, _ in bundle(keyed, 1)] == [3, 3, 3, 1]
    monkeypatch.setattr(bundles, "MAX_BUNDLE_BYTES", 512 * 1024)
    monkeypatch.setattr(bundles, "MAX_BUNDLE_MESSAGES", 4)
    assert [len(unbundle(value)) for _, value, _ in bundle(keyed, 1)] == [4, 4, 2]


def test_a_plain_record_is_no_bundle_and_positions_order_lines_within_offsets() -> None:
    assert bundle_size(None) is None and bundle_size([("other", b"1")]) is None
    assert position(7, 4095) < position(8) < position(8, 1)
