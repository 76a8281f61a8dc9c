"""schemathesis fuzzes the bridge from its own OpenAPI document: no server error, and every
answer's status, headers and body conform to the document."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

import pytest

from tests.bridge.conftest import WRITE_KEY

pytestmark = pytest.mark.integration

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


async def test_schemathesis_finds_no_server_error(bridge: str, tmp_path: Path) -> None:
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    run = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{bridge}/openapi.json",
        "--header",
        f"Authorization: Basic {basic}",
        "--checks",
        CHECKS,
        "--max-examples",
        "20",
        "--seed",
        "1",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=240)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-6000:]
    assert "passed" in report
