"""``traitflow topics check``: are the topics set up for production?"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.markup import escape

from traitflow.catalog.topic import live_registry
from traitflow.catalog.topic_check import check_topics
from traitflow.clock import clock_for
from traitflow.config import Settings
from traitflow.segments.definition import Definition

app = typer.Typer(help="Check traitflow's Kafka topics.", no_args_is_help=True)
console = Console(soft_wrap=True)


async def topic_warnings(settings: Settings) -> list[str]:
    """The findings for the live definitions (read from the segments topic)."""
    registry = await live_registry(settings)
    definitions: list[Definition] = [*registry.computed.values(), *registry.segments.values()]
    return await check_topics(settings, definitions, clock_for(settings.clock_file).now_ms())


@app.command()
def check(ctx: typer.Context) -> None:
    """Replication factor and min.insync.replicas (3 and 2 for production), compacted
    changelogs, and an events retention that holds the live definitions' windows. Exits 1
    when something is below production."""
    settings: Settings = ctx.obj
    found = asyncio.run(topic_warnings(settings))
    if settings.embedded:
        console.print("the embedded broker is one node, for development: replication is 1")
    for line in found:
        console.print(f"[yellow]warning:[/] {escape(line)}")
    if found:
        raise typer.Exit(1)
    console.print(f"{len(settings.topics.every)} topics checked: ready for production")
