"""`traitflow topics check` reads the cluster's own answer: replication, and an events
retention shorter than a live window (set with the admin API, as an operator would)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.cli.helpers import run_cli
from traitflow.broker.connection import kafka_options
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

pytestmark = pytest.mark.integration

WEEK_MS = 7 * 86_400_000
WITHIN = {"last": 30, "unit": "days"}
MONTHLY = {"key": "monthly-visitors",
           "condition": {"event": "Visit", "count": {"at_least": 2}, "within": WITHIN}}  # fmt: skip


async def test_check_names_replication_and_a_retention_shorter_than_a_window(
    settings: Settings,
) -> None:
    await apply_definitions(settings, [segment_from_spec(MONTHLY)])
    if not settings.embedded:  # the embedded broker has no AlterConfigs (nor configs)
        admin = AIOKafkaAdminClient(**kafka_options(settings))
        await admin.start()
        week = {"retention.ms": str(WEEK_MS)}
        try:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, settings.topics.events, week)]
            )
        finally:
            await admin.close()
    result = await asyncio.to_thread(run_cli, settings, "topics", "check")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert f"{settings.topics.events}: replication factor 1, below 3" in output
    if not settings.embedded:
        assert "retention.ms keeps 7 days, and a live window reaches back 30 days" in output
        # and at apply, exact though nothing was deleted yet: the topic's own retention.ms
        again = await apply_definitions(settings, [segment_from_spec({**MONTHLY, "key": "m2"})])
        assert any("retention.ms keeps 7 days" in line for line in again.gaps), again.gaps
