"""examples/consumer.py drops repeated and stale membership events."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from traitflow.broker.clients import publish
from traitflow.config import Settings

EXAMPLE = Path(__file__).parents[2] / "examples" / "consumer.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_consumer", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(person: str, segment: str, version: int) -> dict[str, Any]:
    kind = "audience.entered" if version % 2 else "audience.exited"
    return {"id": f"{person}/{segment}/{version}", "person": person, "segment": segment,
            "version": version, "type": kind}  # fmt: skip


def test_repeats_and_stale_events_are_dropped() -> None:
    stream = [
        event("ada", "trial", 1),
        event("ada", "trial", 1),  # repeated after a worker crash
        event("bob", "trial", 1),
        event("ada", "trial", 2),
        event("ada", "trial", 1),  # stale: v2 was already handled
        event("ada", "paid", 1),
    ]
    seen: dict[tuple[str, str], int] = {}
    acted = [e["id"] for e in example().fresh(stream, seen)]
    assert acted == ["ada/trial/1", "bob/trial/1", "ada/trial/2", "ada/paid/1"]
    assert seen[("ada", "trial")] == 2


def test_a_merge_replaces_the_id_instead_of_leaving(capsys: pytest.CaptureFixture[str]) -> None:
    merged = {**event("anon-1", "trial", 2), "type": "audience.merged",
              "merged_into": {"person": "ada"}}  # fmt: skip
    example().act(merged)
    assert capsys.readouterr().out == "anon-1 is now ada in trial (v2, anon-1/trial/2)\n"


@pytest.mark.integration
async def test_the_example_consumer_acts_once_per_transition_on_a_real_topic(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = [event("ada", "trial", 1), event("ada", "trial", 1), event("ada", "trial", 2)]
    await publish(settings, settings.topics.membership, [(b"ada", orjson.dumps(e)) for e in stream])
    consumer = example().consume(settings.kafka_bootstrap, settings.topics.membership, "ex")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(consumer, timeout=8)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["ada enters trial (v1, ada/trial/1)", "ada leaves trial (v2, ada/trial/2)"]
