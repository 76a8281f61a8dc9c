"""Segment's and RudderStack's own Python SDKs, pointed at the bridge with ``host=``, reach
the events topic and a profile, and put people into a segment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from subprocess import Popen
from typing import Any

import orjson
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.bridge.conftest import WRITE_KEY
from tests.support.kafka_helpers import membership_events, read_messages, read_records
from tests.support.profiles import read_profile
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments.definition import segment_from_spec

pytestmark = pytest.mark.integration

SIGNED_UP_TRIAL = segment_from_spec(
    {
        "key": "sdk-trial-signups",
        "condition": {
            "and": [
                {"trait": "plan", "op": "=", "value": "trial"},
                {"event": "Signed Up", "types": ["track"]},
            ]
        },
    }
)


def use_sdk(client: Any, user: str) -> None:
    """identify, track, page and alias: each call is one POST /v1/batch (sync_mode)."""
    client.identify(user, {"plan": "trial", "email": f"{user}@example.com"})
    client.track(user, "Signed Up", {"source": "sdk"})
    client.page(user, name="Pricing", properties={"path": "/pricing"})
    client.alias(f"anon-{user}", user)


async def test_segment_and_rudderstack_sdks_deliver_through_the_bridge(
    bridge: str, bridge_settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_definitions(bridge_settings, [SIGNED_UP_TRIAL])
    errors: list[Exception] = []
    segment = SegmentClient(
        WRITE_KEY, host=bridge, sync_mode=True, gzip=True, max_retries=1,
        on_error=lambda error, _: errors.append(error),
    )  # fmt: skip
    rudder = RudderClient(
        WRITE_KEY, host=bridge, sync_mode=True, gzip=True, max_retries=1,
        on_error=lambda error, _: errors.append(error),
    )  # fmt: skip
    await asyncio.to_thread(use_sdk, segment, "segment-user")
    await asyncio.to_thread(use_sdk, rudder, "rudder-user")
    assert errors == []

    records = await read_records(bridge_settings, bridge_settings.topics.events, 8, timeout=30)
    for user in ("segment-user", "rudder-user"):
        mine = [r for r in records if orjson.loads(r.value).get("userId") == user]
        assert {r.key for r in mine} == {user.encode()}, "keyed by person"
        messages = [orjson.loads(r.value) for r in mine]
        assert sorted(m["type"] for m in messages) == ["alias", "identify", "page", "track"]
        alias = next(m for m in messages if m["type"] == "alias")
        assert alias["previousId"] == f"anon-{user}"

    entered = await membership_events(bridge_settings, 2, timeout=60)
    assert sorted((e["person"], e["type"]) for e in entered) == [
        ("rudder-user", "audience.entered"),
        ("segment-user", "audience.entered"),
    ]
    for user in ("segment-user", "rudder-user"):
        profile = await read_profile(bridge_settings, user)
        assert profile is not None
        assert profile.traits["email"] == f"{user}@example.com"


def readme_snippet() -> str:
    """The Python block after ``<!-- bridge-snippet -->`` in the README."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    after = readme.split("<!-- bridge-snippet -->", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_readme_python_snippet_works(bridge: str, bridge_settings: Settings) -> None:
    code = readme_snippet()
    assert 'host="http://127.0.0.1:8088"' in code and '"demo-write-key"' in code
    code = code.replace("http://127.0.0.1:8088", bridge).replace("demo-write-key", WRITE_KEY)
    await asyncio.to_thread(exec, code, {})
    messages = await read_messages(bridge_settings, 2)
    assert [(m["type"], m["userId"]) for m in messages] == [("identify", "zoe"), ("track", "zoe")]
