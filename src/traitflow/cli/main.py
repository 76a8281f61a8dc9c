"""``traitflow``: global options build the one ``Settings``; commands live in sibling modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from traitflow.cli import importer, run, segments, tools, up
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError

app = typer.Typer(
    name="traitflow",
    help="Real-time audience engine on Kafka: Segment-spec messages in, membership events out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(segments.app, name="segments")
for command in (
    run.broker,
    run.worker,
    run.bridge,
    run.deliver,
    up.up,
    tools.send,
    tools.tail,
    tools.profile,
):
    app.command()(command)
app.command("import")(importer.import_)

errors = Console(stderr=True, soft_wrap=True)


@app.callback()
def configure(
    ctx: typer.Context,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers; empty = embedded broker.")
    ] = None,
    embedded_port: Annotated[int | None, typer.Option(help="Port of the embedded broker.")] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="Prefix of every topic.")] = None,
    partitions: Annotated[int | None, typer.Option(help="Partitions of new topics.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where workers keep state.")] = None,
    web_port: Annotated[int | None, typer.Option(help="Worker web server port.")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text, or json: one JSON object per log line.")
    ] = None,
) -> None:
    """Options here override TRAITFLOW_* environment variables."""
    flags: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "embedded_port": embedded_port,
        "topic_prefix": topic_prefix,
        "partitions": partitions,
        "data_dir": data_dir,
        "web_port": web_port,
        "log_level": log_level,
        "log_format": log_format,
    }
    ctx.obj = Settings(**{name: value for name, value in flags.items() if value is not None})


def main() -> None:
    """Entry point: user-facing errors print one line and exit 2, never a traceback."""
    try:
        app()
    except TraitflowError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None
