"""A worker as a child process, for ``traitflow up`` and the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from pydantic import SecretStr

from traitflow.config import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``TRAITFLOW_*`` variables, for child processes (secrets included:
    the environment, unlike a command line, is not shown by ``ps``)."""
    return {
        f"TRAITFLOW_{name.upper()}": _env_value(value)
        for name, value in settings.model_dump(exclude_none=True).items()
    }


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """``traitflow worker`` in its own session, so a terminal's Ctrl-C reaches only its parent."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "traitflow", "worker"],
            env={**os.environ, **settings_env(settings)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (an orderly Faust shutdown), then SIGKILL after ``timeout``; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def worker_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(settings, log_path)
    try:
        yield process
    finally:
        stop_process(process)
