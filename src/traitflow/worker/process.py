"""A worker as a child process, for ``traitflow up`` and the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from traitflow.config import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``TRAITFLOW_*`` variables, for child processes."""
    return {
        f"TRAITFLOW_{name.upper()}": str(value) for name, value in settings.model_dump().items()
    }


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
