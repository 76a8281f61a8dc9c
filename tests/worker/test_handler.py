"""Dead-letter records: what a consumer of the dead-letter topic can rely on."""

from __future__ import annotations

import hashlib

from traitflow.worker.handler import MAX_KEY, Origin, dead_letter_record

ORIGIN = Origin("p-events", 3, 41, 0, index=2)


def test_a_dead_letter_copy_keeps_the_bytes_reason_and_source() -> None:
    key, value, headers = dead_letter_record(b"u1", b"{oops", "not JSON", ORIGIN, 1000)
    assert (key, value) == (b"u1", b"{oops")
    assert dict(headers or []) == {
        "traitflow-reason": b"not JSON",
        "traitflow-source": b"p-events/3/41#2",
    }


def test_a_copy_too_large_is_cut_with_its_size_and_hash_kept() -> None:
    raw = b"x" * 5000
    key, value, headers = dead_letter_record(b"k" * 5000, raw, "r" * 10_000, ORIGIN, 1000)
    found = dict(headers or [])
    assert value == raw[:1000]
    assert found["traitflow-original-bytes"] == b"5000"
    assert found["traitflow-original-sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert key is not None and len(key) == MAX_KEY
    assert (
        found["traitflow-original-key-sha256"] == hashlib.sha256(b"k" * 5000).hexdigest().encode()
    )
    assert len(found["traitflow-reason"]) < 10_000
