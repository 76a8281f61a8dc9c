"""``traitflow segments apply|list|show|explain|members|status|delete``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from rich.console import Console
from rich.table import Table

from traitflow.admin.client import AdminClient
from traitflow.admin.documents import ExplanationView
from traitflow.catalog.history import history_of
from traitflow.catalog.topic import (
    apply_definitions,
    backfill_status,
    delete_segment,
    live_registry,
    wait_for_replay,
)
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.readers.members import members_by_partition
from traitflow.segments import Segment, load_definitions
from traitflow.timeutil import iso_from_ms

app = typer.Typer(help="Publish and inspect segment definitions.", no_args_is_help=True)
console = Console(soft_wrap=True)
notes = Console(soft_wrap=True, stderr=True)  # counts, so that stdout is only the members


@app.command()
def apply(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files.")],
    wait: Annotated[
        bool, typer.Option(help="Wait until the replay of history (if any) is complete.")
    ] = False,
) -> None:
    """Validate segments and computed traits, then publish them; workers use them at once.
    New event conditions and computed traits count from the events topic's history."""
    settings: Settings = ctx.obj
    definitions = [definition for path in files for definition in load_definitions(path)]
    applied = asyncio.run(apply_definitions(settings, definitions))
    for definition in definitions:
        kind = "segment" if isinstance(definition, Segment) else "computed trait"
        console.print(f"applied {kind} [bold]{definition.key}[/] (rev {definition.rev})")
    console.print(
        f"backfill of stored profiles requested (v{applied.version}): `traitflow segments status`"
    )
    if applied.replay is not None:
        console.print(
            f"replay of history requested ({len(applied.replay.features)} new event "
            f"features, from {iso_from_ms(applied.replay.from_ms)}): the segments reading "
            "them decide once it completes"
        )
    for gap in applied.gaps:
        notes.print(f"[yellow]warning:[/] {gap}")
    if wait and applied.replay is not None:
        with console.status("replaying history"):
            asyncio.run(wait_for_replay(settings, applied.replay.id))
        console.print("replay of history complete")


@app.command("list")
def list_segments(ctx: typer.Context) -> None:
    """Show the definitions that workers hold now, with member counts from the workers."""
    registry = asyncio.run(live_registry(ctx.obj))
    counts = asyncio.run(_member_counts(ctx.obj))
    members = {line["key"]: str(line["members"]) for line in counts.get("segments", [])}
    table = Table("key", "name", "rev", "members", "reads")
    for segment in registry.all():
        count = members.get(segment.key, "?")
        table.add_row(segment.key, segment.name, segment.rev, count, ", ".join(segment.reads))
    console.print(table if len(registry) else "no segments are live")
    missing = counts.get("partitions", {}).get("missing")
    if missing:
        notes.print(f"counts leave out partitions {missing}: no worker answered for them")


async def _member_counts(settings: Settings) -> dict[str, Any]:
    try:
        async with AdminClient(settings) as admin:
            return dict(await admin.segments())
    except TraitflowError as exc:  # no worker, no token: the definitions still show
        notes.print(f"no member counts: {exc}", style="dim")
        return {}


@app.command()
def show(ctx: typer.Context, key: str) -> None:
    """Print one live definition as YAML."""
    segment = asyncio.run(live_registry(ctx.obj)).get(key)
    if segment is None:
        raise TraitflowError(f"no live segment {key!r}; see `traitflow segments list`")
    console.print(yaml.safe_dump(segment.spec, sort_keys=False), end="")


@app.command()
def delete(ctx: typer.Context, key: str) -> None:
    """Remove a definition; workers stop evaluating it."""
    asyncio.run(delete_segment(ctx.obj, key))
    console.print(f"deleted {key}")


@app.command()
def history(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A segment key, or computed/KEY.")],
    json: Annotated[bool, typer.Option("--json", help="Every change with its content.")] = False,
) -> None:
    """Every revision of a definition, applied or deleted: when, by whom, which version."""
    changes = asyncio.run(history_of(ctx.obj, key))
    if json:
        for change in changes:
            print(orjson.dumps(change).decode())
        return
    if not changes:
        console.print(f"no history for {key!r}: see `traitflow segments list`")
        raise typer.Exit(1)
    table = Table("at", "action", "revision", "version", "by")
    for change in changes:
        revision = change["revision"] or ""
        table.add_row(change["at"], change["action"], revision, f"v{change['version']}",
                      change["by"])  # fmt: skip
    console.print(table)


@app.command("explain")
def explain_membership(ctx: typer.Context, segment: str, person: str) -> None:
    """Say whether PERSON is in SEGMENT and which conditions decided, with the values compared."""
    found = asyncio.run(_explanation(ctx.obj, person, segment))
    recorded = found["member"]
    console.print(f"{person} is {'' if recorded else 'not '}a member of {segment}", highlight=False)
    for line in found["lines"]:
        console.print(line, highlight=False, markup=False)


async def _explanation(settings: Settings, person: str, segment: str) -> ExplanationView:
    async with AdminClient(settings) as admin:
        return await admin.explain(person, segment)


@app.command()
def members(
    ctx: typer.Context,
    key: str,
    count_only: Annotated[bool, typer.Option("--count", help="Only the counts.")] = False,
) -> None:
    """Current members of a segment, partition by partition, read from the profiles."""
    asyncio.run(_print_members(ctx.obj, key, count_only))


async def _print_members(settings: Settings, key: str, count_only: bool) -> None:
    if (await live_registry(settings)).get(key) is None:
        raise TraitflowError(f"no live segment {key!r}; see `traitflow segments list`")
    total = profiles = 0
    async for found in members_by_partition(settings, key):
        total += len(found.members)
        profiles += found.profiles
        if not count_only:
            for person in found.members:
                print(person, flush=True)
        notes.print(
            f"partition {found.partition}: {len(found.members)} members of "
            f"{found.profiles} profiles",
            style="dim",
        )
    notes.print(f"{key}: {total} members of {profiles} profiles")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show backfill progress: per events partition, the definitions version and profiles done."""
    settings: Settings = ctx.obj
    registry = asyncio.run(live_registry(settings))
    progress = asyncio.run(backfill_status(settings))
    console.print(
        f"{len(registry)} live segments, {len(registry.computed)} computed traits; "
        f"definitions version v{registry.version}"
    )
    backfills = [line for line in progress if line.get("kind", "backfill") == "backfill"]
    table = Table("partition", "version", "profiles evaluated", "state")
    for line in backfills:
        current = line["version"] >= registry.version
        state = "done" if line["finished"] and current else "running" if current else "stale"
        table.add_row(str(line["partition"]), f"v{line['version']}", str(line["profiles"]), state)
    console.print(table if backfills else "no backfill has run yet")
    replays = [line for line in progress if line.get("kind") == "replay"]
    if replays:
        console.print(replay_table(replays))


def replay_table(replays: list[dict[str, Any]]) -> Table:
    """Per partition: how much of history is read, and when it should be done."""
    table = Table("partition", "replay", "read", "progress", "eta", "history from")
    for line in replays:
        read, total = int(line["read"]), max(1, int(line["total"]))
        table.add_row(
            str(line["partition"]),
            str(line["id"]),
            f"{read}/{line['total']}",
            _replay_state(line, read, total),
            "-" if line["finished"] else replay_eta(line),
            _history_from(line),
        )
    return table


def _replay_state(line: dict[str, Any], read: int, total: int) -> str:
    if line.get("complete"):
        return "complete"
    if line["finished"]:
        return "read; waiting for other partitions"
    return f"{100 * read // total}%"


def replay_eta(line: dict[str, Any]) -> str:
    """Seconds left at the rate so far (records read per second since it started)."""
    elapsed_s = (int(line["updated_ms"]) - int(line["started_ms"])) / 1000
    read, left = int(line["read"]), int(line["total"]) - int(line["read"])
    if read <= 0 or elapsed_s <= 0:
        return "?"
    return f"{left / (read / elapsed_s):.0f}s"


def _history_from(line: dict[str, Any]) -> str:
    retained = line.get("retained_from_ms")
    start = iso_from_ms(int(line["from_ms"]))
    if retained is None:
        return start
    return f"{iso_from_ms(int(retained))} [yellow](window starts {start}: incomplete)[/]"
