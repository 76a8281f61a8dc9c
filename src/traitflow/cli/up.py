"""``traitflow up``: embedded broker, a worker process, example data, live membership events."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Coroutine
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console

from traitflow.admin.client import admin_base_url
from traitflow.admin.token import admin_token, default_token_file
from traitflow.assets import asset_dir
from traitflow.bridge.server import running_bridge
from traitflow.broker.serve import prepare, running_embedded, stop_signals
from traitflow.catalog.topic import apply_definitions
from traitflow.cli.options import setting_help
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.ingest.demo import demo_message
from traitflow.ingest.send import send_file
from traitflow.readers.tail import describe, follow
from traitflow.segments import load_definitions
from traitflow.worker.process import worker_process

console = Console(soft_wrap=True)
UP_SESSION_TIMEOUT_S = 6.0
DEMO_WRITE_KEY = "demo-write-key"


def up(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option(help="Keep sending made-up traffic.")] = True,
    demo_interval: Annotated[float, typer.Option(help="Seconds between demo messages.")] = 1.5,
    bridge_port: Annotated[int | None, typer.Option(help=setting_help("bridge_port"))] = None,
) -> None:
    """Run broker, worker and bridge locally; show membership events live (Ctrl-C stops all)."""
    started = time.monotonic()
    settings = _up_settings(ctx.obj, bridge_port)
    broker = running_embedded(settings) if settings.embedded else nullcontext()
    with stop_signals() as stop, broker:
        asyncio.run(_load_examples(settings))
        log_path = settings.data_dir / "worker.log"
        with worker_process(settings, log_path) as worker:
            console.print(f"worker started; its log: {log_path}")
            live = _show_live(settings, started, demo_interval if demo else None)
            asyncio.run(_until_stopped(live, stop, worker, log_path))
    console.print("stopped: broker and worker are down")


def _up_settings(settings: Settings, bridge_port: int | None) -> Settings:
    """Fresh worker state (the embedded broker starts empty, so old changelog offsets would
    lie), a demo write key when none is configured, and the admin token kept where the CLI
    finds it with the same options."""
    data_dir = settings.data_dir / "up"
    if settings.embedded:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if settings.admin_token is None and settings.admin_token_file is None:
        admin_token(settings, create=True)  # where the CLI of a second terminal looks
        settings = settings.model_copy(update={"admin_token_file": default_token_file(settings)})
    update: dict[str, Any] = {
        "data_dir": data_dir,
        "session_timeout_s": min(settings.session_timeout_s, UP_SESSION_TIMEOUT_S),
        "write_keys": settings.write_keys or {DEMO_WRITE_KEY: "demo"},
    }
    if bridge_port is not None:
        update["bridge_port"] = bridge_port
    return settings.model_copy(update=update)


async def _load_examples(settings: Settings) -> None:
    await prepare(settings)
    examples = asset_dir("examples")
    definitions = load_definitions(examples / "segments.yaml")
    await apply_definitions(settings, definitions)
    keys = ", ".join(d.key for d in definitions)
    console.print(f"applied {len(definitions)} example definitions: {keys}")
    report = await send_file(examples / "events.jsonl", settings)
    console.print(f"sent {report.sent} example events; membership events follow")


async def _show_live(settings: Settings, started: float, demo_interval: float | None) -> None:
    """Serve the bridge, print membership events and, if asked, send demo traffic to it."""
    async with running_bridge(settings) as url:
        _print_bridge_hint(settings, url)
        _print_console_hint(settings)
        jobs = [_print_events(settings, started)]
        if demo_interval is not None:
            jobs.append(_send_demo(url, next(iter(settings.write_keys)), demo_interval))
        await asyncio.gather(*jobs)


def _print_bridge_hint(settings: Settings, url: str) -> None:
    key = DEMO_WRITE_KEY if DEMO_WRITE_KEY in settings.write_keys else "<your write key>"
    console.print(f"bridge (Segment HTTP API) on [bold]{url}[/]; demo traffic goes through it")
    console.print(
        f"  try: curl -u {key}: {url}/v1/identify -d "
        """'{"userId": "you", "traits": {"plan": "trial"}}'""",
        highlight=False,
    )


def _print_console_hint(settings: Settings) -> None:
    where = settings.admin_token_file or "TRAITFLOW_ADMIN_TOKEN"
    console.print(
        f"console on [bold]{admin_base_url(settings)}/console/[/]; sign in with the admin "
        f"token in {where}",
        highlight=False,
    )


async def _until_stopped(
    job: Coroutine[Any, Any, None],
    stop: threading.Event,
    worker: subprocess.Popen[bytes],
    log_path: Path,
) -> None:
    """Run ``job`` until Ctrl-C/SIGTERM; fail if the worker dies meanwhile."""
    task = asyncio.create_task(job)
    try:
        while not stop.is_set() and not task.done():
            if worker.poll() is not None:
                raise TraitflowError(
                    f"the worker exited with code {worker.returncode}; see {log_path}"
                )
            await asyncio.sleep(0.2)
        if task.done():
            task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _print_events(settings: Settings, started: float) -> None:
    first = True
    async for event in follow(settings, from_beginning=True):
        if first:
            console.print(
                f"[green]first membership event {time.monotonic() - started:.1f}s after start[/]"
            )
            first = False
        console.print(describe(event), highlight=False, soft_wrap=True)


async def _send_demo(url: str, write_key: str, interval: float) -> None:
    """Made-up traffic, posted to the bridge as an SDK would."""
    rng = random.Random()
    auth = aiohttp.BasicAuth(write_key, "")
    async with aiohttp.ClientSession(auth=auth) as session:
        while True:
            await asyncio.sleep(interval)
            message = demo_message(rng)
            async with session.post(f"{url}/v1/{message['type']}", json=message) as answer:
                if answer.status != 200:
                    console.print(f"[red]bridge answered {answer.status}: {await answer.text()}")
