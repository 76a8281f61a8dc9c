"""Who may send: write keys bound to sources, and webhook signatures.

Keys and secrets never appear in an error message or a log line.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path

from aiohttp import BasicAuth

from traitflow.bridge.refusals import RequestRefused
from traitflow.config import Settings, read_secret
from traitflow.exceptions import ConfigError
from traitflow.signing import signature


class WriteKeys:
    """The accepted write keys; each may name the source recorded on its messages."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._sources = {key: source or None for key, source in keys.items() if key}

    @classmethod
    def from_settings(cls, settings: Settings) -> WriteKeys:
        keys = dict(settings.write_keys)
        if settings.write_keys_file is not None:
            keys.update(read_write_keys(settings.write_keys_file))
        return cls(keys)

    def __len__(self) -> int:
        return len(self._sources)

    def source_of(self, key: str | None) -> str | None:
        """The source bound to ``key``; 401 when the key is missing or unknown."""
        if not key:
            raise RequestRefused(
                401,
                "missing_write_key",
                "no write key: send it as `writeKey` in the body or as "
                "`Authorization: Basic base64(<writeKey>:)`",
            )
        if key not in self._sources:
            raise RequestRefused(401, "unknown_write_key", "unknown write key")
        return self._sources[key]


def read_write_keys(path: Path) -> dict[str, str]:
    """``KEY [SOURCE]`` per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the write keys file {path}: {exc.strerror}") from exc
    keys: dict[str, str] = {}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if fields:
            keys[fields[0]] = " ".join(fields[1:])
    return keys


def basic_auth_key(header: str | None) -> str | None:
    """The write key of ``Authorization: Basic base64(<key>:)`` (aiohttp's RFC 7617
    parser, UTF-8), or None without that header."""
    if not header:
        return None
    try:
        login: str = BasicAuth.decode(header.strip(), encoding="utf-8").login
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestRefused(
            401,
            "bad_authorization",
            f"Authorization must be Basic base64(<writeKey>:): {str(exc).rstrip('.')}",
        ) from None
    return login


def webhook_secret(settings: Settings) -> bytes | None:
    """The bridge webhook's shared secret; None when the webhook is off."""
    return read_secret(settings.webhook_secret, settings.webhook_secret_file, "webhook secret")


def verify_signature(secret: bytes, raw: bytes, claimed: str | None, scope: str = "body") -> None:
    """Accept a signature of the whole body; with ``scope`` "first", also, for a batch, of
    its element 0's raw bytes, as Segment signs (weaker: the rest of the batch is not
    covered, so one captured signature lets anyone append messages)."""
    if not claimed:
        raise RequestRefused(401, "missing_signature", "X-Signature header required")
    claimed = claimed.strip().lower()
    candidates = [raw]
    first = first_element(raw) if scope == "first" else None
    if first is not None:
        candidates.append(first)
    if not any(hmac.compare_digest(signature(secret, c), claimed) for c in candidates):
        raise RequestRefused(401, "bad_signature", "X-Signature does not match the body")


def first_element(raw: bytes) -> bytes | None:
    """The exact bytes of element 0 of a top-level JSON array, or None.

    Segment signs a batch by its first element as JavaScript serialised it; re-serialising
    in Python would not reproduce those bytes, so they are cut from the body as received.
    """
    text = raw.lstrip()
    if not text.startswith(b"["):
        return None
    start = len(raw) - len(text) + 1
    while start < len(raw) and raw[start] in b" \t\r\n":
        start += 1
    end = _value_end(raw, start)
    return raw[start:end] if end is not None and end > start else None


def _value_end(raw: bytes, start: int) -> int | None:
    """Index just past the JSON value starting at ``start`` (strings and nesting respected)."""
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(raw)):
        char = raw[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == 0x5C:  # backslash
                escaped = True
            elif char == 0x22:  # quote
                in_string = False
                if depth == 0:
                    return index + 1
        elif char == 0x22:
            in_string = True
        elif char in b"[{":
            depth += 1
        elif char in b"]}":
            if depth == 0:
                return _trimmed(raw, start, index)
            depth -= 1
            if depth == 0:
                return index + 1
        elif char == 0x2C and depth == 0:  # comma after a scalar
            return _trimmed(raw, start, index)
    return None


def _trimmed(raw: bytes, start: int, end: int) -> int:
    while end > start and raw[end - 1] in b" \t\r\n":
        end -= 1
    return end
