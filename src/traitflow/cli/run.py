"""``traitflow broker`` and ``traitflow worker``: the long-running processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import faust
import typer
from rich.console import Console

from traitflow.admin.context import AdminContext
from traitflow.admin.views import install_admin
from traitflow.bridge.server import serve_bridge
from traitflow.broker.serve import prepare, running_embedded, serve_until_stopped, stop_signals
from traitflow.cli.options import setting_help
from traitflow.cli.topics import topic_warnings
from traitflow.config import Settings, read_secret
from traitflow.console.views import install_console
from traitflow.httpedge import plaintext_warning
from traitflow.logs import configure_logging, logging_config
from traitflow.membership.webhook import DeliveryReport, Target, WebhookDelivery
from traitflow.urls import redacted
from traitflow.worker.app import create_app
from traitflow.worker.health import recovered

console = Console(soft_wrap=True)
log = logging.getLogger("traitflow.worker")


def broker(ctx: typer.Context) -> None:
    """Run the embedded broker (in memory) with traitflow's topics until Ctrl-C."""
    settings: Settings = ctx.obj
    with stop_signals() as stop, running_embedded(settings) as embedded:
        console.print(f"embedded broker ready at [bold]{embedded.bootstrap}[/]; topics:")
        for name in vars(settings.topics).values():
            console.print(f"  {name}")
        serve_until_stopped(embedded, stop)
    console.print("embedded broker stopped")


def bridge(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help=setting_help("bridge_host"))] = None,
    port: Annotated[int | None, typer.Option(help=setting_help("bridge_port"))] = None,
) -> None:
    """Run the HTTP bridge (Segment Tracking API and webhook) until Ctrl-C."""
    settings: Settings = ctx.obj
    overrides = {"bridge_host": host, "bridge_port": port}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings)
    asyncio.run(_bridge_until_signal(settings))
    console.print("bridge stopped")


async def _bridge_until_signal(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console.print(
        f"bridge on [bold]http://{settings.bridge_host}:{settings.bridge_port}[/] -> "
        f"{settings.topics.events} at {settings.kafka_bootstrap}"
    )
    await serve_bridge(settings, stop)


def deliver(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="The webhook to post membership events to.")],
    destination: Annotated[
        str | None,
        typer.Option(help="Only events of segments naming this destination, in its format."),
    ] = None,
) -> None:
    """Post membership events to a webhook, signed and batched, retried until delivered.

    The secret comes from TRAITFLOW_DELIVER_SECRET or TRAITFLOW_DELIVER_SECRET_FILE.
    """
    settings: Settings = ctx.obj
    secret = read_secret(settings.deliver_secret, settings.deliver_secret_file, "delivery secret")
    target = Target(url, destination, secret)
    configure_logging(settings)
    report = asyncio.run(_deliver_until_signal(settings, target))
    console.print(
        f"stopped: {report.delivered} delivered, {report.dead_lettered} dead-lettered, "
        f"{report.skipped} for other destinations, {report.retries} retries"
    )


async def _deliver_until_signal(settings: Settings, target: Target) -> DeliveryReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    which = f"destination {target.destination!r}" if target.destination else "every event"
    signed = "signed" if target.secret else "unsigned (no TRAITFLOW_DELIVER_SECRET)"
    console.print(f"delivering {which} to [bold]{redacted(target.url)}[/], {signed}")
    return await WebhookDelivery(settings, target).run(stop)


def private_state(data_dir: Path) -> None:
    """Profiles are personal data: the data directory is the worker user's alone (0700),
    and so is every file made in it, RocksDB's included (umask 077: 0600)."""
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)


def worker(ctx: typer.Context) -> None:
    """Run a worker: consume events, keep profiles, publish membership events."""
    settings: Settings = ctx.obj
    private_state(settings.data_dir)
    configure_logging(settings)  # start-up warnings in the worker's log format (JSON too)
    warning = plaintext_warning(settings)
    if warning is not None:
        log.warning("%s", warning)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(prepare(settings))
    if not settings.embedded:  # a development broker is one node: nothing to say
        for line in loop.run_until_complete(topic_warnings(settings)):
            log.warning("%s", line)
    built = create_app(settings)
    context = AdminContext(settings, built.store, built.registry, built.counts, built.owned,
                           recovered(built.app), built.clock,
                           built.handler.suppressions)  # fmt: skip
    access = install_admin(built.app, context, built.handler.metrics)  # not in the app itself
    install_console(built.app, access)
    faust.Worker(
        built.app,
        loop=loop,
        loglevel=settings.log_level,
        logging_config=logging_config(settings),
        quiet=settings.log_format == "json",  # no banner: every line stays JSON
    ).execute_from_commandline()
