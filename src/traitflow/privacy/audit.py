"""The audit record of a deletion: who asked, when, what was done, the ids as hashes."""

from __future__ import annotations

from typing import Literal

import orjson
from typing_extensions import TypedDict  # pydantic reads it on Python < 3.12

from traitflow.identity.resolver import Deletion
from traitflow.privacy.suppressions import id_hash
from traitflow.timeutil import iso_from_ms


class Audit(TypedDict):
    """A deletion's audit record (on the audit topic; in the admin API's answer)."""

    action: Literal["delete"]
    request: str
    requested_by: str
    requested_at: str
    done_at: str
    found: bool
    id_hashes: list[str]
    segments_exited: list[str]
    suppressed: bool


def audit_document(deletion: Deletion, done_ms: int) -> Audit:
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
