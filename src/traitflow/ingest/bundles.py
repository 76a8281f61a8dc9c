"""Records that carry several messages of one partition ("bundles").

Faust spends a fixed cost on every record it delivers, whatever its size; a producer
that has many messages at once (a batch request, an import, a file) saves the worker that
cost by packing the messages of one partition into one record. A bundle's value is the
messages, one compact JSON document per line (JSON text never holds a raw newline), and
header ``traitflow-bundle`` gives their number. The record goes to the partition of its
messages' people (Kafka's default partitioner on each message's routing id), so
per-person order holds as with one record per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from traitflow.broker.partitioner import partition_of
from traitflow.ingest.records import BUNDLE_HEADER, read_headers

MAX_BUNDLE_BYTES = 512 * 1024
MAX_BUNDLE_MESSAGES = 4096  # what ``bundle`` makes, well below

BundleRecord = tuple[int, bytes, list[tuple[str, bytes]]]


def bundle(keyed: Iterable[tuple[bytes, bytes]], partitions: int) -> list[BundleRecord]:
    """(partition, value, headers) records for (routing key, message) pairs, in order per
    partition; none larger than MAX_BUNDLE_BYTES or MAX_BUNDLE_MESSAGES."""
    open_: dict[int, list[bytes]] = {}
    sizes: dict[int, int] = {}
    records: list[BundleRecord] = []
    for key, value in keyed:
        partition = partition_of(key, partitions)
        lines = open_.setdefault(partition, [])
        full = len(lines) >= MAX_BUNDLE_MESSAGES
        if lines and (full or sizes[partition] + len(value) + 1 > MAX_BUNDLE_BYTES):
            records.append(_record(partition, lines))
            lines = open_[partition] = []
            sizes[partition] = 0
        lines.append(value)
        sizes[partition] = sizes.get(partition, 0) + len(value) + 1
    records += [_record(partition, lines) for partition, lines in open_.items() if lines]
    return records


def pack(
    records: Iterable[tuple[bytes | None, bytes]], partitions: int
) -> list[tuple[bytes | None, int | None, bytes, list[tuple[str, bytes]]]]:
    """(key, partition, value, headers) to send for a request's records: a partition's
    messages as bundles, except a lone message (or one without a key), which stays a plain
    keyed record as other Kafka tools expect. Order per partition is kept."""
    by_partition: dict[int | None, list[tuple[bytes | None, bytes]]] = {}
    for key, value in records:
        partition = partition_of(key, partitions) if key is not None else None
        by_partition.setdefault(partition, []).append((key, value))
    packed: list[tuple[bytes | None, int | None, bytes, list[tuple[str, bytes]]]] = []
    for partition, group in by_partition.items():
        if partition is None or len(group) == 1:
            packed += [(key, partition, value, []) for key, value in group]
        else:
            keyed = [(key, value) for key, value in group if key is not None]
            packed += [(None, p, value, headers) for p, value, headers in bundle(keyed, partitions)]
    return packed


def _record(partition: int, lines: list[bytes]) -> BundleRecord:
    return partition, b"\n".join(lines), [(BUNDLE_HEADER, str(len(lines)).encode())]


def bundle_size(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> int | None:
    """The number of messages a bundle says it carries (0 when the header is no count
    of at most 7 digits: a bundle all the same), or None for a record that is no bundle."""
    count = read_headers(headers).bundle
    if count is None:
        return None
    return int(count) if count.isdigit() and len(count) <= 7 else 0


def unbundle(value: bytes) -> list[bytes]:
    return value.split(b"\n")


def position(offset: int, index: int = 0) -> int:
    """A message's place in its partition: records by offset, then lines of a bundle."""
    return (offset << 16) | index
