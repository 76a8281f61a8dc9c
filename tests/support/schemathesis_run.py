"""schemathesis fuzzing a running server from its own OpenAPI document, for conformance
tests: no server error, and status, content type, headers and body as documented."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


async def assert_conforms(
    document_url: str,
    authorization: str,
    workdir: Path,
    max_examples: int,
    exclude: tuple[str, ...] = (),
) -> None:
    """``exclude``: paths not fuzzed (an endless stream cannot be read to its end)."""
    run = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        document_url,
        "--header",
        f"Authorization: {authorization}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(max_examples),
        "--seed",
        "1",
        *(option for path in exclude for option in ("--exclude-path", path)),
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=240)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-6000:]
    assert "passed" in report
