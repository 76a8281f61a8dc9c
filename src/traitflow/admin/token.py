"""The bearer token that guards every endpoint returning profile data.

Configured with TRAITFLOW_ADMIN_TOKEN or TRAITFLOW_ADMIN_TOKEN_FILE. When neither is set,
the worker makes a random one in its data directory (mode 0600), like a notebook server's
token, and the CLI on the same machine reads it there: secure by default, no set-up.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from traitflow.config import Settings, read_secret
from traitflow.exceptions import ConfigError

BEARER = "Bearer "
MIN_TOKEN_CHARS = 16
HOW_TO_MAKE = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def default_token_file(settings: Settings) -> Path:
    return settings.data_dir / "admin-token"


def admin_token(settings: Settings, *, create: bool) -> str:
    """The configured token; else the data directory's, made there when ``create``."""
    configured = read_secret(settings.admin_token, settings.admin_token_file, "admin token")
    if configured is not None:
        return _real(configured.decode().strip(), "TRAITFLOW_ADMIN_TOKEN (or _FILE)")
    path = default_token_file(settings)
    if create and not path.exists():
        _write_new(path)
    try:
        return _real(path.read_text().strip(), str(path))
    except OSError:
        raise ConfigError(
            f"no admin token: set TRAITFLOW_ADMIN_TOKEN (or _FILE) as the workers have it, "
            f"or run where the worker keeps {path}"
        ) from None


def _real(token: str, where: str) -> str:
    """Refuse a token anyone could guess: empty, blank or short."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the admin token in {where} has {len(token)} characters; at least "
            f"{MIN_TOKEN_CHARS} are needed ({HOW_TO_MAKE})"
        )
    return token


def authorized(header: str | None, token: str) -> bool:
    """True for ``Authorization: Bearer <token>``, compared in constant time."""
    if not header or not header.startswith(BEARER) or len(token) < MIN_TOKEN_CHARS:
        return False
    return hmac.compare_digest(header[len(BEARER) :].strip().encode(), token.encode())


def _write_new(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker sharing the directory made it first
        return
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
