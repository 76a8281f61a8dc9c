"""Shared fixtures. Integration tests get a real broker, chosen in this order:
``KAFKA_BOOTSTRAP`` when set, a testcontainers Kafka when a Docker engine answers, else the
embedded Tansu broker. Each test gets its own topic prefix (and so its own consumer group).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from subprocess import Popen

import pytest

from tests.support.apache_kafka import KafkaCluster, missing_tools
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.serve import prepare
from traitflow.config import Settings
from traitflow.worker.process import start_worker, stop_process

TEST_NOW_MS = 1_795_435_200_000  # 2026-11-23T12:00:00Z: the workers' clock in integration tests


def set_clock(settings: Settings, now_ms: int) -> None:
    """Move the integration workers' clock (their ``clock_file``)."""
    assert settings.clock_file is not None
    settings.clock_file.write_text(str(now_ms))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


class BrokerUnderTest:
    """How settings reach the broker: an external bootstrap, or the embedded one's port."""

    def __init__(
        self, bootstrap: str, embedded_port: int | None, kind: str, replicas: int = 1
    ) -> None:
        self.bootstrap = bootstrap
        self.embedded_port = embedded_port
        self.kind = kind
        self.replicas = replicas

    def settings(self, tmp_path: Path, **overrides: object) -> Settings:
        clock = tmp_path / "clock"
        clock.write_text(str(TEST_NOW_MS))
        values: dict[str, object] = {
            "clock_file": clock,
            "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
            "partitions": 2,
            "data_dir": tmp_path / "state",
            "web_port": free_port(),
            "session_timeout_s": 6.0,
            "tick_s": 0.5,
            # Fixed-date test messages must stay valid whatever the machine's clock says.
            "future_tolerance_s": 365 * 86_400.0,
        }
        if self.embedded_port is None:
            values["bootstrap_servers"] = self.bootstrap
            values["replication_factor"] = self.replicas
        else:
            values["embedded_port"] = self.embedded_port
        return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerUnderTest]:
    with ExitStack() as stack:
        if os.environ.get("KAFKA_BOOTSTRAP"):
            replicas = int(os.environ.get("TRAITFLOW_TEST_REPLICAS", "1"))
            yield BrokerUnderTest(os.environ["KAFKA_BOOTSTRAP"], None, "external", replicas)
        elif _docker_answers():
            from testcontainers.kafka import KafkaContainer

            kafka = stack.enter_context(KafkaContainer())
            yield BrokerUnderTest(kafka.get_bootstrap_server(), None, "testcontainers")
        else:
            port = free_port()
            embedded = stack.enter_context(EmbeddedBroker(port))
            yield BrokerUnderTest(embedded.bootstrap, port, "embedded")


def lacking(problem: str | None) -> None:
    """A tool the machine lacks (``problem`` says how to get it, None when nothing lacks):
    a skip with that line, except under ``CI=true``, where it is a failure."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {problem}")
    pytest.skip(problem)


def need_apache_kafka() -> None:
    """Java and Maven, for the tests that start Apache Kafka themselves."""
    lacking(missing_tools())


@pytest.fixture
def kafka_cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    """Three Apache Kafka nodes of the test's own (replication factor 3, min.insync 2),
    for the tests that stop, kill and restart brokers."""
    need_apache_kafka()
    with KafkaCluster(3, home=tmp_path / "kafka") as cluster:
        yield cluster


async def cluster_settings(cluster: KafkaCluster, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test's own cluster, with its topics created (replicated 3 ways)."""
    configured = BrokerUnderTest(cluster.bootstrap, None, "apache-kafka", 3).settings(
        tmp_path, **overrides
    )
    await prepare(configured)
    return configured


@pytest.fixture
def settings(broker: BrokerUnderTest, tmp_path: Path) -> Settings:
    """Settings for one test, with its topics already created."""
    configured = broker.settings(tmp_path)
    asyncio.run(prepare(configured))
    return configured


@pytest.fixture
def worker_log(tmp_path: Path) -> Path:
    return tmp_path / "worker.log"


@pytest.fixture
def worker(settings: Settings, worker_log: Path) -> Iterator[Popen[bytes]]:
    """A ``traitflow worker`` process for the test's settings; it must stop cleanly."""
    process = start_worker(settings, worker_log)
    yield process
    assert stop_process(process) == 0, worker_log.read_text()[-3000:]
