"""``traitflow broker`` and ``traitflow worker``: the long-running processes."""

from __future__ import annotations

import asyncio

import faust
import typer
from rich.console import Console

from traitflow.broker.serve import prepare, running_embedded, serve_until_stopped, stop_signals
from traitflow.config import Settings
from traitflow.worker.app import create_app

console = Console(soft_wrap=True)


def broker(ctx: typer.Context) -> None:
    """Run the embedded broker (in memory) with traitflow's topics until Ctrl-C."""
    settings: Settings = ctx.obj
    with stop_signals() as stop, running_embedded(settings) as embedded:
        console.print(f"embedded broker ready at [bold]{embedded.bootstrap}[/]; topics:")
        for name in vars(settings.topics).values():
            console.print(f"  {name}")
        serve_until_stopped(embedded, stop)
    console.print("embedded broker stopped")


def worker(ctx: typer.Context) -> None:
    """Run a worker: consume events, keep profiles, publish membership events."""
    settings: Settings = ctx.obj
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(prepare(settings))
    built = create_app(settings)
    faust.Worker(built.app, loop=loop, loglevel=settings.log_level).execute_from_commandline()
