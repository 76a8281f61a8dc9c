"""The admin token: configured, or made once in the data directory and shared."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from traitflow.admin.token import admin_token, authorized, default_token_file
from traitflow.config import Settings
from traitflow.exceptions import ConfigError


def test_a_configured_token_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr("set-by-the-operator"))
    assert admin_token(settings, create=True) == "set-by-the-operator"
    assert not default_token_file(settings).exists()


def test_the_worker_makes_one_private_token_and_the_cli_reads_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    made = admin_token(settings, create=True)
    assert len(made) >= 40
    assert admin_token(settings, create=True) == made  # a second worker shares it
    assert admin_token(settings, create=False) == made
    mode = stat.S_IMODE(default_token_file(settings).stat().st_mode)
    assert mode == 0o600


def test_the_cli_without_a_token_says_where_to_find_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TRAITFLOW_ADMIN_TOKEN"):
        admin_token(Settings(data_dir=tmp_path), create=False)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret-s3cret-s3cret", True),
        ("Bearer  s3cret-s3cret-s3cret ", True),
        ("Bearer wrong", False),
        ("Basic s3cret", False),
        ("s3cret-s3cret-s3cret", False),
        ("", False),
        (None, False),
    ],
)
def test_only_the_bearer_token_is_authorized(header: str | None, ok: bool) -> None:
    assert authorized(header, "s3cret-s3cret-s3cret") is ok


@pytest.mark.parametrize("token", ["", "   ", "short"])
def test_an_empty_or_short_token_is_refused_with_how_to_make_one(
    tmp_path: Path, token: str
) -> None:
    with pytest.raises(ConfigError, match=r"at least 16 are needed.*secrets\.token_urlsafe"):
        admin_token(Settings(data_dir=tmp_path, admin_token=SecretStr(token)), create=True)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    with pytest.raises(ConfigError, match="at least 16"):
        admin_token(Settings(data_dir=tmp_path, admin_token_file=token_file), create=True)
    assert not authorized("Bearer  ", token)
