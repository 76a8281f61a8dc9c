"""Whether a dead letter names a person who must be forgotten: a suppressed id, or an id
deleted after the record came. The admin API redacts such records; ``purge`` removes them
from the dead-letter topic where the broker can delete records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from traitflow.identity.ids import stored_id
from traitflow.privacy.suppressions import Suppressions, id_hash, named_ids

LINES_READ = 100  # of a bundle: the ids a person's messages name are in their first lines


def names_forgotten(
    record: Any, suppressed: Suppressions | None, deleted: Mapping[str, int]
) -> bool:
    """Whether the record (its key, or an id a JSON line of its value names, identity
    traits included) is suppressed, or was deleted at or after the record's time
    (``deleted``: id hash -> when, ms)."""
    if not deleted and (suppressed is None or not len(suppressed)):
        return False
    traits = suppressed.identity_traits if suppressed is not None else ()
    named = [stored_id(record.key.decode(errors="replace"))] if record.key is not None else []
    for line in (record.value or b"").split(b"\n")[:LINES_READ]:
        try:
            body = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(body, dict):
            named += named_ids(body, traits)
    for identifier in named:
        hashed = id_hash(identifier)
        if suppressed is not None and hashed in suppressed.groups:
            return True
        if deleted.get(hashed, -1) >= record.timestamp:
            return True
    return False
