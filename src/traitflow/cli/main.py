"""``traitflow``: global options build the one ``Settings``; commands live in sibling modules.

Global options may come before or after the command (``traitflow worker --web-port 6067``):
``main`` moves them in front, where Typer reads them.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from traitflow.cli import importer, privacy, run, segments, sync, tools, topics, up
from traitflow.cli.options import setting_help
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError


def _no_type_label_on_flags() -> None:
    """Typer 0.29 labels every flag ``<bool>`` in help, as if it took a value."""
    labelled = typer.core.TyperOption.display_type_rich

    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else labelled(self, ctx)

    typer.core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_type_label_on_flags()


def _show_version(wanted: bool) -> None:
    if wanted:
        print(f"traitflow {installed_version('traitflow')}")
        raise typer.Exit()


app = typer.Typer(
    name="traitflow",
    help="Real-time audience engine on Kafka: Segment-spec messages in, membership events out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(segments.app, name="segments")
app.add_typer(privacy.app, name="people")
app.add_typer(topics.app, name="topics")
for command in (
    run.broker,
    run.worker,
    run.bridge,
    run.deliver,
    up.up,
    tools.send,
    tools.tail,
    tools.profile,
    sync.sync,
):
    app.command()(command)
app.command("import")(importer.import_)

errors = Console(stderr=True, soft_wrap=True)


@app.callback()
def configure(
    ctx: typer.Context,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help=setting_help("bootstrap_servers"))
    ] = None,
    embedded_port: Annotated[int | None, typer.Option(help=setting_help("embedded_port"))] = None,
    topic_prefix: Annotated[str | None, typer.Option(help=setting_help("topic_prefix"))] = None,
    partitions: Annotated[int | None, typer.Option(help=setting_help("partitions"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help=setting_help("data_dir"))] = None,
    web_port: Annotated[int | None, typer.Option(help=setting_help("web_port"))] = None,
    log_level: Annotated[str | None, typer.Option(help=setting_help("log_level"))] = None,
    log_format: Annotated[str | None, typer.Option(help=setting_help("log_format"))] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options here override TRAITFLOW_* environment variables; they may also follow the
    command (`traitflow worker --web-port 6067`). Every other setting is a variable only:
    see the README's Configuration table."""
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


def globals_first(argv: list[str]) -> list[str]:
    """``argv`` with the global options found after the command moved before it."""
    group = typer.main.get_command(app)
    takes_value = {
        name: not getattr(param, "is_flag", False) for param in group.params for name in param.opts
    }
    before, after, moved = [], [], []
    rest = iter(argv)
    for arg in rest:  # up to the command: every option here is a global one
        before.append(arg)
        if not arg.startswith("-"):
            break
        if takes_value.get(arg) and "=" not in arg:
            before.append(next(rest, ""))
    for arg in rest:
        name = arg.split("=", 1)[0]
        if arg == "--":
            after.append(arg)
            after.extend(rest)
        elif name in takes_value and name not in ("--help", "--version"):
            moved.append(arg)
            if takes_value[name] and "=" not in arg:
                moved.append(next(rest, ""))
        else:
            after.append(arg)
    return [*before[:-1], *moved, *before[-1:], *after] if before else argv


def main() -> None:
    """Entry point: user-facing errors print one line and exit 2, never a traceback."""
    try:
        app(args=globals_first(sys.argv[1:]))
    except TraitflowError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None
    except ValidationError as exc:  # a TRAITFLOW_* variable or option of the wrong form
        for line in setting_errors(exc):
            errors.print(f"[bold red]error:[/] {escape(line)}", highlight=False)
        raise SystemExit(2) from None


def setting_errors(exc: ValidationError) -> list[str]:
    """One line per invalid setting: its variable, what it must be, what it was."""
    lines = []
    for error in exc.errors():
        name, *inner = (str(part) for part in error["loc"])
        where = f"TRAITFLOW_{name.upper()}" + "".join(f"[{part}]" for part in inner)
        lines.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    return lines
