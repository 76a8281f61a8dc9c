"""A worker's /metrics, /healthz and /readyz, moving with real traffic."""

from __future__ import annotations

from pathlib import Path
from subprocess import Popen

import pytest

from tests.conftest import TEST_NOW_MS, free_port
from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import get, wait_for_line, wait_ready
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments.definition import segment_from_spec
from traitflow.timeutil import iso_from_ms
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration


async def test_metrics_move_and_probes_answer(
    settings: Settings, worker: Popen[bytes], worker_log: Path
) -> None:
    base = f"http://127.0.0.1:{settings.web_port}"
    await wait_ready(base)
    if not settings.embedded and settings.replication_factor < 3:  # named at start
        found = [line for line in worker_log.read_text().splitlines()
                 if f"{settings.topics.events}: replication factor" in line]  # fmt: skip
        assert found and "WARNING" in found[0], found
    assert (await get(f"{base}/healthz"))[0] == 200

    condition = {"trait": "plan", "op": "=", "value": "trial"}
    await apply_definitions(settings, [segment_from_spec({"key": "trial", "condition": condition})])
    stamp = iso_from_ms(TEST_NOW_MS - 60_000)
    await send_messages(settings, identify("ada", stamp, "m1", plan="trial"), b"{not json")
    await membership_events(settings, 1)

    text = await wait_for_line(f"{base}/metrics", 'traitflow_messages_total{type="identify"} 1.0')
    for line in (
        'traitflow_membership_transitions_total{direction="entered",segment="trial"} 1.0',
        'traitflow_dead_letters_total{reason="not_json"} 1.0',
        "traitflow_evaluation_seconds_count 1.0",
        "traitflow_end_to_end_seconds_count 1.0",
        "traitflow_faust_messages_received",  # Faust's own sensors
        "traitflow_rocksdb_size_bytes",
        'traitflow_timer_backlog{partition="0"} 0.0',
    ):
        assert line in text, text
    partitions = [str(p) for p in range(settings.partitions)]

    async def profiles() -> float:  # ada's write reaches RocksDB once its batch settled
        text = (await get(f"{base}/metrics"))[1]
        return sum(sample(text, "traitflow_profiles", p) for p in partitions)

    assert await eventually(profiles, lambda n: n == 1) == 1  # RocksDB's estimate: exact here
    # every record read, and the lag of each partition reported:
    await wait_for_line(f"{base}/metrics", 'traitflow_consumer_lag{partition="1"} 0.0')
    text = await wait_for_line(f"{base}/metrics", 'traitflow_consumer_lag{partition="0"} 0.0')


def sample(text: str, name: str, partition: str) -> float:
    prefix = f'{name}{{partition="{partition}"}} '
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line[len(prefix) :])


async def test_each_worker_shows_how_far_its_standby_copies_are_behind(
    settings: Settings, tmp_path: Path
) -> None:
    """Two workers, one standby each (the default): a worker's /metrics names the other's
    profiles changelog partitions it keeps warm, and their lag falls to 0 once it has
    applied the other's writes (what a takeover would otherwise read first)."""
    configs = [settings.model_copy(update={"data_dir": tmp_path / name, "web_port": free_port()})
               for name in ("a", "b")]  # fmt: skip
    workers = [start_worker(config, tmp_path / f"{n}.log") for n, config in enumerate(configs)]
    try:
        bases = [f"http://127.0.0.1:{config.web_port}" for config in configs]
        for base in bases:
            await wait_ready(base)
        stamp = iso_from_ms(TEST_NOW_MS - 60_000)
        await send_messages(settings, *(identify(f"p{n}", stamp, f"m{n}") for n in range(40)))
        prefix = f'traitflow_standby_lag{{changelog="{settings.app_id}-profiles-changelog"'

        async def standby_lags() -> list[float]:
            found = []
            for base in bases:
                text = (await get(f"{base}/metrics"))[1]
                found += [float(line.split()[-1]) for line in text.splitlines()
                          if line.startswith(prefix)]  # fmt: skip
            return found

        # every partition warm somewhere, and caught up
        lags = await eventually(standby_lags, lambda found: len(found) == settings.partitions
                                and not any(found), timeout=90)  # fmt: skip
        assert len(lags) == settings.partitions and not any(lags), lags
    finally:
        for process in workers:
            stop_process(process)
