"""Running the ``traitflow`` command in tests: in-process for short commands."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from traitflow.cli.main import app
from traitflow.config import Settings


def global_args(settings: Settings) -> list[str]:
    """Flags that point a command at the test's broker and topics."""
    args = ["--topic-prefix", settings.topic_prefix, "--data-dir", str(settings.data_dir)]
    args += ["--web-port", str(settings.web_port)]
    if settings.embedded:
        return [*args, "--embedded-port", str(settings.embedded_port)]
    return [*args, "--bootstrap-servers", settings.bootstrap_servers]


def run_cli(settings: Settings, *args: str) -> Result:
    """Secrets go through the environment, as users are told to pass them."""
    token = settings.admin_token
    env = {"TRAITFLOW_ADMIN_TOKEN": token.get_secret_value()} if token else {}
    return CliRunner().invoke(app, [*global_args(settings), *args], catch_exceptions=True, env=env)
