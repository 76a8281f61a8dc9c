"""``traitflow import FILE.csv``: traits from a CSV file, with progress and an error report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.importer.rows import RowError
from traitflow.importer.run import ImportOptions, ImportReport, import_csv
from traitflow.importer.values import TYPES
from traitflow.segments import segment_from_spec

console = Console(soft_wrap=True)


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV with a header row, UTF-8.", exists=True, dir_okay=False)
    ],
    id_column: Annotated[str, typer.Option(help="Column that holds the user id.")] = "external_id",
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help=f"COLUMN=TYPE override ({', '.join(TYPES)}); repeatable."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Import id recorded on profiles.")] = None,
    segment: Annotated[
        str | None, typer.Option(help="Also create a segment of these people.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Validate and report; publish nothing.")] = False,
    resume: Annotated[bool, typer.Option(help="Skip rows already acknowledged.")] = False,
    errors: Annotated[
        Path | None,
        typer.Option(
            help="Error report CSV (default FILE.errors.csv, or the next free name; a dry "
            "run writes none unless given). Never overwrites a file or follows a symlink."
        ),
    ] = None,
) -> None:
    """Publish one identify per valid row; rejected rows go to an error report CSV."""
    settings: Settings = ctx.obj
    options = ImportOptions(id_column, name, types_option(type_ or []), dry_run, resume, errors)
    report = _run(settings, file, options)
    _summary(report, dry_run)
    if segment and not dry_run:
        definition = segment_from_spec({"key": segment, "condition": {"import": report.import_id}})
        asyncio.run(apply_definitions(settings, [definition]))
        console.print(f"segment [bold]{segment}[/]: the people of import {report.import_id}")
    if report.rejected:
        raise typer.Exit(1)


def _run(settings: Settings, file: Path, options: ImportOptions) -> ImportReport:
    size = file.stat().st_size
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(file.name, total=size, status="")

        def show(report: ImportReport) -> None:
            rate = report.rows / report.seconds if report.seconds else 0
            status = (
                f"{report.rows:,} read, {report.imported:,} imported, {report.rejected:,} rejected"
            )
            bar.update(
                task,
                completed=min(report.bytes_read, size),
                status=status + (f", {rate:,.0f} rows/s" if rate else ""),
            )

        try:
            return asyncio.run(import_csv(settings, file, options, show))
        except RowError as exc:
            raise TraitflowError(f"{file}: {exc}") from None


def _summary(report: ImportReport, dry_run: bool) -> None:
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{report.rows:,} rows: {verb} {report.imported:,}, rejected {report.rejected:,}"
        + (f", skipped {report.skipped:,} already done" if report.skipped else "")
        + f" in {report.seconds:.1f}s ({report.rows / max(report.seconds, 1e-9):,.0f} rows/s), "
        f"peak memory {report.peak_memory_mb:.0f} MB; import id {report.import_id}"
    )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for line, reason in report.examples:
        console.print(f"  line {line}: {reason}", markup=False, highlight=False)
    if report.rejected > len(report.examples):
        console.print(f"  ... {report.rejected - len(report.examples):,} more rejected rows")
    if report.errors_path is not None:
        console.print(f"rejected rows, with line numbers and reasons: {report.errors_path}")
    elif report.rejected:
        console.print("(a dry run writes no error report; add --errors FILE for one)")


def types_option(pairs: list[str]) -> dict[str, str]:
    """``--type COLUMN=TYPE`` options as a dict, each checked."""
    found = {}
    for pair in pairs:
        column, _, kind = pair.partition("=")
        if kind not in TYPES:
            raise TraitflowError(
                f"--type {pair!r}: expected COLUMN=TYPE with TYPE one of {', '.join(TYPES)}"
            )
        found[column] = kind
    return found
