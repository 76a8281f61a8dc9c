"""Running the embedded broker in the foreground until a signal arrives."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.topics import ensure_topics, wait_for_broker
from traitflow.config import Settings
from traitflow.exceptions import BrokerError, ConfigError


async def prepare(settings: Settings) -> list[str]:
    """Wait for the configured broker, then create missing topics; return those created."""
    await wait_for_broker(settings)
    return await ensure_topics(settings)


@contextmanager
def running_embedded(settings: Settings) -> Iterator[EmbeddedBroker]:
    """Start the embedded broker with its topics; stop it on exit."""
    if not settings.embedded:
        raise ConfigError("bootstrap servers are set: the embedded broker is not used")
    _refuse_busy_port(settings.embedded_port)
    broker = EmbeddedBroker(settings.embedded_port)
    broker.start()
    try:
        asyncio.run(prepare(settings))
        yield broker
    finally:
        broker.stop()


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM, with the previous handlers restored after."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_until_stopped(
    broker: EmbeddedBroker, stop: threading.Event, tick: Callable[[], None] = lambda: None
) -> None:
    """Block until ``stop`` is set; fail if the broker process dies meanwhile."""
    while not stop.wait(0.5):
        code = broker.exited()
        if code is not None:
            raise BrokerError(f"the embedded broker exited unexpectedly with code {code}")
        tick()


def _refuse_busy_port(port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise BrokerError(
                f"port {port} is already in use (another broker?): stop it, or choose another "
                "port with --embedded-port / TRAITFLOW_EMBEDDED_PORT"
            )
