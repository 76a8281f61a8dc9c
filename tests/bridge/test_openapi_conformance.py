"""schemathesis fuzzes the bridge from its own OpenAPI document: no server error, and every
answer's status, headers and body conform to the document."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.bridge.conftest import WRITE_KEY
from tests.support.schemathesis_run import assert_conforms

pytestmark = pytest.mark.integration


async def test_schemathesis_finds_no_server_error(bridge: str, tmp_path: Path) -> None:
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    await assert_conforms(f"{bridge}/openapi.json", f"Basic {basic}", tmp_path, 20)
