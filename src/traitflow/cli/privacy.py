"""``traitflow people delete|unsuppress``: the right to be forgotten, from the command line."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.console import Console

from traitflow.config import Settings
from traitflow.privacy.purge import purge_dead_letters
from traitflow.privacy.requests import delete_person, lift_suppression

app = typer.Typer(help="Delete people and manage suppressed ids.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command()
def delete(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="Any id of the person (userId, anonymousId).")],
    suppress: Annotated[
        bool,
        typer.Option("--suppress", help="Also drop every later message naming any of their ids."),
    ] = False,
    by: Annotated[str | None, typer.Option(help="Who asks, for the audit (default: you).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the audit record.")] = 60.0,
) -> None:
    """Delete a person found through any of their ids: they leave every segment (exited,
    cause deleted), then their profile, ids, schedule and dedup state are removed."""
    settings: Settings = ctx.obj
    requested_by = by or getpass.getuser()
    deleting = delete_person(settings, identifier, requested_by, suppress, wait)
    audit, request = asyncio.run(deleting)
    if audit is None:
        console.print(
            f"deletion requested (request {request}); no worker confirmed it within {wait:.0f}s:"
            " is a worker running? It is carried out when one is."
        )
        raise typer.Exit(1)
    if not audit["found"]:
        console.print(f"no person known by {identifier!r}: nothing to delete (request {request})")
    else:
        left = ", ".join(audit["segments_exited"]) or "none"
        ids = len(audit["id_hashes"])
        console.print(f"deleted the person known by {identifier!r} ({ids} ids)")
        console.print(f"segments left: {left}")
    if suppress:
        console.print("their ids are suppressed: `traitflow people unsuppress ID` lifts it")
    if audit["found"]:
        _purge(settings)


@app.command("purge-dead-letters")
def purge_dead_letters_command(ctx: typer.Context) -> None:
    """Remove from the dead-letter topic every record that names a person deleted since it
    came (`people delete` does it after each deletion; run it again if one was cut short)."""
    _purge(ctx.obj)


def _purge(settings: Settings) -> None:
    if settings.embedded:
        console.print("dead letters naming them stay on the embedded broker (it cannot delete "
                      "records); the admin API and console hide them")  # fmt: skip
        return
    purged = asyncio.run(purge_dead_letters(settings))
    console.print(f"dead letters naming deleted people removed: {purged.forgotten} "
                  f"({purged.kept} others re-appended to let them go)")  # fmt: skip


@app.command()
def unsuppress(
    ctx: typer.Context,
    identifier: Annotated[str, typer.Argument(help="An id suppressed by `people delete`.")],
) -> None:
    """Accept messages naming this id again (and every id deleted with it)."""
    lifted = asyncio.run(lift_suppression(ctx.obj, identifier))
    if not lifted:
        console.print(f"{identifier!r} is not suppressed: nothing to lift")
        raise typer.Exit(1)
    console.print(f"lifted the suppression of {lifted} ids (deleted together)")
