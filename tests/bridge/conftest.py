"""A bridge on a free port, in the test's event loop, in front of the test's broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from tests.conftest import free_port
from traitflow.bridge.server import running_bridge
from traitflow.config import Settings

WRITE_KEY = "test-write-key"
SOURCE_KEY = "ios-write-key"
WEBHOOK_SECRET = "webhook-shared-secret"


@pytest.fixture
def bridge_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "write_keys": {WRITE_KEY: "", SOURCE_KEY: "ios"},
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            "bridge_port": free_port(),
        }
    )


@pytest.fixture
async def bridge(bridge_settings: Settings) -> AsyncIterator[str]:
    async with running_bridge(bridge_settings) as url:
        yield url
