"""``traitflow sync SOURCE``: the trait files a folder or bucket receives, imported once
each, publishing only rows whose values changed; ``--every 24h`` keeps doing it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from traitflow.cli.importer import types_option
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.importer.run import ImportReport
from traitflow.sync.metrics import SyncMetrics
from traitflow.sync.run import (
    ABSENT_POLICIES,
    FileOutcome,
    Observer,
    SyncOptions,
    imported_files,
    sync_round,
)
from traitflow.sync.sources import Source, SourceFile
from traitflow.timeutil import iso_from_ms

console = Console(soft_wrap=True)
UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def sync(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A CSV file or folder: a path, or s3://, gs://, az:// URL.")
    ],
    every: Annotated[
        str | None,
        typer.Option(help="Keep running, looking for new files this often (30m, 24h, 1d)."),
    ] = None,
    once: Annotated[bool, typer.Option(help="One round, then exit (the default).")] = False,
    pattern: Annotated[str, typer.Option(help="File names to take from a folder.")] = "*.csv*",
    id_column: Annotated[str, typer.Option(help="Column that holds the user id.")] = "external_id",
    type_: Annotated[
        list[str] | None, typer.Option("--type", help="COLUMN=TYPE override; repeatable.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Import id profiles record (default sync-SOURCE_NAME).")
    ] = None,
    absent: Annotated[
        str, typer.Option(help="Ids a new file no longer has: keep their traits, or unset them.")
    ] = "keep",
    max_absent: Annotated[
        float,
        typer.Option(help="With --absent unset: refuse to unset more than this share of ids."),
    ] = 0.5,
    dry_run: Annotated[bool, typer.Option(help="Validate and count; publish nothing.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (with --every).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port.")] = "127.0.0.1",
    metrics_file: Annotated[
        Path | None, typer.Option(help="Write the metrics here after each round (textfile).")
    ] = None,
    imported: Annotated[
        bool, typer.Option(help="List the files imported from SOURCE so far, and exit.")
    ] = False,
) -> None:
    """Import the files of SOURCE not imported yet (by name, size and checksum), in name
    order, publishing only the rows whose values changed since the last import."""
    settings: Settings = ctx.obj
    if every and once:
        raise TraitflowError("--every and --once: choose one")
    if absent not in ABSENT_POLICIES:
        raise TraitflowError(f"--absent {absent!r}: expected one of {', '.join(ABSENT_POLICIES)}")
    interval = parse_interval(every) if every else None
    if not 0 <= max_absent <= 1:
        raise TraitflowError(f"--max-absent {max_absent:g}: expected a share from 0 to 1")
    options = SyncOptions(
        pattern, id_column, name, types_option(type_ or []), absent, dry_run, max_absent
    )
    found = Source(source, pattern)
    if imported:
        _list_imported(imported_files(settings, found))
        return
    metrics = SyncMetrics(found.shown, [] if dry_run else imported_files(settings, found))
    if metrics_port is not None:
        metrics.serve(metrics_host, metrics_port)
    outcomes = asyncio.run(_rounds(settings, found, options, interval, metrics, metrics_file))
    failed = any(not outcome.done or _rejected(outcome) for outcome in outcomes)
    if failed and interval is None:  # for cron; a long-running sync reports in its metrics
        raise typer.Exit(1)


def parse_interval(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if match is None or float(match[1]) <= 0:
        raise TraitflowError(f"--every {text!r}: expected a duration such as 30m, 24h or 1d")
    return float(match[1]) * UNITS[match[2]]


async def _rounds(
    settings: Settings,
    source: Source,
    options: SyncOptions,
    interval: float | None,
    metrics: SyncMetrics,
    metrics_file: Path | None,
) -> list[FileOutcome]:
    """One round, or rounds every ``interval`` until SIGINT/SIGTERM: a stop lets the
    current window of rows be acknowledged and recorded, then ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    mode = f"every {interval:g}s" if interval else "once"
    console.print(f"sync {source.shown} ({options.pattern}, {mode}, absent ids: {options.absent})")
    all_outcomes: list[FileOutcome] = []
    progress = _Progress()
    while True:
        try:
            outcomes = await sync_round(
                settings, source, options, stop, _observer(metrics), progress
            )
        except TraitflowError as exc:
            if interval is None:
                raise
            console.print(f"[red]round failed:[/] {exc}; next try in {interval:g}s")
        else:
            all_outcomes += outcomes
            metrics.round_finished()
            if not outcomes:
                console.print("no new file")
        if metrics_file is not None:
            metrics.write(metrics_file)
        if interval is None or stop.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    if stop.is_set():
        console.print("stopped; an interrupted file resumes at the next start")
    return all_outcomes


def _observer(metrics: SyncMetrics) -> Observer:
    def observe(outcome: FileOutcome) -> None:
        metrics.observe(outcome)
        _summary(outcome)

    return observe


class _Progress:
    """A line per file at its first acknowledged window, then every ``EVERY_S`` seconds:
    progress a log can keep (a long-running sync has no terminal to redraw)."""

    EVERY_S = 10.0

    def __init__(self) -> None:
        self.shown: dict[str, float] = {}

    def __call__(self, file: SourceFile, report: ImportReport) -> None:
        now = time.monotonic()
        if now - self.shown.get(file.name, -self.EVERY_S) < self.EVERY_S:
            return
        self.shown[file.name] = now
        _progress_line(file, report)


def _progress_line(file: SourceFile, report: ImportReport) -> None:
    console.print(
        f"  {file.name}: {report.rows:,} rows read, {report.imported:,} published, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected",
        markup=False, highlight=False,
    )  # fmt: skip


def _summary(outcome: FileOutcome) -> None:
    name, report = outcome.file.name, outcome.report
    if outcome.error is not None or report is None:
        console.print(f"[red]{name}: failed[/]: {outcome.error}", highlight=False)
        return
    state = "imported" if report.complete else "stopped part-way"
    line = (
        f"{name}: {state}: {report.rows:,} rows, {report.imported:,} published, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected"
        + (f", {outcome.absent:,} absent ids unset" if outcome.absent else "")
        + f" in {report.seconds:.1f}s"
    )
    console.print(line, markup=False, highlight=False)
    for line_number, reason in report.examples:
        console.print(f"  line {line_number}: {reason}", markup=False, highlight=False)
    if report.errors_path is not None:
        console.print(f"  rejected rows, with line numbers and reasons: {report.errors_path}")


def _list_imported(files: list[dict[str, Any]]) -> None:
    if not files:
        console.print("no file imported from this source yet")
    for entry in sorted(files, key=lambda entry: entry["finished_ms"]):
        finished = iso_from_ms(entry["finished_ms"])[:19] + "Z"
        console.print(
            f"{entry['name']}: {entry['size']} bytes, finished {finished}: {entry['rows']:,} rows, "
            f"{entry['published']:,} published, {entry['unchanged']:,} unchanged, "
            f"{entry['rejected']:,} rejected, {entry['absent']:,} absent unset",
            markup=False, highlight=False,
        )  # fmt: skip


def _rejected(outcome: FileOutcome) -> bool:
    return outcome.report is not None and outcome.report.rejected > 0
