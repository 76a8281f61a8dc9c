"""``traitflow segments apply|list|show|delete``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.segments import load_segments
from traitflow.segments.topic import apply_segments, delete_segment, live_segments

app = typer.Typer(help="Publish and inspect segment definitions.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command()
def apply(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files.")],
) -> None:
    """Validate definitions and publish them; running workers pick them up at once."""
    settings: Settings = ctx.obj
    segments = [segment for path in files for segment in load_segments(path)]
    asyncio.run(apply_segments(settings, segments))
    for segment in segments:
        console.print(f"applied [bold]{segment.key}[/] (rev {segment.rev})")


@app.command("list")
def list_segments(ctx: typer.Context) -> None:
    """Show the definitions that workers hold now."""
    registry = asyncio.run(live_segments(ctx.obj))
    table = Table("key", "name", "rev", "reads")
    for segment in registry.all():
        table.add_row(segment.key, segment.name, segment.rev, ", ".join(segment.reads))
    console.print(table if len(registry) else "no segments are live")


@app.command()
def show(ctx: typer.Context, key: str) -> None:
    """Print one live definition as YAML."""
    segment = asyncio.run(live_segments(ctx.obj)).get(key)
    if segment is None:
        raise TraitflowError(f"no live segment {key!r}; see `traitflow segments list`")
    console.print(yaml.safe_dump(segment.spec, sort_keys=False), end="")


@app.command()
def delete(ctx: typer.Context, key: str) -> None:
    """Remove a definition; workers stop evaluating it."""
    asyncio.run(delete_segment(ctx.obj, key))
    console.print(f"deleted {key}")
