"""The webhook signature, one rule for both directions: the bridge checks Segment's on what
it receives, ``traitflow deliver`` signs what it posts."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: bytes, payload: bytes) -> str:
    """Hex HMAC-SHA1, as Segment computes ``X-Signature``."""
    return hmac.new(secret, payload, hashlib.sha1).hexdigest()
