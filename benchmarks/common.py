"""Shared by the benchmark scripts: a broker for one run, filling a topic, timed Faust runs."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from traitflow.broker.clients import producer
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.serve import prepare
from traitflow.config import Settings
from traitflow.ingest.publisher import publish_messages
from traitflow.worker.process import settings_env, stop_process

RUNNER = Path(__file__).with_name("faust_runner.py")


def script_arguments(
    doc: str | None, *, partitions: bool = False, figures: bool = True
) -> argparse.ArgumentParser:
    """The parser each script starts from: its docstring as help, ``--partitions`` (4) if
    it takes one, and ``--json PATH`` for ``report.py`` unless ``figures`` is false."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if partitions:
        parser.add_argument("--partitions", type=int, default=4)
    if figures:
        parser.add_argument("--json", help="also write the figures to this file")
    return parser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def broker_for_run() -> Iterator[Callable[..., Settings]]:
    """Yield a factory of Settings with a fresh topic prefix, on KAFKA_BOOTSTRAP or embedded."""
    external = os.environ.get("KAFKA_BOOTSTRAP", "")
    embedded = None if external else EmbeddedBroker(free_port())
    if embedded:
        embedded.start()

    def settings_for(workdir: Path, partitions: int) -> Settings:
        common: dict[str, Any] = {
            "topic_prefix": f"bench-{uuid.uuid4().hex[:8]}",
            "partitions": partitions,
            "data_dir": workdir / "state",
            "web_port": free_port(),
            "session_timeout_s": 6.0,
            "log_level": "warning",
        }
        if embedded:
            made = Settings(embedded_port=embedded.port, **common)
        else:
            made = Settings(bootstrap_servers=external, **common)
        asyncio.run(prepare(made))
        return made

    try:
        yield settings_for
    finally:
        if embedded:
            embedded.stop()


async def fill(settings: Settings, messages: list[dict[str, Any]], bundled: bool = False) -> None:
    """One record per message keyed by person, or (``bundled``) records carrying many
    messages of one partition (``traitflow.ingest.bundles``)."""
    keyed = [(str(m["userId"]).encode(), orjson.dumps(m)) for m in messages]
    if bundled:
        await publish_messages(settings, settings.topics.events, keyed)
        return
    async with producer(settings) as client:
        pending = [await client.send(settings.topics.events, v, key=k) for k, v in keyed]
        for acknowledgement in pending:
            await acknowledgement


def spread(messages: list[dict[str, Any]], people: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    for message in messages:
        message["userId"] = f"user-{rng.randrange(people)}"
    return messages


@contextmanager
def faust_process(
    mode: str, settings: Settings, total: int, workdir: Path, name: str = ""
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A ``faust_runner.py MODE`` process and the file its result will be written to."""
    stem = f"{mode}-{settings.topic_prefix}{name}"
    result, log_path = workdir / f"{stem}.json", workdir / f"{stem}.log"
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), mode, str(total), str(result)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process, result
        finally:
            stop_process(process)


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 900) -> Any:
    """The JSON a runner writes to ``path``; exits if the runner dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{process.args} failed; see its log next to {path}")
        time.sleep(0.2)
    time.sleep(0.2)
    return orjson.loads(path.read_bytes())


def faust_run(mode: str, settings: Settings, total: int, workdir: Path) -> float:
    """Run ``faust_runner.py MODE``; return events/s from first event to the last."""
    with faust_process(mode, settings, total, workdir) as (process, result):
        figures = wait_for(result, process)
        return float(figures["events"] / figures["seconds"])


def memory_of(pid: int) -> dict[str, int]:
    """Resident set size now and at its peak, in bytes (Linux ``/proc``)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return {"rss": found["VmRSS"], "peak_rss": found["VmHWM"]}


def save_figures(path: str | None, figures: dict[str, Any]) -> None:
    """``--json PATH``: the script's figures for ``report.py``'s table."""
    if path:
        Path(path).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
