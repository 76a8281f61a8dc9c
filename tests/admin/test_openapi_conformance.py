"""schemathesis fuzzes a worker from its own /openapi.json: no server error, and every
answer's status, content type and body conform to the document."""

from __future__ import annotations

from pathlib import Path
from subprocess import Popen

import pytest

from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.schemathesis_run import assert_conforms
from tests.support.web_helpers import wait_ready
from traitflow.admin.token import admin_token
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

pytestmark = pytest.mark.integration


async def test_schemathesis_finds_no_server_error(
    settings: Settings, worker: Popen[bytes], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{settings.web_port}"
    await wait_ready(base)
    # The document's examples (ada, trial-users) exist, so 200 answers are checked too.
    trial = {"key": "trial-users", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
    await apply_definitions(settings, [segment_from_spec(trial)])
    await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await membership_events(settings, 1)
    token = admin_token(settings, create=False)
    await assert_conforms(f"{base}/openapi.json", f"Bearer {token}", tmp_path, 15,
                          exclude=("/admin/membership/live",))  # fmt: skip
