"""The audit record of a deletion: who asked, when, what was done, the ids as hashes."""

from __future__ import annotations

from typing import Any

import orjson

from traitflow.identity.resolver import Deletion
from traitflow.privacy.suppressions import id_hash
from traitflow.timeutil import iso_from_ms


def audit_document(deletion: Deletion, done_ms: int) -> dict[str, Any]:
    request = deletion.request
    return {
        "action": "delete",
        "request": request.request,
        "requested_by": request.requested_by,
        "requested_at": iso_from_ms(request.requested_at_ms),
        "done_at": iso_from_ms(done_ms),
        "found": deletion.profile is not None,
        "id_hashes": [id_hash(identifier) for identifier in deletion.ids],
        "segments_exited": list(deletion.exited),
        "suppressed": request.suppress,
    }


def audit_record(deletion: Deletion, done_ms: int) -> bytes:
    return orjson.dumps(audit_document(deletion, done_ms))
