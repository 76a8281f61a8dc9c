"""``traitflow send`` and ``traitflow tail``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from traitflow.admin.client import AdminClient
from traitflow.cli.people import person_view
from traitflow.config import Settings
from traitflow.ingest.send import send_file
from traitflow.readers.tail import describe, follow

console = Console(soft_wrap=True)


def send(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON lines, one Segment-spec message per line.")],
    raw: Annotated[
        bool, typer.Option(help="Send invalid lines too (they go to the dead-letter topic).")
    ] = False,
    bundle: Annotated[
        bool,
        typer.Option(help="Pack each partition's messages into few records (faster to process)."),
    ] = False,
) -> None:
    """Publish messages to the events topic, keyed by person."""
    report = asyncio.run(send_file(file, ctx.obj, check=not raw, bundled=bundle))
    for number, reason in report.rejected:
        console.print(f"[red]{file}:{number}: not sent: {reason}[/]")
    console.print(f"sent {report.sent} messages to {ctx.obj.topics.events}")
    if report.rejected:
        raise typer.Exit(1)


def tail(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="Print raw JSON events.")] = False,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest event.")] = False,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="Only this segment's events (repeatable).")
    ] = None,
) -> None:
    """Print membership events as they arrive (Ctrl-C to stop)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(ctx.obj, json, from_beginning, count, set(segment or ())))


async def _tail(
    settings: Settings, json: bool, from_beginning: bool, count: int | None, segments: set[str]
) -> None:
    seen = 0
    async for event in follow(settings, from_beginning=from_beginning):
        if segments and event.get("segment") not in segments:
            continue
        print(orjson.dumps(event).decode() if json else describe(event), flush=True)
        seen += 1
        if count is not None and seen >= count:
            return


def profile(
    ctx: typer.Context,
    person: str,
    json: Annotated[bool, typer.Option("--json", help="The raw profile document.")] = False,
) -> None:
    """Show a person: ids, traits, computed traits, segments (since when, which version) and
    the events segments count, asked of the worker that owns the person."""
    shown = asyncio.run(_profile(ctx.obj, person))
    if json:
        print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    else:
        console.print(person_view(shown), highlight=False)


async def _profile(settings: Settings, person: str) -> dict[str, Any]:
    async with AdminClient(settings) as admin:
        return await admin.profile(person)
